/* policy/engine_stages - the decisions of the engine, one function per
 * stage of a session (room: policy).  Each takes what it needs (the
 * origin, the transaction so far, the store's facts read before on a
 * lookup thread: policy_store_facts_read), asks the pure rules (relay.c, sender.c, bans.c,
 * counters.c) and answers with a struct policy_decision whose text is the reply the SMTP room
 * writes.
 *
 * Where a lookup a decision needs fails (a store error), the answer is
 * fail-closed by default: 451 4.3.0, the client tries again later.
 * policy.fail_open = true lets the client on instead, as if the lookup
 * had found nothing against it (the config page says which lookups). */
#include "policy/engine_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "accounts/accounts.h"
#include "accounts/password.h"
#include "accounts/sending.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "policy/relay.h"
#include "policy/sender.h"

#define LOOKUP_FAILED "451 4.3.0 Temporary lookup failure, try again later"

/* scfg - the config of O's session (its per-session settings: sender
 * policy, recipients per message, the greeting's checks); the engine's
 * current one rules the shared state (bans, counters, limits). */
static const struct config *scfg(const struct policy *p, const struct origin *o)
{
    return o->cfg ? o->cfg : p->cfg;
}

static const char *domain_of(const char *address)
{
    const char *at = strrchr(address, '@');
    return at ? at + 1 : "";
}

/* lookup_failed - a store lookup for OP failed: fail closed (451), or
 * open when the config says so.  True when the decision stops here. */
static bool lookup_failed(struct policy *p, const struct origin *o, const char *op,
                          struct policy_decision *d)
{
    log_warnx("event=store_error op=%s session=%lu ip=%s fail=%s", op, o->session, o->ip,
              p->cfg->policy.fail_open ? "open" : "closed");
    if (p->cfg->policy.fail_open)
        return false;
    policy_decide(d, POLICY_DEFER, "lookup_failed", LOOKUP_FAILED);
    return true;
}

/* ---- the store's facts, on a lookup thread ---- */

/* key_has_limits - SENDER_KEY may have limits of its own in the store: an
 * account's, not a client address's ("ip:...") nor none (NULL, ""). */
static bool key_has_limits(const char *sender_key)
{
    return sender_key && sender_key[0] && strncmp(sender_key, "ip:", 3) != 0;
}

void policy_store_facts_read(store_db *db, const char *auth_user, const char *address,
                             const char *sender_key, struct policy_store_facts *f)
{
    char hash[PASSWORD_HASH_MAX], user[300] = "", addr[300];
    struct user_limits u = {-1, -1, -1};
    *f = (struct policy_store_facts){.messages = -1, .recipients = -1, .domains = -1};
    if (auth_user) {
        f->user =
            db ? accounts_user_credentials(db, auth_user, hash, sizeof hash, &f->suspended) : -1;
        str_copy(user, auth_user, sizeof user);
        str_lower(user);
    }
    if (address && address[0]) {
        str_copy(addr, address, sizeof addr);
        str_lower(addr);
        f->domain_local = db ? accounts_domain_local(db, domain_of(addr)) : -1;
        if (auth_user)
            f->may_send_as = db ? accounts_may_send_as(db, user, addr) : -1;
    }
    if (key_has_limits(sender_key)) {
        f->limits = db ? accounts_user_limits(db, sender_key, &u) : -1;
        f->messages = u.messages;
        f->recipients = u.recipients;
        f->domains = u.domains;
    }
}

bool policy_store_facts_known(const struct policy *p, const char *auth_user, const char *address,
                              const char *sender_key, struct policy_store_facts *f)
{
    /* an account, and the limits of one, are only in the store */
    if (auth_user || key_has_limits(sender_key))
        return false;
    *f = (struct policy_store_facts){.messages = -1, .recipients = -1, .domains = -1};
    if (address && address[0] && (f->domain_local = policy_domain_local(p, domain_of(address))) < 0)
        return false;
    return true;
}

/* ---- the transaction ---- */

void policy_txn_reset(struct policy_txn *t)
{
    for (size_t i = 0; i < t->n_domains; i++)
        free(t->domains[i]);
    free(t->domains);
    memset(t, 0, sizeof *t);
}

