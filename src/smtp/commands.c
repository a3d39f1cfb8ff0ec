/* smtp/commands - the command table of the SMTP server (RFC 5321 4.1).
 * Each row pairs a verb with a check, which refuses out-of-sequence or
 * forbidden commands before anything happens, and a proceed function, which
 * does the work.  Adding a command is adding a row. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "accounts/accounts.h"
#include "core/log.h"
#include "core/util.h"
#include "smtp/client_checks.h"
#include "smtp/session_internal.h"

struct command_entry {
    enum smtp_verb verb;
    bool (*check)(struct smtp_session *s, const struct smtp_command *c);
    void (*proceed)(struct smtp_session *s, const struct smtp_command *c);
};

static bool in_transaction(const struct smtp_session *s)
{
    return s->state == SMTP_STATE_MAIL || s->state == SMTP_STATE_RCPT;
}

bool smtp_auth_offered(const struct smtp_session *s)
{
    /* RFC 4954 4: never ask for a password over plaintext unless the
     * admin explicitly allowed it for this listener. */
    return s->lc->auth != AUTH_MODE_OFF && s->origin.auth_user == NULL &&
           (s->origin.tls || s->lc->plaintext_auth);
}

/* ---- checks ---- */

static bool check_any(struct smtp_session *s, const struct smtp_command *c)
{
    return true;
}

static bool check_no_args(struct smtp_session *s, const struct smtp_command *c)
{
    if (c->args_len == 0)
        return true;
    smtp_reply(s, "501 5.5.4 Syntax: %s takes no arguments", smtp_verb_name(c->verb));
    return false;
}

static bool check_helo(struct smtp_session *s, const struct smtp_command *c)
{
    if (c->args_len > 0 && c->args_len < sizeof s->origin.helo)
        return true;
    smtp_reply(s, "501 5.5.4 Syntax: %s hostname", smtp_verb_name(c->verb));
    return false;
}

static bool check_mail(struct smtp_session *s, const struct smtp_command *c)
{
    if (s->state == SMTP_STATE_CONNECTED) {
        smtp_reply(s, "503 5.5.1 Send HELO or EHLO first");
        return false;
    }
    if (in_transaction(s)) {
        smtp_reply(s, "503 5.5.1 Nested MAIL command");
        return false;
    }
    if (s->lc->auth == AUTH_MODE_REQUIRED && s->origin.auth_user == NULL) {
        smtp_reply(s, "530 5.7.0 Authentication required");
        return false;
    }
    return true; /* the engine's word (policy_mail_start) needs the store: mail_looked_up */
}

static bool check_rcpt(struct smtp_session *s, const struct smtp_command *c)
{
    if (in_transaction(s))
        return true;
    smtp_reply(s, "503 5.5.1 Need MAIL command first");
    return false;
}

static bool check_data(struct smtp_session *s, const struct smtp_command *c)
{
    if (s->state != SMTP_STATE_RCPT) {
        smtp_reply(s, s->state == SMTP_STATE_MAIL ? "503 5.5.1 Need RCPT command first"
                                                  : "503 5.5.1 Need MAIL command first");
        return false;
    }
    return check_no_args(s, c);
}

static bool check_starttls(struct smtp_session *s, const struct smtp_command *c)
{
    if (s->lc->tls != TLS_MODE_STARTTLS || s->srv->ssl_ctx == NULL) {
        smtp_reply(s, "502 5.5.1 STARTTLS not available on this port");
        return false;
    }
    if (s->origin.tls) {
        smtp_reply(s, "503 5.5.1 TLS already active");
        return false;
    }
    if (in_transaction(s)) {
        smtp_reply(s, "503 5.5.1 STARTTLS not permitted during a mail transaction");
        return false;
    }
    return check_no_args(s, c);
}

