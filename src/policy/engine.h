/* policy/engine - the decision engine: every decision about a client
 * (may it connect, log in, send as this address, to this recipient, may
 * this message go out or be held) is asked here, and answered with one
 * type, struct policy_decision.  The engine keeps the live state those
 * decisions need (bans, connections per IP, hourly counters), the registry
 * of live sessions, and the hooks another part (the detector) plugs into.
 *
 * Room: policy.  It includes nothing of smtp/ or queue/: the SMTP room
 * registers a small ops struct (policy_session_ops) so that the engine can
 * end a live session without knowing what a session is.  Runs on the event
 * loop and keeps no store connection: what it needs from the store comes
 * in as facts (struct policy_store_facts, struct policy_rcpt) read before
 * on a lookup thread, and its writes (bans) go through the committer. */
#ifndef FLOODGATE_POLICY_ENGINE_H
#define FLOODGATE_POLICY_ENGINE_H

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "core/config.h"
#include "policy/origin.h"
#include "store/store.h"

struct committer;
struct policy;

/* ---- the answer ---- */

enum policy_action {
    POLICY_ACCEPT,     /* go on (the SMTP room writes its own positive reply) */
    POLICY_REJECT,     /* 5xx: TEXT */
    POLICY_DEFER,      /* 4xx: TEXT */
    POLICY_HOLD,       /* end of data: accept with 250, but store the message held */
    POLICY_DISCONNECT, /* write TEXT (and THEN), then close the session */
};

#define POLICY_TEXT_MAX 1024
#define POLICY_THEN_MAX 512

struct policy_decision {
    enum policy_action action;
    int code;                   /* the reply code of TEXT; 0 when there is none */
    char text[POLICY_TEXT_MAX]; /* the whole reply line ("550 5.1.1 <a@b>: ..."); "" to accept */
    char then[POLICY_THEN_MAX]; /* a second line after TEXT (a 421 before closing), or "" */
    char reason[64];            /* a word for logs and observers ("banned", "limit"...) */
};

/* ---- the transaction as the engine sees it ---- */

struct policy_limits {
    unsigned messages, recipients, domains; /* per hour; 0 = no limit */
};

struct policy_txn {
    char sender_key[300];        /* whose limits count ("" when none apply), set at MAIL */
    struct policy_limits limits; /* of that sender, read at MAIL */
    unsigned rcpts;              /* RCPT commands accepted (an alias counts once) */
    char **domains;              /* distinct recipient domains accepted so far (lowercased) */
    size_t n_domains, cap_domains;
};

/* What the store says about an address a client sends as and about the
 * account sending, read on a lookup thread (policy_store_facts_read)
 * before the engine is asked: the event loop never waits on the store.
 * Each lookup is 1 (yes), 0 (no) or -1 (the store could not say); one that
 * was not asked is 0. */
struct policy_store_facts {
    int user; /* the AUTH user's account exists, and is SUSPENDED */
    bool suspended;
    int domain_local;                  /* the address's domain is one of ours */
    int may_send_as;                   /* the AUTH user may use the address (send-as) */
    int limits;                        /* the sender key has limits of its own: LIMITS */
    int messages, recipients, domains; /* per hour; -1: the config's */
};

/* policy_store_facts_read - on a lookup thread with its own connection DB
 * (NULL: the store cannot be opened, every lookup -1): the facts about
 * AUTH_USER (NULL: none), the sender ADDRESS (NULL: not asked; "" the null
 * sender) and the limits of SENDER_KEY (NULL, "" or "ip:..." have none). */
void policy_store_facts_read(store_db *db, const char *auth_user, const char *address,
                             const char *sender_key, struct policy_store_facts *f);
/* policy_store_facts_known - the same facts from the engine's memory,
 * when it has them all (true): no AUTH_USER, SENDER_KEY with no limits of
 * its own, and ADDRESS's domain in the engine's copy of the local domains
 * (policy_set_local_domains).  False: read them on a lookup thread. */
bool policy_store_facts_known(const struct policy *p, const char *auth_user, const char *address,
                              const char *sender_key, struct policy_store_facts *f);

/* policy_txn_reset - forget the transaction (RSET, after the message). */
void policy_txn_reset(struct policy_txn *t);