/* txn_has_domain - is DOMAIN (lowercased) among the message's domains? */
static bool txn_has_domain(const struct policy_txn *t, const char *domain)
{
    for (size_t i = 0; i < t->n_domains; i++)
        if (strcmp(t->domains[i], domain) == 0)
            return true;
    return false;
}

/* txn_add_domain - remember DOMAIN (lowercased) as one of the message's. */
static int txn_add_domain(struct policy_txn *t, const char *domain)
{
    if (txn_has_domain(t, domain))
        return 0;
    if (t->n_domains == t->cap_domains) {
        size_t cap = t->cap_domains ? t->cap_domains * 2 : 8;
        char **d = realloc(t->domains, cap * sizeof *d);
        if (d == NULL)
            return -1;
        t->domains = d;
        t->cap_domains = cap;
    }
    if ((t->domains[t->n_domains] = strdup(domain)) == NULL)
        return -1;
    t->n_domains++;
    return 0;
}

/* ---- connection, greeting, HELO ---- */

void policy_greeting(struct policy *p, const struct origin *o, bool submission,
                     struct policy_greeting *g)
{
    const struct config_client_limits *cl = &scfg(p, o)->client_limits;
    /* Submission listeners (AUTH required) are for our roaming users, whose
     * hotel or mobile IPs often have no reverse name: checked only where
     * mail comes in from other servers. */
    bool skip = o->exempt || submission;
    g->reverse_dns = cl->require_reverse_dns && !skip;
    g->delay = skip ? 0 : cl->greeting_delay;
}

void policy_client_ptr(struct policy *p, const struct origin *o, enum policy_lookup st,
                       struct policy_decision *d)
{
    if (st == POLICY_LOOKUP_FOUND) {
        policy_accept(d);
        return;
    }
    bool none = st == POLICY_LOOKUP_NONE || st == POLICY_LOOKUP_NULL_MX;
    const char *why = none ? "no_reverse_dns" : "reverse_dns_tempfail";
    log_info("event=refused session=%lu ip=%s reason=%s", o->session, o->ip, why);
    if (none)
        policy_decide(d, POLICY_DISCONNECT, why,
                      "554 5.7.25 %s Client host rejected: cannot find your reverse hostname, "
                      "[%s]",
                      scfg(p, o)->hostname, o->ip);
    else
        policy_decide(d, POLICY_DISCONNECT, why,
                      "421 4.7.25 %s Cannot check your reverse hostname now, try again later",
                      scfg(p, o)->hostname);
}

void policy_helo(struct policy *p, const struct origin *o, struct policy_decision *d)
{
    policy_accept(d);
}

/* ---- AUTH ---- */

/* banned_now - D says DISCONNECT with the ban's 421 when O's IP is banned. */
static bool banned_now(struct policy *p, const struct origin *o, struct policy_decision *d)
{
    char text[POLICY_TEXT_MAX];
    if (!policy_banned(p, o->ip))
        return false;
    policy_banned_text(p, text, sizeof text);
    policy_decide(d, POLICY_DISCONNECT, "banned", "%s", text);
    return true;
}

void policy_auth_start(struct policy *p, const struct origin *o, struct policy_decision *d)
{
    if (!banned_now(p, o, d)) /* banned while this session was open */
        policy_accept(d);
}

void policy_auth_result(struct policy *p, const struct origin *o, const char *user,
                        const char *label, bool ok, const char *why, struct policy_decision *d)
{
    policy_auth_outcome(p, o, user, label, ok, why, NULL, d);
}

void policy_auth_outcome(struct policy *p, const struct origin *o, const char *user,
                         const char *label, bool ok, const char *why, const char *text,
                         struct policy_decision *d)
{
    /* The IP was banned while the check ran on a worker: the client
     * learns nothing from it, not even a 535. */
    if (banned_now(p, o, d))
        ok = false, why = "banned";
    else if (ok)
        policy_accept(d);
    else
        policy_decide(d, POLICY_REJECT, why, "%s",
                      text ? text : "535 5.7.8 Authentication credentials invalid");
    if (!ok)
        metrics_add("floodgate_auth_failures_total", 1, "listener", o->listener, NULL);
    for (size_t i = 0; i < p->n_observers; i++)
        if (p->observers[i].auth)
            p->observers[i].auth(p->observers[i].arg, o, user, label, ok, why);
}