static bool check_auth(struct smtp_session *s, const struct smtp_command *c)
{
    if (s->lc->auth == AUTH_MODE_OFF) {
        smtp_reply(s, "503 5.5.1 AUTH not available on this port");
        return false;
    }
    if (!s->esmtp) {
        smtp_reply(s, "503 5.5.1 Send EHLO first");
        return false;
    }
    if (s->origin.auth_user) {
        smtp_reply(s, "503 5.5.1 Already authenticated");
        return false;
    }
    if (in_transaction(s)) {
        smtp_reply(s, "503 5.5.1 AUTH not permitted during a mail transaction");
        return false;
    }
    if (!smtp_auth_offered(s)) {
        smtp_reply(s, "538 5.7.11 Encryption required for requested authentication mechanism");
        return false;
    }
    return true;
}

/* ---- proceed ---- */

void smtp_commands_ehlo_reply(struct smtp_session *s)
{
    smtp_reply(s, "250-%s Hello %s [%s]", s->cfg->hostname, s->origin.helo, s->origin.ip);
    smtp_reply(s, "250-PIPELINING");
    smtp_reply(s, "250-SIZE %zu", s->cfg->limits.max_message_size);
    smtp_reply(s, "250-8BITMIME");
    smtp_reply(s, "250-ENHANCEDSTATUSCODES");
    if (s->lc->tls == TLS_MODE_STARTTLS && !s->origin.tls && s->srv->ssl_ctx)
        smtp_reply(s, "250-STARTTLS");
    if (smtp_auth_offered(s))
        smtp_reply(s, "250-AUTH PLAIN LOGIN");
    smtp_reply(s, "250 SMTPUTF8");
}

static void proceed_helo(struct smtp_session *s, const struct smtp_command *c)
{
    struct policy_decision d;
    smtp_session_reset_transaction(s);
    origin_set_helo(&s->origin, c->args, c->args_len);
    policy_helo(s->srv->policy, &s->origin, &d);
    if (!smtp_reply_decision(s, &d))
        return;
    s->state = SMTP_STATE_HELO;
    s->esmtp = c->verb == SMTP_VERB_EHLO;
    if (s->esmtp)
        smtp_commands_ehlo_reply(s);
    else
        smtp_reply(s, "250 %s", s->cfg->hostname);
}

static void reply_address_error(struct smtp_session *s, enum address_status st, bool sender)
{
    switch (st) {
    case ADDRESS_SOURCE_ROUTE:
        smtp_reply(s, "553 5.7.1 Source routes are not accepted");
        break;
    case ADDRESS_NEEDS_UTF8:
        smtp_reply(s, "553 5.6.7 Non-ASCII address needs SMTPUTF8");
        break;
    case ADDRESS_TOO_LONG:
        smtp_reply(s, "501 %s Address too long", sender ? "5.1.7" : "5.1.3");
        break;
    default:
        smtp_reply(s, "501 %s Bad %s address syntax", sender ? "5.1.7" : "5.1.3",
                   sender ? "sender" : "recipient");
    }
}

/* One MAIL's lookup: the store's facts about the logged-in account and
 * the sender address, and the inbound checks' (DNSBL, SPF), for the
 * engine. */
struct mail_job {
    enum smtp_param_status parsed;
    enum address_status as;
    char user[256];                  /* the AUTH user, "" when none */
    char from[ADDRESS_PATH_MAX + 8]; /* the sender, when it parsed */
    char key[300];                   /* whose sending limits count, "" when none */
    struct policy_store_facts f;
    /* the inbound checks, when they apply (IN not NULL: a struct of some
     * kilobytes, allocated only then): the session's config (a reference
     * of the job's own: the session may end while the DNS answers), the
     * client's address and HELO name */
    struct inbound_facts *in;
    struct config *cfg;
    char ip[INET6_ADDRSTRLEN];
    char helo[ORIGIN_HELO_MAX];
};

/* mail_work - on a lookup thread. */
static void mail_work(store_db *db, void *arg)
{
    struct mail_job *j = arg;
    policy_store_facts_read(db, j->user[0] ? j->user : NULL,
                            j->parsed == SMTP_PARAM_OK ? j->from : NULL, j->key, &j->f);
    if (j->in && j->parsed == SMTP_PARAM_OK)
        inbound_facts_mail(j->cfg, j->ip, j->helo, j->from, j->in);
}

