/* smtp/gate - the server's door policy at run time: bans (anti-hammering),
 * per-IP limits (connections, messages, unknown recipients) and per-user
 * sending limits.  Holds the in-memory counters of src/policy, keeps bans
 * in the store through the committer, and logs every ban and unban.
 * Runs on the event loop. */
#ifndef FLOODGATE_SMTP_GATE_H
#define FLOODGATE_SMTP_GATE_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/socket.h>

struct smtp_server;
struct gate;

struct gate *gate_new(struct smtp_server *srv);
void gate_free(struct gate *g);
/* gate_reload - read the bans from the store again (start, floodctl ban). */
void gate_reload(struct gate *g);

enum gate_verdict { GATE_OPEN, GATE_BANNED, GATE_TOO_MANY_CONNECTIONS };

/* gate_connect - may IP open a session?  On GATE_OPEN the connection is
 * counted until gate_disconnect; *REMAINING is a ban's seconds left. */
enum gate_verdict gate_connect(struct gate *g, const char *ip, long *remaining);
void gate_disconnect(struct gate *g, const char *ip);
/* gate_banned - is IP banned now (for sessions opened before the ban)? */
bool gate_banned(struct gate *g, const char *ip);

/* gate_failure - a failed AUTH or refused command from IP (WHAT names it);
 * true when it earned IP a ban just now. */
bool gate_failure(struct gate *g, const char *ip, const char *what);
/* gate_unknown_recipient - a RCPT for a user that does not exist: true
 * when IP crossed client_limits.max_unknown_recipients and is now banned. */
bool gate_unknown_recipient(struct gate *g, const char *ip);
/* gate_ip_message_allowed - may IP start another message this hour? */
bool gate_ip_message_allowed(struct gate *g, const char *ip);

/* Per-sender accounting (sending_limits).  SENDER is the authenticated
 * user, or "ip:ADDR" for an unauthenticated client of a trusted group. */
struct sending_limits_of {
    unsigned messages, recipients, domains; /* per hour; 0 = no limit */
};
enum gate_send_verdict { GATE_SEND_OK, GATE_SEND_MESSAGES, GATE_SEND_RECIPIENTS,
                         GATE_SEND_DOMAINS };
/* gate_limits_of - the limits of SENDER: the user's overrides, else the
 * config. */
void gate_limits_of(struct gate *g, const char *sender, struct sending_limits_of *out);
enum gate_send_verdict gate_may_send(struct gate *g, const char *sender,
                                     const struct sending_limits_of *l);
/* gate_may_add_rcpt - would a message with RCPTS recipients, NEW_DOMAINS
 * of them in domains the sender has not sent to this hour (0: the new
 * recipient adds no domain), stay within the limits? */
enum gate_send_verdict gate_may_add_rcpt(struct gate *g, const char *sender,
                                         const struct sending_limits_of *l, unsigned rcpts,
                                         unsigned new_domains);
/* gate_domain_is_new - has SENDER not sent to DOMAIN in the last hour? */
bool gate_domain_is_new(struct gate *g, const char *sender, const char *domain);
/* gate_sent - a message of SENDER to N recipients in the given domains
 * was accepted: count it. */
void gate_sent(struct gate *g, const char *sender, const char *client_ip, unsigned n_rcpts,
               const char *const *domains, size_t n_domains);
/* gate_counters - {"messages": n, "recipients": n, "domains": n} of SENDER
 * over the last hour. */
json_t *gate_counters(struct gate *g, const char *sender);
/* gate_status - summary for floodctl status: active bans, IPs counted,
 * the busiest senders. */
json_t *gate_status(struct gate *g);

#endif