void policy_failure(struct policy *p, const struct origin *o, const char *what,
                    struct policy_decision *d)
{
    struct ban b;
    char reason[BAN_REASON_MAX], text[POLICY_TEXT_MAX];
    policy_accept(d);
    snprintf(reason, sizeof reason, "%s failures", what);
    if (!bans_failure(p->bans, &p->cfg->hammering, o->ip, reason, clock_now(), &b))
        return;
    policy_banned_text(p, text, sizeof text);
    policy_ban_ip(p, o->ip, &b, o, text);
    policy_decide(d, POLICY_DISCONNECT, "banned", "%s", text);
}

/* ---- MAIL ---- */

void policy_mail_start(struct policy *p, const struct origin *o, const struct policy_store_facts *f,
                       struct policy_decision *d)
{
    policy_accept(d);
    if (o->auth_user == NULL)
        return;
    /* An account suspended while its session is open submits nothing more. */
    if (f->user < 0 && lookup_failed(p, o, "user_suspended", d))
        return;
    if (f->user == 1 && f->suspended)
        policy_decide(d, POLICY_REJECT, "suspended",
                      "550 5.7.1 Account suspended; contact the administrator");
}

bool policy_sender_domain_wanted(struct policy *p, const struct origin *o, const char *domain,
                                 bool dns_available)
{
    return scfg(p, o)->client_limits.require_sender_domain && o->auth_user == NULL &&
           dns_available && domain[0] != '\0' && !o->exempt && !o->trusted;
}

void policy_sender_domain(struct policy *p, const struct origin *o, const char *from,
                          enum policy_lookup st, const char *why, struct policy_decision *d)
{
    switch (st) {
    case POLICY_LOOKUP_FOUND:
        policy_accept(d);
        break;
    case POLICY_LOOKUP_TEMPFAIL:
        log_info("event=sender_domain result=tempfail session=%lu ip=%s from=%s why=%s", o->session,
                 o->ip, log_quote(from), log_quote(why));
        policy_decide(d, POLICY_DEFER, "sender_domain",
                      "451 4.1.8 <%s>: Sender address rejected: cannot look the domain up now, "
                      "try again later",
                      from);
        break;
    case POLICY_LOOKUP_NONE:
    case POLICY_LOOKUP_NULL_MX:
        log_info("event=sender_domain result=rejected session=%lu ip=%s from=%s why=%s", o->session,
                 o->ip, log_quote(from), log_quote(why));
        policy_decide(
            d, POLICY_REJECT, "sender_domain", "550 5.1.8 <%s>: Sender address rejected: %s", from,
            st == POLICY_LOOKUP_NULL_MX ? "the domain accepts no mail" : "domain not found");
        break;
    }
}

/* sender_facts - what the sender rule needs about ADDR (lowercased), from
 * the store's facts SF, into F and USER; false when a lookup failed closed
 * (D says so). */
static bool sender_facts(struct policy *p, const struct origin *o, const char *addr,
                         const struct policy_store_facts *sf, char *user, size_t userlen,
                         struct sender_facts *f, struct policy_decision *d)
{
    *f = (struct sender_facts){.null_sender = addr[0] == '\0',
                               .authenticated = o->auth_user != NULL,
                               .client_trusted = o->trusted};
    if (!f->null_sender) {
        if (sf->domain_local < 0 && lookup_failed(p, o, "domain_local", d))
            return false;
        f->domain_local = sf->domain_local == 1;
    }
    if (f->authenticated && !f->null_sender) {
        str_copy(user, o->auth_user, userlen);
        str_lower(user);
        if (sf->may_send_as < 0 && lookup_failed(p, o, "may_send_as", d))
            return false;
        f->owned = sf->may_send_as != 0; /* a failed lookup gets here only when failing open */
        f->log_only = policy_sender_log_only(&scfg(p, o)->sender_policy, domain_of(user));
    }
    return true;
}

/* sender_check - may O use ADDRESS as sender (HEADER: as the From: of the
 * message)?  False with D filled when not. */