static void mail_job_free(void *arg)
{
    struct mail_job *j = arg;
    config_unref(j->cfg);
    free(j->in);
    free(j);
}

/* mail_refused - the MAIL arguments did not parse (J says how). */
static void mail_refused(struct smtp_session *s, const struct mail_job *j)
{
    switch (j->parsed) {
    case SMTP_PARAM_UNKNOWN:
        smtp_reply(s, "555 5.5.4 MAIL parameter not recognized");
        break;
    case SMTP_PARAM_ADDRESS:
        reply_address_error(s, j->as, true);
        break;
    default:
        smtp_reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
    }
}

/* mail_looked_up - on the loop with the store's facts: an account
 * suspended while the session is open submits nothing more, then the
 * arguments, the size, the store's health, the sender domain (DNS), and
 * the engine's word on the sender (smtp_mail_accept). */
static void mail_looked_up(struct smtp_session *s, void *arg)
{
    struct mail_job *j = arg;
    struct policy_decision d;
    policy_mail_start(s->srv->policy, &s->origin, &j->f, &d);
    if (!smtp_reply_decision(s, &d))
        return;
    if (j->parsed != SMTP_PARAM_OK) {
        mail_refused(s, j);
        return;
    }
    /* RFC 1870 6.1: refuse early when the announced size is too big. */
    if (s->txn.mail.size > s->cfg->limits.max_message_size) {
        smtp_reply(s, "552 5.3.4 Message size exceeds fixed maximum message size (%zu)",
                   s->cfg->limits.max_message_size);
        return;
    }
    /* A store that fails now would fail at the end of DATA too: say so
     * before the client sends the message (RFC 5321 4.2.3: 452/451). */
    enum store_fault fault = committer_fault(s->srv->committer);
    if (fault != STORE_FAULT_NONE) {
        smtp_reply_store_fault(s, fault);
        return;
    }
    /* DNSBL and SPF of a client from outside (policy/inbound.h) */
    static const struct inbound_facts none; /* not wanted */
    policy_inbound_mail(s->srv->policy, &s->origin, j->from, j->in ? j->in : &none, &d);
    if (!smtp_reply_decision(s, &d))
        return;
    if (j->in)
        s->txn.inbound = *j->in;
    s->txn.facts = j->f;
    if (!smtp_checks_sender_domain(s, s->txn.mail.from.domain))
        smtp_mail_accept(s);
}

/* proceed_mail - parse, then read what the store says (on a lookup
 * thread) before anything is answered: a bad argument from a suspended
 * account still hears that it is suspended first. */
static void proceed_mail(struct smtp_session *s, const struct smtp_command *c)
{
    struct mail_job *j = calloc(1, sizeof *j);
    if (j == NULL) {
        smtp_reply(s, "451 4.3.0 Out of memory, try again later");
        return;
    }
    j->parsed = smtp_parse_mail(c->args, c->args_len, &s->txn.mail, &j->as);
    if (j->parsed != SMTP_PARAM_OK && s->origin.auth_user == NULL) {
        mail_refused(s, j); /* nothing to ask the store */
        free(j);
        return;
    }
    if (s->origin.auth_user)
        str_copy(j->user, s->origin.auth_user, sizeof j->user);
    if (j->parsed == SMTP_PARAM_OK)
        address_format(&s->txn.mail.from, j->from, sizeof j->from);
    if (origin_sender_key(&s->origin, j->key, sizeof j->key) == NULL)
        j->key[0] = '\0';
    if (policy_inbound_wanted(s->srv->policy, &s->origin)) {
        if ((j->in = calloc(1, sizeof *j->in)) == NULL) {
            free(j);
            smtp_reply(s, "451 4.3.0 Out of memory, try again later");
            return;
        }
        j->in->wanted = true;
        j->cfg = config_ref((struct config *)s->cfg);
        str_copy(j->ip, s->origin.ip, sizeof j->ip);
        str_copy(j->helo, s->origin.helo, sizeof j->helo);
    }
    if (j->in) { /* the store read and the DNS, on the checks' threads */
        smtp_lookup_start_checks(s, mail_work, mail_looked_up, mail_job_free, j);
    } else if (policy_store_facts_known(s->srv->policy, j->user[0] ? j->user : NULL, j->from,
                                        j->key, &j->f)) {
        /* a client that relays without logging in, and whose sender
         * domain the engine knows: nothing to ask the store */
        mail_looked_up(s, j);
        mail_job_free(j);
    } else {
        smtp_lookup_start(s, mail_work, mail_looked_up, mail_job_free, j);
    }
}