/* The facts of one RCPT, gathered by the SMTP room's lookup. */
struct policy_rcpt {
    const char *orig;   /* the address as given, for the reply */
    const char *domain; /* its domain */
    bool literal;       /* user@[192.0.2.1] */
    bool domain_local;  /* one of our domains (or a postmaster we keep) */
    bool known;         /* a user or alias there */
    bool lookup_failed; /* the store could not answer */
};

/* A message at the end of DATA (QUEUE_ID "" until it is stored) or
 * accepted (after its 250). */
struct policy_message {
    const char *queue_id;
    const char *sender; /* "" for <> */
    const char *const *rcpts;
    size_t n_rcpts;
    const char *header_from; /* NULL when there is none */
    const char *subject;     /* NULL when there is none */
    size_t size;
    bool held; /* accepted but stored held */
    /* for the outbreak detector: the recipients as the sender wrote them
     * (an alias once, before its expansion), whether each is ours, the
     * display name of From: and the head of the message (header and
     * body, as in memory: the first SPOOL_MEM_LIMIT octets) */
    const char *const *rcpt_orig;
    const bool *rcpt_orig_local;
    size_t n_rcpt_orig;
    const char *from_name; /* "" when none */
    /* what tells a bounce coming in (core/header_scan's facts): the
     * report-type of a multipart/report ("" when none), the
     * Auto-Submitted keyword (""), an X-Failed-Recipients field */
    const char *report_type;
    const char *auto_submitted;
    bool failed_recipients;
    const char *body;
    size_t body_len;
};

/* ---- hooks: observers (the detector) ---- */

/* Every callback is optional and runs on the loop.  END_OF_DATA may set
 * *D to POLICY_HOLD (accept, store held: nothing leaves, the sender is not
 * warned), POLICY_DEFER or POLICY_REJECT with a text; it finds *D as the
 * engine's own answer and leaves it alone to agree. */
struct policy_observer {
    void *arg;
    void (*auth)(void *arg, const struct origin *o, const char *user, const char *app_password,
                 bool ok, const char *reason);
    void (*end_of_data)(void *arg, const struct origin *o, const struct policy_message *m,
                        struct policy_decision *d);
    void (*accepted)(void *arg, const struct origin *o, const struct policy_message *m);
    void (*session_end)(void *arg, const struct origin *o);
};

#define POLICY_OBSERVERS_MAX 4
/* policy_add_observer - -1 when POLICY_OBSERVERS_MAX are already there. */
int policy_add_observer(struct policy *p, const struct policy_observer *obs);

/* ---- live sessions ---- */

/* How the engine acts on a session it only knows as HANDLE. */
struct policy_session_ops {
    void *ctx;
    /* end - end the session: TEXT is its last reply (a 421), REASON the
     * word of the log line event=session_end reason=... */
    void (*end)(void *ctx, void *handle, const char *text, const char *reason);
    /* state - a word for listings: "greeting", "command", "data"... */
    const char *(*state)(void *ctx, const void *handle);
    /* banned - IP was just banned: logins of it still waiting are dropped */
    void (*banned)(void *ctx, const char *ip);
};

void policy_set_session_ops(struct policy *p, const struct policy_session_ops *ops);

/* Which live sessions an action is for: every field given must match
 * (ID 0, IP NULL, USER NULL, APP_PASSWORD NULL mean any). */
struct policy_match {
    unsigned long id;
    const char *ip;           /* an address or a CIDR network */
    const char *user;         /* the AUTH user, case-insensitive */
    const char *app_password; /* the label of the app password it logged in with */
};

/* policy_end_sessions - end the live sessions matching M (at least one
 * field given) with TEXT (a 421), or with the engine's 421 for REASON when
 * TEXT is NULL ("suspended", "app_password_revoked", "ban", "ip_groups";
 * anything else: "closed by the administrator").  REASON goes into the log
 * line event=session_end.  Returns how many. */
unsigned policy_end_sessions(struct policy *p, const struct policy_match *m, const char *text,
                             const char *reason);
/* policy_sessions - [{id, ip, port, listener, tls, auth_user, app_password,
 * helo, started, messages, state}] of the live sessions (started in ISO
 * 8601 UTC), oldest first. */
json_t *policy_sessions(struct policy *p);

/* ---- life of the engine ---- */

struct policy_env {
    struct event_base *base;
    struct config *cfg;          /* the current config (a reference is taken) */
    struct committer *committer; /* bans are written through it */
};

struct policy *policy_new(const struct policy_env *env);
void policy_free(struct policy *p);
/* policy_set_config - a reload: the new config rules from now on, and a
 * live session whose address lost its trust or exemption is ended. */