static bool sender_check(struct policy *p, const struct origin *o, const char *address, bool header,
                         const struct policy_store_facts *sf, struct policy_decision *d)
{
    char user[300] = "", addr[300];
    struct sender_facts f;
    str_copy(addr, address, sizeof addr);
    str_lower(addr);
    if (!sender_facts(p, o, addr, sf, user, sizeof user, &f, d))
        return false;
    const char *what = header ? "header_from" : "mail_from";
    switch (policy_sender_decide(&scfg(p, o)->sender_policy, &f)) {
    case SENDER_OK:
        return true;
    case SENDER_NOT_OWNED_LOG:
        log_info("event=sender_policy result=logged session=%lu user=%s %s=%s ip=%s", o->session,
                 log_quote(user), what, log_quote(addr), o->ip);
        return true;
    case SENDER_NOT_OWNED:
        log_info("event=sender_policy result=rejected session=%lu user=%s %s=%s ip=%s", o->session,
                 log_quote(user), what, log_quote(addr), o->ip);
        if (header)
            policy_decide(d, POLICY_REJECT, "sender_policy",
                          "550 5.7.1 Message rejected: From: <%s> is not an address of %s", addr,
                          user);
        else
            policy_decide(d, POLICY_REJECT, "sender_policy",
                          "550 5.7.1 <%s>: Sender address rejected: not owned by user %s", addr,
                          user);
        return false;
    case SENDER_SPOOFED:
        log_info("event=sender_policy result=spoofing session=%lu %s=%s ip=%s", o->session, what,
                 log_quote(addr), o->ip);
        policy_decide(d, POLICY_REJECT, "sender_policy",
                      "550 5.7.1 <%s>: Sender address rejected: log in to send as %s", addr,
                      domain_of(addr));
        return false;
    }
    return true;
}

/* over - would N more on top of USED exceed LIMIT (0: none)? */
static bool over(unsigned long used, unsigned long n, unsigned limit)
{
    return limit != 0 && used + n > limit;
}

/* limits_of - the limits of the sender T->sender_key: the user's
 * overrides (in SF), else the config.  False when the lookup failed
 * closed. */
static bool limits_of(struct policy *p, const struct origin *o, struct policy_txn *t,
                      const struct policy_store_facts *sf, struct policy_decision *d)
{
    const struct config_sending_limits *c = &p->cfg->sending_limits;
    struct user_limits u = {-1, -1, -1};
    bool own = strncmp(t->sender_key, "ip:", 3) != 0;
    if (own && sf->limits >= 0)
        u = (struct user_limits){sf->messages, sf->recipients, sf->domains};
    else if (own && lookup_failed(p, o, "user_limits", d))
        return false;
    t->limits.messages = u.messages >= 0 ? (unsigned)u.messages : c->messages_per_hour;
    t->limits.recipients = u.recipients >= 0 ? (unsigned)u.recipients : c->recipients_per_hour;
    t->limits.domains = u.domains >= 0 ? (unsigned)u.domains : c->domains_per_hour;
    return true;
}

/* limits_mail - may O start a message (per-IP and per-sender hourly
 * limits)? */
static bool limits_mail(struct policy *p, const struct origin *o, struct policy_txn *t,
                        const struct policy_store_facts *sf, struct policy_decision *d)
{
    unsigned max = p->cfg->client_limits.messages_per_hour;
    time_t now = clock_now();
    if (max && !o->exempt && counters_get(p->ip_messages, o->ip, now) >= max) {
        log_info("event=limit session=%lu ip=%s limit=messages_per_hour_per_ip", o->session, o->ip);
        policy_decide(d, POLICY_DEFER, "limit",
                      "451 4.7.1 Too many messages from your address this hour, try again later");
        return false;
    }
    if (origin_sender_key(o, t->sender_key, sizeof t->sender_key) == NULL) {
        t->sender_key[0] = '\0';
        return true;
    }
    if (!limits_of(p, o, t, sf, d))
        return false;
    if (!over(counters_get(p->messages, t->sender_key, now), 1, t->limits.messages))
        return true;
    log_info("event=limit session=%lu sender=%s ip=%s limit=messages_per_hour max=%u", o->session,
             log_quote(t->sender_key), o->ip, t->limits.messages);
    policy_decide(d, POLICY_DEFER, "limit",
                  "451 4.7.1 Sending limit reached: %s may send %u messages per hour",
                  t->sender_key, t->limits.messages);
    return false;
}