void smtp_mail_accept(struct smtp_session *s)
{
    char from[ADDRESS_PATH_MAX + 8];
    struct policy_decision d;
    address_format(&s->txn.mail.from, from, sizeof from);
    policy_mail(s->srv->policy, &s->origin, &s->txn.policy, from, &s->txn.facts, &d);
    if (!smtp_reply_decision(s, &d))
        return;
    if ((s->txn.env.sender = strdup(from)) == NULL) {
        smtp_reply(s, "451 4.3.0 Out of memory, try again later");
        return;
    }
    s->state = SMTP_STATE_MAIL;
    smtp_reply(s, "250 2.1.0 Ok");
}

/* rcpt_accept - add the targets of X (a user, an alias's members, or a
 * remote address), all or none: -1 out of memory, -2 past
 * limits.max_expanded_recipients. */
static int rcpt_accept(struct smtp_session *s, const struct accounts_expansion *x, const char *orig)
{
    struct envelope *env = &s->txn.env;
    size_t before = env->n_rcpts;
    int rc = 0;
    for (size_t i = 0; i < x->n && rc == 0; i++)
        if (envelope_add_rcpt(env, x->t[i].address, orig, x->t[i].local) < 0)
            rc = -1;
        else if (env->n_rcpts > s->cfg->limits.max_expanded_recipients)
            rc = -2;
    if (rc < 0)
        envelope_truncate(env, before);
    return rc;
}

/* rcpt_expansion_refused - an alias that loops or expands past the limit:
 * a precise, permanent reply (retrying cannot help; the admin must fix the
 * alias or the limit).  RFC 3463 3.5: X.4.6 is a routing loop. */
static void rcpt_expansion_refused(struct smtp_session *s, enum accounts_rcpt_kind kind,
                                   const struct accounts_expansion *x, const char *orig)
{
    log_info("event=alias_refused session=%lu ip=%s rcpt=%s reason=%s why=%s", s->serial,
             s->origin.ip, log_quote(orig), kind == ACCOUNTS_RCPT_LOOP ? "loop" : "too_many",
             log_quote(x->why));
    if (kind == ACCOUNTS_RCPT_LOOP)
        smtp_reply(s, "550 5.4.6 <%s>: Alias loop (%.200s); tell the postmaster", orig, x->why);
    else
        smtp_reply(s, "550 5.5.3 <%s>: List expands to %.200s (limit %u per message)", orig, x->why,
                   s->cfg->limits.max_expanded_recipients);
}

/* One RCPT's lookup: what it asks, copied so that the lookup thread
 * touches nothing of the session, and what the store answered. */
struct rcpt_job {
    struct mailbox to;
    char addr[ADDRESS_PATH_MAX + 8]; /* TO formatted */
    char orig[ADDRESS_PATH_MAX + 8]; /* as the sender wrote it, for replies */
    char hostname[256];              /* of the session's config */
    char *postmaster;                /* of the session's config, or NULL */
    struct policy_rcpt r;            /* the facts for the engine */
    struct accounts_expansion x;     /* where it goes (memory sized to the list) */
    enum accounts_rcpt_kind kind;
};

static void rcpt_job_free(void *arg)
{
    struct rcpt_job *j = arg;
    accounts_expansion_free(&j->x);
    free(j->postmaster);
    free(j);
}