void policy_set_config(struct policy *p, struct config *cfg);
/* policy_set_bans - the bans as the store has them now (LIST: the rows of
 * store/ban_state.h ban_state_list, read at start before the loop serves,
 * or on a control reader thread after floodctl ban); the live sessions of
 * an IP banned now are ended.  NULL: the read failed, the bans stay. */
void policy_set_bans(struct policy *p, json_t *list);
/* policy_set_local_domains - the local domains as the store has them now
 * (NAMES: accounts_domain_names' array, read at start before the loop
 * serves, or on a control reader thread after floodctl domain add/del).
 * NULL (the read failed, or memory ran out): the engine forgets them, and
 * every question goes to the store again. */
void policy_set_local_domains(struct policy *p, json_t *names);
/* policy_domain_local - 1 when DOMAIN is one of ours, 0 when not, as the
 * engine's copy says; -1 when it has none (ask the store on a lookup
 * thread: accounts_domain_local). */
int policy_domain_local(const struct policy *p, const char *domain);
/* policy_ban_add - ban IP (address or CIDR) for SECONDS with REASON, in
 * memory now and in the store soon, and end its live sessions. */
int policy_ban_add(struct policy *p, const char *ip, unsigned seconds, const char *reason);
/* policy_banned - is IP banned now? */
bool policy_banned(struct policy *p, const char *ip);
/* policy_banned_text - the 421 of a client whose IP is banned, into BUF. */
void policy_banned_text(struct policy *p, char *buf, size_t len);

/* ---- the stages of a session ---- */

/* policy_connect - may O open a session?  On ACCEPT the connection is
 * counted and registered (HANDLE for the ops) until policy_disconnect. */
void policy_connect(struct policy *p, struct origin *o, void *handle, struct policy_decision *d);
void policy_disconnect(struct policy *p, struct origin *o);

/* What the greeting waits for. */
struct policy_greeting {
    unsigned delay;   /* seconds before the 220 */
    bool reverse_dns; /* look the client's reverse name up first */
};
/* policy_greeting - SUBMISSION: the listener requires AUTH. */
void policy_greeting(struct policy *p, const struct origin *o, bool submission,
                     struct policy_greeting *g);

/* The outcome of a DNS lookup the engine asked for. */
enum policy_lookup {
    POLICY_LOOKUP_FOUND,
    POLICY_LOOKUP_NONE,    /* no such name (or, for a domain, no address) */
    POLICY_LOOKUP_NULL_MX, /* RFC 7505: the domain accepts no mail */
    POLICY_LOOKUP_TEMPFAIL,
};
/* policy_client_ptr - the reverse lookup answered ST. */
void policy_client_ptr(struct policy *p, const struct origin *o, enum policy_lookup st,
                       struct policy_decision *d);
/* policy_helo - O said HELO/EHLO (its name is in O->helo). */
void policy_helo(struct policy *p, const struct origin *o, struct policy_decision *d);

/* policy_auth_start - may O try to log in? */
void policy_auth_start(struct policy *p, const struct origin *o, struct policy_decision *d);
/* policy_auth_result - a login of USER ended (an exchange that failed, or
 * the verdict of policy_auth_login): OK with the verdict of the
 * password check (WHY the refusal's reason word), LABEL the app password
 * used.  ACCEPT, REJECT (535) or DISCONNECT (banned meanwhile). */
void policy_auth_result(struct policy *p, const struct origin *o, const char *user,
                        const char *label, bool ok, const char *why, struct policy_decision *d);

/* A password check, as the SMTP room reports it.  Before it reads the
 * store it asks policy_login_begin for the network whose lock state to
 * read (the lockout counts per account AND client network) and notes the
 * lockout's generation: a lock the engine decides while the read runs
 * binds this login even if the read missed it. */
#define POLICY_NETWORK_MAX 64
struct policy_login_ticket {
    char network[POLICY_NETWORK_MAX]; /* "192.0.2.0/24", "2001:db8:1:2::/64" */
    unsigned long generation;
};
void policy_login_begin(struct policy *p, const struct origin *o, struct policy_login_ticket *t);