void policy_mail(struct policy *p, const struct origin *o, struct policy_txn *t, const char *from,
                 const struct policy_store_facts *f, struct policy_decision *d)
{
    policy_txn_reset(t);
    policy_accept(d);
    if (sender_check(p, o, from, false, f, d))
        limits_mail(p, o, t, f, d);
}

/* ---- RCPT ---- */

/* seen_key - "sender\1domain" into BUF. */
static const char *seen_key(char *buf, size_t len, const char *sender, const char *domain)
{
    snprintf(buf, len, "%s\1%s", sender, domain);
    return buf;
}

/* domain_is_new - has SENDER not sent to DOMAIN in the last hour? */
static bool domain_is_new(struct policy *p, const char *sender, const char *domain)
{
    char key[600];
    return counters_get(p->domain_seen, seen_key(key, sizeof key, sender, domain), clock_now()) ==
           0;
}

/* new_domains_in_message - the message's recipient domains that the
 * sender has not sent to within the hour. */
static unsigned new_domains_in_message(struct policy *p, const struct policy_txn *t)
{
    unsigned n = 0;
    for (size_t i = 0; i < t->n_domains; i++)
        n += domain_is_new(p, t->sender_key, t->domains[i]);
    return n;
}

/* limit_reached - the sender KEY reached its hourly limit of MAX
 * recipients or domains (WHAT): log, and 451.  Returns false. */
static bool limit_reached(const struct origin *o, const char *key, const char *what, unsigned max,
                          struct policy_decision *d)
{
    log_info("event=limit session=%lu sender=%s ip=%s limit=%s_per_hour max=%u", o->session,
             log_quote(key), o->ip, what, max);
    policy_decide(d, POLICY_DEFER, "limit",
                  "451 4.7.1 Sending limit reached: %s may send to %u %s per hour", key, max, what);
    return false;
}

/* limits_rcpt - may the message get one more recipient in DOMAIN
 * (lowercased)? */
static bool limits_rcpt(struct policy *p, const struct origin *o, struct policy_txn *t,
                        const char *domain, struct policy_decision *d)
{
    const char *key = t->sender_key;
    time_t now = clock_now();
    if (key[0] == '\0')
        return true;
    bool adds_domain = !txn_has_domain(t, domain) && domain_is_new(p, key, domain);
    unsigned new_domains = adds_domain ? new_domains_in_message(p, t) + 1 : 0;
    if (over(counters_get(p->recipients, key, now), t->rcpts + 1, t->limits.recipients))
        return limit_reached(o, key, "recipients", t->limits.recipients, d);
    if (new_domains > 0 && over(counters_get(p->domains, key, now), new_domains, t->limits.domains))
        return limit_reached(o, key, "domains", t->limits.domains, d);
    return true;
}

/* unknown_recipient - directory harvesting: past client_limits'
 * max_unknown_recipients in an hour the client IP is banned, and D (the
 * 550 already) closes the session after it. */
static void unknown_recipient(struct policy *p, const struct origin *o, struct policy_decision *d)
{
    const struct config_client_limits *cl = &p->cfg->client_limits;
    time_t now = clock_now();
    /* Our own users' typos are not harvesting. */
    if (o->auth_user || o->trusted || cl->max_unknown_recipients == 0 || o->exempt ||
        counters_add(p->unknown_rcpts, o->ip, 1, now) <= cl->max_unknown_recipients)
        return;
    counters_reset(p->unknown_rcpts, o->ip);
    struct ban b = {.until = now + cl->unknown_recipients_ban, .offenses = 1};
    str_copy(b.reason, "unknown recipients", sizeof b.reason);
    snprintf(d->then, sizeof d->then,
             "421 4.7.0 %s Too many unknown recipients from your address, closing",
             scfg(p, o)->hostname);
    d->action = POLICY_DISCONNECT;
    policy_ban_ip(p, o->ip, &b, o, d->then);
}