/* is_postmaster - RFC 5321 4.5.1: "postmaster", in any case, at a local
 * domain or at our own name (where a bare <postmaster> is put). */
static bool is_postmaster(const struct rcpt_job *j, bool domain_local)
{
    return !j->to.literal && strcasecmp(j->to.local, "postmaster") == 0 &&
           (domain_local || strcasecmp(j->to.domain, j->hostname) == 0);
}

/* postmaster_targets - where postmaster ADDR goes when no user or alias
 * has that name: to the configured postmaster (a user or alias here, or a
 * remote address), else to ADDR's own Maildir.  RFC 5321 4.5.1: mail to
 * the postmaster is accepted even when nobody set one up, and kept. */
static enum accounts_rcpt_kind postmaster_targets(store_db *db, struct rcpt_job *j,
                                                  const char *addr)
{
    struct accounts_expansion *x = &j->x;
    const char *pm = j->postmaster ? j->postmaster : addr;
    const char *at = strrchr(pm, '@');
    bool local = pm == addr || (at && accounts_domain_is_local(db, at + 1));
    if (pm != addr && local) {
        enum accounts_rcpt_kind kind = accounts_resolve(db, pm, x);
        if (kind != ACCOUNTS_RCPT_UNKNOWN && (kind != ACCOUNTS_RCPT_ALIAS || x->n > 0))
            return kind;
    }
    return accounts_expansion_set(x, pm, local) < 0 ? ACCOUNTS_RCPT_ERROR : ACCOUNTS_RCPT_USER;
}

/* rcpt_elsewhere - J's domain is ours (LOCAL 1), not (0) or the store
 * could not say (-1): the engine's facts of it; true when nothing more is
 * to be looked up (not ours, and not a postmaster). */
static bool rcpt_elsewhere(struct rcpt_job *j, int local)
{
    j->r.domain_local = local == 1;
    j->r.lookup_failed = local < 0;
    return !j->r.domain_local && !is_postmaster(j, false);
}

/* rcpt_lookup - what J's address is here: the facts for the engine, and
 * the addresses it delivers to when it is local; the kind of address. */
static enum accounts_rcpt_kind rcpt_lookup(store_db *db, struct rcpt_job *j)
{
    struct policy_rcpt *r = &j->r;
    if (rcpt_elsewhere(j, j->to.literal ? 0 : accounts_domain_local(db, j->to.domain)))
        return ACCOUNTS_RCPT_UNKNOWN;
    char key[ADDRESS_PATH_MAX + 8];
    str_copy(key, j->addr, sizeof key);
    str_lower(key);
    enum accounts_rcpt_kind kind =
        r->domain_local ? accounts_resolve(db, key, &j->x) : ACCOUNTS_RCPT_UNKNOWN;
    /* A user or alias named postmaster keeps precedence. */
    if (kind == ACCOUNTS_RCPT_UNKNOWN && is_postmaster(j, r->domain_local)) {
        kind = postmaster_targets(db, j, key);
        r->domain_local = true;
    }
    r->lookup_failed = r->lookup_failed || kind == ACCOUNTS_RCPT_ERROR;
    r->known = kind != ACCOUNTS_RCPT_UNKNOWN && j->x.n > 0;
    return kind;
}

/* rcpt_work - on a lookup thread: the recipient, its alias expanded. */
static void rcpt_work(store_db *db, void *arg)
{
    struct rcpt_job *j = arg;
    if (db == NULL) {
        j->r.lookup_failed = true;
        j->kind = ACCOUNTS_RCPT_ERROR;
        return;
    }
    j->kind = rcpt_lookup(db, j);
}

/* rcpt_known_remote - J is for a domain that is not ours, as the
 * engine's copy of the local domains says (or an address literal), and
 * not for a postmaster: rcpt_lookup's answer, without the store. */
static bool rcpt_known_remote(struct smtp_session *s, struct rcpt_job *j)
{
    int local = j->to.literal ? 0 : policy_domain_local(s->srv->policy, j->to.domain);
    if (local < 0 || !rcpt_elsewhere(j, local))
        return false; /* the lookup thread sets the facts again */
    j->kind = ACCOUNTS_RCPT_UNKNOWN;
    return true;
}