struct login_state;
struct policy_login {
    const char *user;                         /* as the client gave it */
    const struct policy_login_ticket *ticket; /* from policy_login_begin */
    int found;                    /* the store's read: 1, 0 no such account, -1 it failed */
    const struct login_state *st; /* what it read (found == 1) from TICKET's network */
    bool main_ok;                 /* the main password matched */
    int app;                      /* index in ST->app of the app password that matched, or -1 */
};
/* policy_auth_login - the verdict on login L of O: ACCEPT (O is now
 * logged in: origin_set_auth done), REJECT 535 (reason unknown_user,
 * bad_password, locked, suspended, 2fa_requires_app_password, expired),
 * DEFER 454 (the store could not say: not the client's failure) or
 * DISCONNECT (banned meanwhile).  A wrong password counts toward the
 * lockout of the account from O's network; the locks it decides and the
 * logins it sees are written through the committer.  Observers hear it
 * as from policy_auth_result. */
void policy_auth_login(struct policy *p, struct origin *o, const struct policy_login *l,
                       struct policy_decision *d);
struct login_verified;
/* policy_auth_verified - policy_auth_login on the facts V of
 * login_verify (accounts/login_verify.h) for USER, read under TICKET: the
 * one call of SMTP AUTH and of the other services' logins. */
void policy_auth_verified(struct policy *p, struct origin *o, const char *user,
                          const struct policy_login_ticket *ticket, const struct login_verified *v,
                          struct policy_decision *d);
/* policy_failure - a failed login or refused command of O (WHAT names it)
 * counts toward banning its IP; when it earns the ban, every other live
 * session of the IP is ended and *D says DISCONNECT. */
void policy_failure(struct policy *p, const struct origin *o, const char *what,
                    struct policy_decision *d);

/* policy_mail_start - may O start a transaction at all (an account
 * suspended while the session is open submits nothing more)?  F: the
 * store's facts about O's AUTH user. */
void policy_mail_start(struct policy *p, const struct origin *o, const struct policy_store_facts *f,
                       struct policy_decision *d);
/* policy_sender_domain_wanted - should MAIL wait for DNS on DOMAIN? */
bool policy_sender_domain_wanted(struct policy *p, const struct origin *o, const char *domain,
                                 bool dns_available);
/* policy_sender_domain - the sender domain's lookup answered ST (WHY). */
void policy_sender_domain(struct policy *p, const struct origin *o, const char *from,
                          enum policy_lookup st, const char *why, struct policy_decision *d);
/* policy_mail - MAIL FROM:<FROM> ("" for <>): the sender policy and the
 * hourly limits.  T is reset and filled for the new transaction.  F: the
 * store's facts about FROM and O's sender key (origin_sender_key). */
void policy_mail(struct policy *p, const struct origin *o, struct policy_txn *t, const char *from,
                 const struct policy_store_facts *f, struct policy_decision *d);
/* policy_rcpt - one more recipient R.  ACCEPT tells the SMTP room to add
 * it (locally when R->domain_local). */
void policy_rcpt(struct policy *p, const struct origin *o, struct policy_txn *t,
                 const struct policy_rcpt *r, struct policy_decision *d);
/* policy_data - DATA may start. */
void policy_data(struct policy *p, const struct origin *o, struct policy_txn *t,
                 struct policy_decision *d);
/* policy_end_of_data - the message M has arrived whole: ACCEPT, HOLD,
 * REJECT or DEFER (observers may turn an ACCEPT into HOLD).  F: the
 * store's facts about M's header From (read when O logged in and M has
 * one; otherwise unused). */
void policy_end_of_data(struct policy *p, const struct origin *o, struct policy_txn *t,
                        const struct policy_message *m, const struct policy_store_facts *f,
                        struct policy_decision *d);
/* policy_accepted - M was stored and answered 250: count it, tell observers. */
void policy_accepted(struct policy *p, const struct origin *o, struct policy_txn *t,
                     const struct policy_message *m);

/* ---- figures for floodctl ---- */

/* policy_counters - {"messages": n, "recipients": n, "domains": n} of
 * SENDER over the last hour. */
json_t *policy_counters(struct policy *p, const char *sender);
/* The hourly counters survive a restart (saved through the committer by
 * smtp/outbreak.c with the detector's state): POLICY_COUNTERS_SAVE gives
 * EMIT text lines, POLICY_COUNTERS_LOAD reads them back. */
int policy_counters_save(struct policy *p, time_t now,
                         int (*emit)(const char *text, size_t len, void *arg), void *arg);
void policy_counters_load(struct policy *p, const char *text, size_t len, time_t now);
/* policy_status - active bans, IPs connected, the busiest senders. */
json_t *policy_status(struct policy *p);

#endif
