/* policy/engine_internal - the engine's state, shared by engine.c (live
 * state, bans, sessions, hooks) and engine_stages.c (the decisions).  Not
 * for other rooms. */
#ifndef FLOODGATE_POLICY_ENGINE_INTERNAL_H
#define FLOODGATE_POLICY_ENGINE_INTERNAL_H

#include <stdarg.h>

#include "policy/bans.h"
#include "policy/counters.h"
#include "policy/engine.h"

struct accounts_domain_set;
struct strmap;

/* One live session in the registry. */
struct policy_live {
    struct origin *origin;
    void *handle;
    unsigned long messages; /* accepted so far */
    struct policy_live *next, *prev;
};

struct policy {
    struct event_base *base;
    struct config *cfg;
    struct committer *committer;
    struct bans *bans;
    struct strmap *connections;   /* ip -> open sessions (as uintptr_t) */
    struct counters *ip_messages; /* per IP, last hour */
    struct counters *unknown_rcpts;
    struct counters *messages; /* per sender, last hour */
    struct counters *recipients;
    struct counters *domains;     /* new recipient domains per sender */
    struct counters *domain_seen; /* "sender\1domain" seen within the hour */
    struct accounts_domain_set *local_domains; /* NULL: ask the store */
    struct event *sweep;
    struct policy_live *live, *live_tail; /* newest first; tail is the oldest */
    struct policy_session_ops ops;
    struct policy_observer observers[POLICY_OBSERVERS_MAX];
    size_t n_observers;
};

/* policy_decide - fill D: ACTION with the reply line FMT (its code read
 * from the line) and REASON. */
void policy_decide(struct policy_decision *d, enum policy_action action, const char *reason,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* policy_accept - D says go on. */
void policy_accept(struct policy_decision *d);
/* policy_auth_outcome - policy_auth_result with the refusal's reply line
 * TEXT (NULL: the 535 that tells a guesser nothing). */
void policy_auth_outcome(struct policy *p, const struct origin *o, const char *user,
                         const char *label, bool ok, const char *why, const char *text,
                         struct policy_decision *d);
/* policy_ban_ip - apply the ban B to IP: memory, store, log, and end the
 * live sessions of IP except SELF (NULL: all) with TEXT. */
void policy_ban_ip(struct policy *p, const char *ip, const struct ban *b, const struct origin *self,
                   const char *text);

#endif