/* rcpt_decided - on the loop, with the lookup's answer: ask the engine,
 * add the targets, answer. */
static void rcpt_decided(struct smtp_session *s, void *arg)
{
    struct rcpt_job *j = arg;
    struct accounts_expansion *x = &j->x;
    struct policy_decision d;
    if (s->closing)
        return;
    if (j->kind == ACCOUNTS_RCPT_LOOP || j->kind == ACCOUNTS_RCPT_TOO_MANY) {
        rcpt_expansion_refused(s, j->kind, x, j->orig);
        return;
    }
    policy_rcpt(s->srv->policy, &s->origin, &s->txn.policy, &j->r, &d);
    if (!smtp_reply_decision(s, &d))
        return;
    int rc = j->r.domain_local || accounts_expansion_set(x, j->addr, false) == 0
                 ? rcpt_accept(s, x, j->orig)
                 : -1;
    if (rc == -2) { /* RFC 5321 4.5.3.1.10: the rest may go in another message */
        smtp_reply(s,
                   "452 4.5.3 <%s>: Too many recipients for one message (%u after lists"
                   " are expanded); send to the rest in another message",
                   j->orig, s->cfg->limits.max_expanded_recipients);
        return;
    }
    if (rc < 0) {
        smtp_reply(s, "451 4.3.0 Out of memory, try again later");
        return;
    }
    s->txn.rcpt_count++;
    s->state = SMTP_STATE_RCPT;
    smtp_reply(s, "250 2.1.5 Ok");
}

/* rcpt_decide - RCPT TO:<TO>: look it up on a lookup thread (an alias of
 * 10,000 takes milliseconds the loop owes every other session), then
 * decide and answer (rcpt_decided).  Mail to another domain is decided at
 * once: the engine knows the local domains (rcpt_known_remote). */
static void rcpt_decide(struct smtp_session *s, const struct mailbox *to, const char *orig)
{
    struct rcpt_job *j = calloc(1, sizeof *j);
    if (j == NULL || (s->cfg->postmaster && (j->postmaster = strdup(s->cfg->postmaster)) == NULL)) {
        free(j);
        smtp_reply(s, "451 4.3.0 Out of memory, try again later");
        return;
    }
    j->to = *to;
    address_format(to, j->addr, sizeof j->addr);
    str_copy(j->orig, orig, sizeof j->orig);
    str_copy(j->hostname, s->cfg->hostname, sizeof j->hostname);
    j->x.max = s->cfg->limits.max_expanded_recipients;
    j->r = (struct policy_rcpt){.orig = j->orig, .domain = j->to.domain, .literal = to->literal};
    if (rcpt_known_remote(s, j)) { /* relayed: nothing to ask the store */
        rcpt_decided(s, j);
        rcpt_job_free(j);
        return;
    }
    smtp_lookup_start(s, rcpt_work, rcpt_decided, rcpt_job_free, j);
}

static void proceed_rcpt(struct smtp_session *s, const struct smtp_command *c)
{
    struct smtp_rcpt_args a;
    enum address_status as = ADDRESS_OK;
    switch (smtp_parse_rcpt(c->args, c->args_len, s->txn.mail.smtputf8, &a, &as)) {
    case SMTP_PARAM_OK:
        break;
    case SMTP_PARAM_UNKNOWN:
        smtp_reply(s, "555 5.5.4 RCPT parameter not recognized");
        return;
    case SMTP_PARAM_ADDRESS:
        reply_address_error(s, as, false);
        return;
    default:
        smtp_reply(s, "501 5.5.4 Syntax: RCPT TO:<address>");
        return;
    }
    /* RFC 5321 4.5.1: <postmaster> without a domain means ours. */
    if (a.to.domain[0] == '\0')
        str_copy(a.to.domain, s->cfg->hostname, sizeof a.to.domain);
    char orig[ADDRESS_PATH_MAX + 8];
    address_format(&a.to, orig, sizeof orig);
    rcpt_decide(s, &a.to, orig);
}