/* relay_denied - a relay attempt counts toward banning the IP. */
static void relay_denied(struct policy *p, const struct origin *o, struct policy_decision *d)
{
    struct policy_decision f;
    policy_failure(p, o, "relay", &f);
    if (f.action != POLICY_DISCONNECT)
        return;
    d->action = POLICY_DISCONNECT;
    str_copy(d->then, f.text, sizeof d->then);
}

void policy_rcpt(struct policy *p, const struct origin *o, struct policy_txn *t,
                 const struct policy_rcpt *r, struct policy_decision *d)
{
    if (t->rcpts >= scfg(p, o)->limits.max_recipients && !o->exempt) {
        policy_decide(d, POLICY_DEFER, "max_recipients", "452 4.5.3 Too many recipients");
        return;
    }
    if (r->lookup_failed) { /* where the mail would go is unknown: never open */
        policy_decide(d, POLICY_DEFER, "lookup_failed", "451 4.3.0 <%s>: Temporary lookup failure",
                      r->orig);
        return;
    }
    char domain[256];
    str_copy(domain, r->domain, sizeof domain);
    str_lower(domain);
    struct relay_facts f = {.authenticated = o->auth_user != NULL,
                            .client_trusted = o->trusted,
                            .address_literal = r->literal,
                            .domain_local = r->domain_local,
                            .recipient_known = r->known};
    switch (policy_relay_decide(&f)) {
    case RELAY_ACCEPT_LOCAL:
    case RELAY_ACCEPT_REMOTE:
        if (!limits_rcpt(p, o, t, domain, d))
            return;
        if (txn_add_domain(t, domain) < 0) {
            policy_decide(d, POLICY_DEFER, "out_of_memory",
                          "451 4.3.0 Out of memory, try again later");
            return;
        }
        t->rcpts++;
        policy_accept(d);
        return;
    case RELAY_UNKNOWN_USER:
        policy_decide(d, POLICY_REJECT, "unknown_user",
                      "550 5.1.1 <%s>: Recipient address rejected: User unknown", r->orig);
        unknown_recipient(p, o, d);
        return;
    case RELAY_LITERAL_DENIED:
        policy_decide(d, POLICY_REJECT, "literal",
                      "550 5.7.1 <%s>: Address literals are not accepted", r->orig);
        return;
    case RELAY_DENIED:
        policy_decide(d, POLICY_REJECT, "relay", "554 5.7.1 <%s>: Relay access denied", r->orig);
        relay_denied(p, o, d);
        return;
    }
}

/* ---- DATA and after ---- */

void policy_data(struct policy *p, const struct origin *o, struct policy_txn *t,
                 struct policy_decision *d)
{
    policy_accept(d);
}

void policy_end_of_data(struct policy *p, const struct origin *o, struct policy_txn *t,
                        const struct policy_message *m, const struct policy_store_facts *f,
                        struct policy_decision *d)
{
    policy_accept(d);
    /* The From: a reader sees is held to the same rule as MAIL FROM. */
    if (o->auth_user && m->header_from && !sender_check(p, o, m->header_from, true, f, d))
        return;
    for (size_t i = 0; i < p->n_observers; i++)
        if (p->observers[i].end_of_data)
            p->observers[i].end_of_data(p->observers[i].arg, o, m, d);
}

void policy_accepted(struct policy *p, const struct origin *o, struct policy_txn *t,
                     const struct policy_message *m)
{
    time_t now = clock_now();
    counters_add(p->ip_messages, o->ip, 1, now);
    if (t->sender_key[0]) {
        counters_add(p->messages, t->sender_key, 1, now);
        counters_add(p->recipients, t->sender_key, t->rcpts, now);
        for (size_t i = 0; i < t->n_domains; i++) {
            char key[600];
            seen_key(key, sizeof key, t->sender_key, t->domains[i]);
            if (counters_add(p->domain_seen, key, 1, now) == 1)
                counters_add(p->domains, t->sender_key, 1, now);
        }
    }
    if (o->live)
        o->live->messages++;
    for (size_t i = 0; i < p->n_observers; i++)
        if (p->observers[i].accepted)
            p->observers[i].accepted(p->observers[i].arg, o, m);
}
