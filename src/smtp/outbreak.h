/* smtp/outbreak - the outbreak detector at work in the daemon: it feeds
 * policy/detector with what the server sees (messages at the end of
 * DATA, logins, remote delivery outcomes), and carries out the ladder
 * when a sender climbs it:
 *
 *   log      a line event=detector_suspect
 *   alert    an incident in the store (store/incidents.h), a line
 *            event=incident, a mail to alerts.mail_to
 *   hold     the sender's new messages are answered 250 and stored held
 *   contain  the account is suspended (or only the app password it used
 *            is revoked), its live sessions end, the IPs it used are
 *            banned, its queued messages of the last hour go to
 *            quarantine.  An unauthenticated LAN client (ip:ADDR) is held
 *            and alerted on, never banned: it is one of ours.
 *
 * Room: smtp (it reaches the queue, the accounts and the gate).  Runs on
 * the event loop; every store write goes through the committer or a
 * worker thread.  docs/detector.md tells the administrator's side. */
#ifndef FLOODGATE_SMTP_OUTBREAK_H
#define FLOODGATE_SMTP_OUTBREAK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct smtp_server;
struct outbreak;
struct alert_hooks;

/* How the outbreak module acts on live clients: set by whoever holds the
 * sessions and the bans (the policy engine). */
struct outbreak_ops {
    void *ctx;
    /* end_sessions - end the live sessions of USER (or, USER NULL, of IP) */
    unsigned (*end_sessions)(void *ctx, const char *user, const char *ip, const char *reason);
    /* ban - ban IP for SECONDS with REASON (in memory and in the store) */
    void (*ban)(void *ctx, const char *ip, unsigned seconds, const char *reason);
};

struct outbreak *outbreak_new(struct smtp_server *srv);
/* outbreak_free - save the detector's state through the committer first
 * (call before the committer stops). */
void outbreak_save_now(struct outbreak *o);
void outbreak_free(struct outbreak *o);
void outbreak_set_ops(struct outbreak *o, const struct outbreak_ops *ops);
/* outbreak_plug - O observes SRV's policy engine and acts on live
 * clients through it (smtp/outbreak_hooks.c); -1 when the engine has no
 * room for another observer. */
int outbreak_plug(struct outbreak *o, struct smtp_server *srv);
/* outbreak_reload - the config changed (SIGHUP). */
void outbreak_reload(struct outbreak *o);

/* outbreak_reload_bulk - read the bulk senders again (floodctl user
 * limits --bulk), on a worker. */
void outbreak_reload_bulk(struct outbreak *o);

/* One message at the end of DATA, before it is stored. */
struct outbreak_message {
    const char *subject; /* the sender key: "user@domain" or "ip:ADDR" */
    unsigned long session;
    const char *client_ip;
    const char *app_password;
    const char *header_from;
    const char *display_name;
    const char *subject_header;
    const char *body; /* the head of the body, for its fingerprint (may be NULL) */
    size_t body_len;
    const char *const *rcpts; /* as given in RCPT */
    const bool *rcpt_local;
    size_t n_rcpts;
};

/* outbreak_end_of_data - count M; true when it must be stored held. */
bool outbreak_end_of_data(struct outbreak *o, const struct outbreak_message *m);
/* outbreak_accepted - M's message QID of SUBJECT was stored (HELD or not). */
void outbreak_accepted(struct outbreak *o, const char *subject, const char *qid, bool held);
/* outbreak_auth - a login of USER from IP with the app password LABEL on
 * SMTP session SESSION. */
void outbreak_auth(struct outbreak *o, const char *user, const char *ip, const char *label,
                   unsigned long session, bool ok);
/* outbreak_session_end - SESSION, logged in as USER, ended. */
void outbreak_session_end(struct outbreak *o, const char *user, unsigned long session);
/* outbreak_bounce - a bounce came in for the local account ADDRESS. */
void outbreak_bounce(struct outbreak *o, const char *address);
/* outbreak_delivery - a remote server answered CODE (TEXT: the reply, with
 * its enhanced status code) to a recipient of SUBJECT's message. */
void outbreak_delivery(struct outbreak *o, const char *subject, int code, const char *text);
/* outbreak_outcome - the scheduler's outcome hook (ARG the outbreak):
 * outbreak_delivery for AUTH_USER's message. */
void outbreak_outcome(void *arg, const char *auth_user, int code, const char *text, bool delivered);
/* outbreak_score - the detector's score of SUBJECT now ("user@domain",
 * lowercased, or "ip:ADDR"), or -1 when it does not follow SUBJECT. */
int outbreak_score(struct outbreak *o, const char *subject);
/* outbreak_hooks - the alert hooks (webhook, command) the incidents use,
 * for other alerts of the daemon (control/reputation_watch.c); they live
 * as long as O. */
struct alert_hooks *outbreak_hooks(struct outbreak *o);
/* outbreak_holds - is SUBJECT held now (its messages are stored held)? */
bool outbreak_holds(struct outbreak *o, const char *subject);
/* outbreak_closed - floodctl released or dismissed incident ID of
 * SUBJECT (STATE "released" or "dismissed"). */
void outbreak_closed(struct outbreak *o, long long id, const char *subject, const char *state);

#endif