static void proceed_data(struct smtp_session *s, const struct smtp_command *c)
{
    struct policy_decision d;
    policy_data(s->srv->policy, &s->origin, &s->txn.policy, &d);
    if (smtp_reply_decision(s, &d))
        smtp_session_begin_data(s);
}

static void proceed_rset(struct smtp_session *s, const struct smtp_command *c)
{
    smtp_session_reset_transaction(s);
    smtp_reply(s, "250 2.0.0 Ok");
}

static void proceed_noop(struct smtp_session *s, const struct smtp_command *c)
{
    smtp_reply(s, "250 2.0.0 Ok");
}

static void proceed_quit(struct smtp_session *s, const struct smtp_command *c)
{
    smtp_reply(s, "221 2.0.0 Bye");
    smtp_session_close(s);
}

static void proceed_help(struct smtp_session *s, const struct smtp_command *c)
{
    smtp_reply(s, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT HELP VRFY%s%s",
               s->lc->tls == TLS_MODE_STARTTLS ? " STARTTLS" : "",
               s->lc->auth != AUTH_MODE_OFF ? " AUTH" : "");
}

/* proceed_vrfy - RFC 5321 3.5.3: 252 says nothing about whether a user
 * exists, so VRFY cannot harvest addresses. */
static void proceed_vrfy(struct smtp_session *s, const struct smtp_command *c)
{
    if (c->args_len == 0) {
        smtp_reply(s, "501 5.5.4 Syntax: VRFY address");
        return;
    }
    smtp_reply(s, "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery");
}

static void proceed_expn(struct smtp_session *s, const struct smtp_command *c)
{
    smtp_reply(s, "502 5.5.1 EXPN not available");
}

static void proceed_starttls(struct smtp_session *s, const struct smtp_command *c)
{
    smtp_session_starttls(s);
}

static void proceed_auth(struct smtp_session *s, const struct smtp_command *c)
{
    smtp_auth_start(s, c->args, c->args_len);
}

static const struct command_entry commands[] = {
    {SMTP_VERB_HELO, check_helo, proceed_helo},
    {SMTP_VERB_EHLO, check_helo, proceed_helo},
    {SMTP_VERB_MAIL, check_mail, proceed_mail},
    {SMTP_VERB_RCPT, check_rcpt, proceed_rcpt},
    {SMTP_VERB_DATA, check_data, proceed_data},
    {SMTP_VERB_RSET, check_no_args, proceed_rset},
    {SMTP_VERB_NOOP, check_any, proceed_noop},
    {SMTP_VERB_QUIT, check_no_args, proceed_quit},
    {SMTP_VERB_HELP, check_any, proceed_help},
    {SMTP_VERB_VRFY, check_any, proceed_vrfy},
    {SMTP_VERB_EXPN, check_any, proceed_expn},
    {SMTP_VERB_STARTTLS, check_starttls, proceed_starttls},
    {SMTP_VERB_AUTH, check_auth, proceed_auth},
};

/* stage_of - the stage a command's refusal is counted in (smtp/reply.c). */
static const char *stage_of(enum smtp_verb verb)
{
    switch (verb) {
    case SMTP_VERB_HELO:
    case SMTP_VERB_EHLO:
        return "helo";
    case SMTP_VERB_AUTH:
        return "auth";
    case SMTP_VERB_MAIL:
        return "mail";
    case SMTP_VERB_RCPT:
        return "rcpt";
    case SMTP_VERB_DATA:
        return "data";
    default:
        return "other";
    }
}

void smtp_commands_dispatch(struct smtp_session *s, const char *line, size_t len)
{
    struct smtp_command c;
    smtp_command_split(line, len, &c);
    s->stage = stage_of(c.verb);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (commands[i].verb != c.verb)
            continue;
        if (commands[i].check(s, &c))
            commands[i].proceed(s, &c);
        return;
    }
    smtp_reply(s, "500 5.5.1 Command unrecognized");
}
