/* accounts/accounts - local domains, users and aliases: the rules over the
 * rows of store/accounts.
 *
 * Room: accounts.  What an address and a domain look like, what may be
 * added or removed, and what a list expands to; the SMTP session asks
 * accounts_resolve() and accounts_user_credentials(), floodctl calls the
 * rest.  Addresses and domains are lowercased on the way in, so every
 * lookup in the store is a plain '=' that the primary keys can answer. */
#include "accounts/accounts.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accounts/accounts_internal.h"
#include "accounts/password.h"
#include "core/log.h"
#include "core/strmap.h"
#include "core/util.h"
#include "store/accounts.h"
#include "store/store.h"

#define ADDRESS_LEN_MAX 254 /* RFC 5321 path limit minus the brackets */
#define DOMAIN_LEN_MAX 253  /* RFC 1035 name limit in text form */

/* set_err - format a message for the admin into ERR.  A message cut short
 * by a small buffer is still a message, so truncation is accepted here. */
static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* accounts_store_failed - log it, and tell the admin. */
int accounts_store_failed(store_db *db, const char *op, char *err, size_t errlen)
{
    log_warnx("event=store_error op=%s error=%s", op, log_quote(store_errmsg(db)));
    set_err(err, errlen, "store error during %s: %s", op, store_errmsg(db));
    return -1;
}

/* accounts_no_such_user - one wording for every user command.  An address
 * is at most 254 octets (RFC 5321 4.5.3.1.3); longer input is cut. */
int accounts_no_such_user(const char *address, char *err, size_t errlen)
{
    snprintf(err, errlen, "no such user %.254s: see 'floodctl user list'", address);
    return -1;
}

/* domain_char_ok - letters, digits, '-', '_' and '.' make a host name. */
static bool domain_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

/* norm_domain - lowercase IN into OUT (256) and check it looks like a
 * domain name: no empty labels, only host-name characters. */
static int norm_domain(const char *in, char *out, char *err, size_t errlen)
{
    size_t len = in ? strlen(in) : 0;
    if (len == 0 || len > DOMAIN_LEN_MAX) {
        set_err(err, errlen, "invalid domain '%s': must be 1 to %d characters", in ? in : "",
                DOMAIN_LEN_MAX);
        return -1;
    }
    memcpy(out, in, len + 1);
    str_lower(out);
    for (size_t i = 0; i < len; i++) {
        if (!domain_char_ok(out[i])) {
            set_err(err, errlen, "invalid domain '%s': character '%c' not allowed", in, in[i]);
            return -1;
        }
    }
    if (out[0] == '.' || out[len - 1] == '.' || strstr(out, "..") != NULL) {
        set_err(err, errlen, "invalid domain '%s': empty label", in);
        return -1;
    }
    return 0;
}

/* local_char_ok - anything printable except space and '@' in a local part;
 * quoting and stranger forms are left to the SMTP parser. */
static bool local_char_ok(char c)
{
    return (unsigned char)c > 0x20 && (unsigned char)c != 0x7f && c != '@';
}

/* norm_address - lowercase IN into OUT (256) and check local@domain shape:
 * exactly one '@', non-empty parts, at most ADDRESS_LEN_MAX octets. */
static int norm_address(const char *in, char *out, char *err, size_t errlen)
{
    size_t len = in ? strlen(in) : 0;
    const char *at = in ? strchr(in, '@') : NULL;
    if (len == 0 || len > ADDRESS_LEN_MAX || at == NULL || at == in ||
        strchr(at + 1, '@') != NULL || at[1] == '\0') {
        /* The reason comes first: a long address may be cut short. */
        set_err(err, errlen,
                "invalid address (expected local@domain with one '@', "
                "at most %d characters): '%s'",
                ADDRESS_LEN_MAX, in ? in : "");
        return -1;
    }
    for (const char *p = in; p < at; p++) {
        if (!local_char_ok(*p)) {
            set_err(err, errlen, "invalid address '%s': bad character in local part", in);
            return -1;
        }
    }
    size_t local_len = (size_t)(at - in);
    memcpy(out, in, local_len);
    out[local_len] = '@';
    if (norm_domain(at + 1, out + local_len + 1, err, errlen) < 0)
        return -1;
    str_lower(out);
    return 0;
}

/* addr_domain - the part of a normalised address after its '@'. */
static const char *addr_domain(const char *addr)
{
    const char *at = strrchr(addr, '@');
    return at ? at + 1 : addr;
}

/* is_user - 1 when ADDR (normalised) is a user, 0 if not, -1 on error. */
static int is_user(store_db *db, const char *addr)
{
    return store_accounts_is_user(db, addr);
}

/* is_alias - 1 when ADDR (normalised) has alias targets. */
static int is_alias(store_db *db, const char *addr)
{
    return store_accounts_is_alias(db, addr);
}

/* accounts_domain_is_local - true when DOMAIN is one of ours. */
bool accounts_domain_is_local(store_db *db, const char *domain)
{
    return accounts_domain_local(db, domain) == 1;
}

/* accounts_domain_local - 1 when DOMAIN is one of ours, 0 when not, -1
 * when the store could not say. */
int accounts_domain_local(store_db *db, const char *domain)
{
    char d[256];
    if (norm_domain(domain, d, NULL, 0) < 0)
        return 0;
    return store_accounts_is_domain(db, d);
}

json_t *accounts_domain_names(store_db *db)
{
    return store_accounts_domain_names(db);
}

/* A set is a map of the normalized names (norm_domain) to a marker. */
struct accounts_domain_set {
    struct strmap *names;
};

struct accounts_domain_set *accounts_domain_set_new(json_t *names)
{
    struct accounts_domain_set *set = calloc(1, sizeof *set);
    if (set == NULL || (set->names = strmap_new()) == NULL) {
        free(set);
        return NULL;
    }
    static char present; /* the value of every entry: only the key matters */
    char d[256];
    json_t *v;
    size_t i;
    json_array_foreach(names, i, v)
    {
        /* a name stored by other means than floodctl, and not valid: it
         * could not match (accounts_domain_local neither) */
        if (norm_domain(json_string_value(v), d, NULL, 0) < 0)
            continue;
        if (strmap_put(set->names, d, &present, NULL) < 0) {
            accounts_domain_set_free(set);
            return NULL;
        }
    }
    return set;
}

int accounts_domain_set_has(const struct accounts_domain_set *set, const char *domain)
{
    char d[256];
    if (norm_domain(domain, d, NULL, 0) < 0)
        return 0;
    return strmap_get(set->names, d) != NULL;
}

size_t accounts_domain_set_count(const struct accounts_domain_set *set)
{
    return strmap_count(set->names);
}

void accounts_domain_set_free(struct accounts_domain_set *set)
{
    if (set == NULL)
        return;
    strmap_free(set->names, NULL);
    free(set);
}

/* accounts_domain_add - make DOMAIN local. */
int accounts_domain_add(store_db *db, const char *domain, char *err, size_t errlen)
{
    char d[256];
    if (norm_domain(domain, d, err, errlen) < 0)
        return -1;
    int rc = store_accounts_domain_insert(db, d, (long long)time(NULL));
    if (rc == -2) {
        set_err(err, errlen, "domain %s already exists: see 'floodctl domain list'", d);
        return -1;
    }
    if (rc < 0)
        return accounts_store_failed(db, "domain add", err, errlen);
    log_info("event=domain_added domain=%s", log_quote(d));
    return 0;
}

/* accounts_domain_del - refuses while users or aliases remain unless FORCE. */
int accounts_domain_del(store_db *db, const char *domain, bool force, char *err, size_t errlen)
{
    char d[256], why[256];
    long long users = 0, aliases = 0;
    if (norm_domain(domain, d, err, errlen) < 0)
        return -1;
    if (store_begin(db, true, why, sizeof why) < 0)
        return accounts_store_failed(db, "domain del", err, errlen);
    if (store_accounts_domain_count(db, d, &users, &aliases) < 0)
        goto store_error;
    if (!force && users + aliases > 0) {
        store_rollback(db);
        set_err(err, errlen,
                "domain %s still has %lld user(s) and %lld alias(es): remove them first "
                "or run 'floodctl domain del %s --force'",
                d, users, aliases, d);
        return -1;
    }
    int changed = store_accounts_domain_delete(db, d);
    if (changed < 0)
        goto store_error;
    if (changed == 0) {
        store_rollback(db);
        set_err(err, errlen, "no such domain %s: see 'floodctl domain list'", d);
        return -1;
    }
    if (store_commit(db, why, sizeof why) < 0)
        goto store_error;
    log_info("event=domain_deleted domain=%s users=%lld aliases=%lld", log_quote(d), users,
             aliases);
    return 0;
store_error:
    accounts_store_failed(db, "domain del", err, errlen);
    store_rollback(db);
    return -1;
}

/* check_new_user - refuse a user whose domain is not local or whose
 * address already names an alias (the two would fight over delivery). */
static int check_new_user(store_db *db, const char *a, char *err, size_t errlen)
{
    const char *d = addr_domain(a);
    int local = store_accounts_is_domain(db, d);
    if (local < 0)
        return accounts_store_failed(db, "user add", err, errlen);
    if (local == 0) {
        set_err(err, errlen, "no such domain %s: add it first with 'floodctl domain add %s'", d, d);
        return -1;
    }
    int alias = is_alias(db, a);
    if (alias < 0)
        return accounts_store_failed(db, "user add", err, errlen);
    if (alias == 1) {
        set_err(err, errlen, "%s is an alias: remove it first with 'floodctl alias del %s'", a, a);
        return -1;
    }
    return 0;
}

/* accounts_user_add - HASH is a crypto_pwhash_str string (see password.h). */
int accounts_user_add(store_db *db, const char *address, const char *hash, char *err, size_t errlen)
{
    char a[256];
    if (norm_address(address, a, err, errlen) < 0)
        return -1;
    if (hash == NULL || hash[0] == '\0') {
        set_err(err, errlen, "user %s: no password hash given", a);
        return -1;
    }
    if (check_new_user(db, a, err, errlen) < 0)
        return -1;
    int rc = store_accounts_user_insert(db, a, addr_domain(a), hash, (long long)time(NULL));
    if (rc == -2) {
        set_err(err, errlen,
                "user %s already exists: change its password with "
                "'floodctl user passwd %s'",
                a, a);
        return -1;
    }
    if (rc < 0)
        return accounts_store_failed(db, "user add", err, errlen);
    log_info("event=user_added user=%s", log_quote(a));
    return 0;
}

/* The writes change_user makes: one row of user A, with VALUE. */
typedef int (*user_write)(store_db *db, const char *a, const char *value);

/* write_delete - remove user A. */
static int write_delete(store_db *db, const char *a, const char *value)
{
    (void)value;
    return store_accounts_user_delete(db, a);
}

/* write_password - VALUE is the new hash; the replaced one is kept in
 * the history (the current one and ACCOUNTS_PASSWORD_HISTORY - 1 more). */
static int write_password(store_db *db, const char *a, const char *value)
{
    return store_accounts_user_set_password(db, a, value, (long long)time(NULL),
                                            ACCOUNTS_PASSWORD_HISTORY - 1);
}

/* write_suspend / write_unsuspend - the suspension of A. */
static int write_suspend(store_db *db, const char *a, const char *value)
{
    (void)value;
    return store_accounts_user_set_suspended(db, a, true);
}

static int write_unsuspend(store_db *db, const char *a, const char *value)
{
    (void)value;
    return store_accounts_user_set_suspended(db, a, false);
}

/* change_user - WRITE (with VALUE) one existing user, ADDRESS normalised
 * first; OP names the change in errors, EVENT in the log. */
static int change_user(store_db *db, user_write write, const char *address, const char *value,
                       const char *op, const char *event, char *err, size_t errlen)
{
    char a[256];
    if (norm_address(address, a, err, errlen) < 0)
        return -1;
    int rc = write(db, a, value);
    if (rc < 0)
        return accounts_store_failed(db, op, err, errlen);
    if (rc == 0)
        return accounts_no_such_user(a, err, errlen);
    log_info("event=%s user=%s", event, log_quote(a));
    return 0;
}

/* accounts_user_del - remove a user. */
int accounts_user_del(store_db *db, const char *address, char *err, size_t errlen)
{
    return change_user(db, write_delete, address, NULL, "user del", "user_deleted", err, errlen);
}

/* accounts_user_set_password - replace the stored hash of a user; a new
 * password is a fresh one: no longer expired, its age counted from now. */
int accounts_user_set_password(store_db *db, const char *address, const char *hash, char *err,
                               size_t errlen)
{
    if (hash == NULL || hash[0] == '\0') {
        set_err(err, errlen, "user %s: no password hash given", address);
        return -1;
    }
    return change_user(db, write_password, address, hash, "user passwd", "password_changed", err,
                       errlen);
}

/* accounts_password_reused - PASSWORD against the user's current hash and
 * its history: one argon2id verification each (at most
 * ACCOUNTS_PASSWORD_HISTORY), as AUTH would. */
int accounts_password_reused(store_db *db, const char *address, const char *password, char *err,
                             size_t errlen)
{
    char a[256], hashes[ACCOUNTS_PASSWORD_HISTORY][STORE_HASH_MAX];
    if (norm_address(address, a, err, errlen) < 0)
        return -1;
    int n = store_accounts_recent_passwords(db, a, hashes, ACCOUNTS_PASSWORD_HISTORY);
    if (n < 0)
        return accounts_store_failed(db, "user passwd", err, errlen);
    bool reused = false;
    for (int i = 0; i < n && !reused; i++)
        reused = password_verify(hashes[i], password);
    if (reused)
        set_err(err, errlen,
                "the new password of %s repeats one of its last %d passwords, which is not "
                "allowed: choose a password it has not had before",
                a, ACCOUNTS_PASSWORD_HISTORY);
    return reused ? 1 : 0;
}

/* accounts_user_change_password - the rule on repeats, then the hash and
 * the write (see accounts.h). */
int accounts_user_change_password(store_db *db, const char *address, const char *password,
                                  char *err, size_t errlen)
{
    char hash[PASSWORD_HASH_MAX];
    int reused = accounts_password_reused(db, address, password, err, errlen);
    if (reused != 0)
        return reused;
    if (password_hash(password, hash) < 0) {
        set_err(err, errlen, "cannot hash the password (out of memory?)");
        return -1;
    }
    return accounts_user_set_password(db, address, hash, err, errlen);
}

/* accounts_user_suspend - ON: the user can no longer log in or submit. */
int accounts_user_suspend(store_db *db, const char *address, bool on, char *err, size_t errlen)
{
    return change_user(db, on ? write_suspend : write_unsuspend, address, NULL, "user suspend",
                       on ? "user_suspended" : "user_unsuspended", err, errlen);
}

/* accounts_user_suspended - is ADDRESS a suspended user?  (A store error
 * answers yes: better to refuse a submission than to let a frozen account
 * through.) */
bool accounts_user_suspended(store_db *db, const char *address)
{
    char hash[PASSWORD_HASH_MAX];
    bool suspended = false;
    int found = accounts_user_credentials(db, address, hash, sizeof hash, &suspended);
    return found < 0 || (found == 1 && suspended);
}

/* accounts_user_credentials - the stored hash and suspension of a user. */
int accounts_user_credentials(store_db *db, const char *address, char *hash, size_t hashlen,
                              bool *suspended)
{
    char a[256];
    if (norm_address(address, a, NULL, 0) < 0)
        return 0; /* not an address, so certainly not a user */
    return store_accounts_user_credentials(db, a, hash, hashlen, suspended);
}

/* check_new_alias - the alias must be in a local domain, not a user, and
 * not over ALIAS_TARGETS_MAX targets with ADDING more. */
static int check_new_alias(store_db *db, const char *a, size_t adding, char *err, size_t errlen)
{
    const char *d = addr_domain(a);
    int local = store_accounts_is_domain(db, d);
    int user = local == 1 ? is_user(db, a) : 0;
    long long n = user == 0 ? store_accounts_alias_count(db, a) : 0;
    if (local < 0 || user < 0 || n < 0)
        return accounts_store_failed(db, "alias add", err, errlen);
    if (local == 0) {
        set_err(err, errlen, "no such domain %s: add it first with 'floodctl domain add %s'", d, d);
        return -1;
    }
    if (user == 1) {
        set_err(err, errlen, "%s is a user: an address cannot be both a user and an alias", a);
        return -1;
    }
    if ((unsigned long long)n + adding > ALIAS_TARGETS_MAX) {
        set_err(err, errlen, "alias %s has %lld targets: %zu more would pass the most allowed, %d",
                a, n, adding, ALIAS_TARGETS_MAX);
        return -1;
    }
    return 0;
}

static int alias_would_loop(store_db *db, const char *a, const char *t, char *why, size_t len);

/* check_target - TARGET (normalised into T) may be a target of alias A:
 * not A itself, and not an alias whose members include A (a loop that
 * every message to either would be refused for at RCPT). */
static int check_target(store_db *db, const char *a, const char *target, char *t, char *err,
                        size_t errlen)
{
    char why[512];
    if (norm_address(target, t, err, errlen) < 0)
        return -1;
    if (strcmp(a, t) == 0) {
        set_err(err, errlen, "alias %s cannot point to itself", a);
        return -1;
    }
    int loop = alias_would_loop(db, a, t, why, sizeof why);
    if (loop < 0)
        return accounts_store_failed(db, "alias add", err, errlen);
    if (loop > 0) {
        set_err(err, errlen, "%s -> %s would make a loop (%s): add the members of %s to %s instead",
                a, t, why, t, a);
        return -1;
    }
    return 0;
}

/* accounts_alias_add - ADDRESS must be in a local domain and not a user. */
int accounts_alias_add(store_db *db, const char *address, const char *target, char *err,
                       size_t errlen)
{
    char a[256], t[256];
    if (norm_address(address, a, err, errlen) < 0 ||
        check_target(db, a, target, t, err, errlen) < 0)
        return -1;
    if (check_new_alias(db, a, 1, err, errlen) < 0)
        return -1;
    int rc = store_accounts_alias_insert(db, a, t, (long long)time(NULL));
    if (rc == -2) {
        set_err(err, errlen, "alias %s -> %s already exists: see 'floodctl alias list'", a, t);
        return -1;
    }
    if (rc < 0)
        return accounts_store_failed(db, "alias add", err, errlen);
    log_info("event=alias_added alias=%s target=%s", log_quote(a), log_quote(t));
    return 0;
}

/* insert_targets - each of TARGETS into alias A unless there already;
 * *ADDED counts the new ones.  -1 with ERR. */
static int insert_targets(store_db *db, const char *a, const char *const *targets, size_t n,
                          size_t *added, char *err, size_t errlen)
{
    char t[256];
    long long now = (long long)time(NULL);
    for (size_t i = 0; i < n; i++) {
        if (check_target(db, a, targets[i], t, err, errlen) < 0)
            return -1;
        int rc = store_accounts_alias_insert_new(db, a, t, now);
        if (rc < 0)
            return accounts_store_failed(db, "alias add", err, errlen);
        *added += (size_t)rc;
    }
    return 0;
}

/* accounts_alias_add_many - all of TARGETS into alias ADDRESS, or none. */
int accounts_alias_add_many(store_db *db, const char *address, const char *const *targets, size_t n,
                            size_t *added, char *err, size_t errlen)
{
    char a[256];
    *added = 0;
    if (norm_address(address, a, err, errlen) < 0)
        return -1;
    if (store_begin(db, true, err, errlen) < 0)
        return accounts_store_failed(db, "alias add", err, errlen);
    if (check_new_alias(db, a, n, err, errlen) < 0 ||
        insert_targets(db, a, targets, n, added, err, errlen) < 0 ||
        store_commit(db, err, errlen) < 0) {
        store_rollback(db);
        *added = 0;
        return -1;
    }
    log_info("event=alias_added alias=%s targets=%zu", log_quote(a), *added);
    return 0;
}

/* accounts_alias_del - TARGET NULL removes every target of ADDRESS. */
int accounts_alias_del(store_db *db, const char *address, const char *target, char *err,
                       size_t errlen)
{
    char a[256], t[256];
    int rc;
    if (norm_address(address, a, err, errlen) < 0)
        return -1;
    if (target != NULL) {
        if (norm_address(target, t, err, errlen) < 0)
            return -1;
        rc = store_accounts_alias_delete(db, a, t);
    } else {
        rc = store_accounts_alias_delete(db, a, NULL);
    }
    if (rc < 0)
        return accounts_store_failed(db, "alias del", err, errlen);
    if (rc == 0) {
        if (target != NULL)
            set_err(err, errlen, "alias %s has no target %s: see 'floodctl alias list'", a, t);
        else
            set_err(err, errlen, "no such alias %s: see 'floodctl alias list'", a);
        return -1;
    }
    log_info("event=alias_deleted alias=%s target=%s targets=%d", log_quote(a),
             log_quote(target ? t : NULL), rc);
    return 0;
}

/* The state of one accounts_resolve call. */
struct resolve {
    store_db *db;
    struct store_targets *targets; /* one alias's targets, classified: reused for every alias */
    struct accounts_expansion *x;
    struct strmap *seen;                   /* targets and aliases met so far: each counted once */
    const char *path[ALIAS_DEPTH_MAX + 1]; /* the aliases being expanded, outermost first */
    unsigned expansions;                   /* aliases expanded, against ALIAS_EXPANSIONS_MAX */
};

/* Marks in R->seen: an address already in the result, an alias already
 * expanded, an alias being expanded (on the path: meeting it again is a
 * loop). */
static char mark_target, mark_done, mark_open;

/* resolve_add - append ADDR to the result unless already there; -1 (with
 * X->why) when the result would pass its maximum: delivering to part of a
 * list silently would lose mail, so the caller refuses the whole. */
static int resolve_add(struct resolve *r, const char *addr, bool local)
{
    struct accounts_expansion *x = r->x;
    if (strmap_get(r->seen, addr) != NULL)
        return 0;
    if (x->n >= x->max) {
        snprintf(x->why, sizeof x->why, "more than %zu recipients", x->max);
        return -2;
    }
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 8;
        struct accounts_target *t = realloc(x->t, cap * sizeof *t);
        if (t == NULL)
            return -1;
        x->t = t;
        x->cap = cap;
    }
    char *copy = strdup(addr);
    if (copy == NULL || strmap_put(r->seen, addr, &mark_target, NULL) < 0) {
        free(copy);
        return -1;
    }
    x->t[x->n++] = (struct accounts_target){.address = copy, .local = local};
    return 0;
}

/* loop_chain - the path from the first time ALIAS was opened down to
 * DEPTH, and ALIAS again, as "a -> b -> a" into R->x->why. */
static void loop_chain(struct resolve *r, unsigned depth, const char *alias)
{
    size_t o = 0, len = sizeof r->x->why;
    unsigned from = 0;
    while (from < depth && strcmp(r->path[from], alias) != 0)
        from++;
    r->x->why[0] = '\0';
    for (unsigned i = from; i < depth && o < len; i++)
        o += (size_t)snprintf(r->x->why + o, len - o, "%s -> ", r->path[i]);
    if (o < len)
        snprintf(r->x->why + o, len - o, "%s", alias);
}

static int resolve_alias(struct resolve *r, const char *alias, unsigned depth);

/* The aliases met among one alias's targets (struct read_targets's SUB). */
struct targets_read {
    struct resolve *r;
    const char *alias;
    char **sub;
    size_t n, cap;
};

/* read_one - one target T of kind K: a user or a remote address joins the
 * result at once, an alias is kept for later. */
static int read_one(void *arg, const char *t, enum store_target_kind k)
{
    struct targets_read *tr = arg;
    struct resolve *r = tr->r;
    /* an alias being expanded, or about to get its first target
     * (alias_would_loop): met again, it is a loop whatever its rows */
    if (strmap_get(r->seen, t) == &mark_open)
        k = STORE_TARGET_ALIAS;
    if (k == STORE_TARGET_USER || k == STORE_TARGET_REMOTE)
        return resolve_add(r, t, k == STORE_TARGET_USER);
    if (k == STORE_TARGET_DANGLING) {
        log_warnx("event=alias_dangling alias=%s target=%s", log_quote(tr->alias), log_quote(t));
        return 0;
    }
    if (tr->n == tr->cap) {
        size_t cap = tr->cap ? tr->cap * 2 : 4;
        char **more = realloc(tr->sub, cap * sizeof *more);
        if (more == NULL)
            return -1;
        tr->sub = more;
        tr->cap = cap;
    }
    if ((tr->sub[tr->n] = strdup(t)) == NULL)
        return -1;
    tr->n++;
    return 0;
}

/* read_targets - step through ALIAS's targets: users and remote addresses
 * join the result at once, the aliases among them are collected into
 * *SUB (to expand once the statement is done, so that the one statement
 * serves every level).  Returns the number of SUB entries, or <0. */
static int read_targets(struct resolve *r, const char *alias, char ***sub)
{
    struct targets_read tr = {.r = r, .alias = alias};
    int err = store_targets_read(r->targets, alias, read_one, &tr);
    if (err < 0) {
        for (size_t i = 0; i < tr.n; i++)
            free(tr.sub[i]);
        free(tr.sub);
        *sub = NULL;
        return err;
    }
    *sub = tr.sub;
    return (int)tr.n;
}

/* resolve_alias - expand ALIAS at DEPTH (1: the address itself) into R.
 * 0 when done, -1 on a store error or no memory, -2 too many targets, -3
 * a loop or a chain too deep (R->x->why says which). */
static int resolve_alias(struct resolve *r, const char *alias, unsigned depth)
{
    void *mark = strmap_get(r->seen, alias);
    if (mark == &mark_open) {
        loop_chain(r, depth - 1, alias);
        return -3;
    }
    if (mark == &mark_done) /* a list inside two lists: its members are in already */
        return 0;
    if (depth > ALIAS_DEPTH_MAX) {
        snprintf(r->x->why, sizeof r->x->why, "aliases nested more than %d deep, at %s",
                 ALIAS_DEPTH_MAX, alias);
        return -3;
    }
    if (++r->expansions > ALIAS_EXPANSIONS_MAX) {
        snprintf(r->x->why, sizeof r->x->why, "more than %d aliases inside %s",
                 ALIAS_EXPANSIONS_MAX, r->path[0]);
        return -2;
    }
    if (strmap_put(r->seen, alias, &mark_open, NULL) < 0)
        return -1;
    r->path[depth - 1] = alias;
    char **sub;
    int n = read_targets(r, alias, &sub), rc = n < 0 ? n : 0;
    for (int i = 0; i < n; i++) {
        if (rc == 0)
            rc = resolve_alias(r, sub[i], depth + 1);
        free(sub[i]);
    }
    free(sub);
    if (rc == 0 && strmap_put(r->seen, alias, &mark_done, NULL) < 0)
        rc = -1;
    return rc;
}

/* resolve_expand - expand alias A into X inside one read transaction, so
 * that an admin changing the list meanwhile is seen whole or not at all. */
static enum accounts_rcpt_kind resolve_expand(store_db *db, const char *a,
                                              struct accounts_expansion *x)
{
    struct resolve r = {.db = db, .x = x, .seen = strmap_new()};
    char err[128];
    bool txn = store_read_begin(db);
    r.targets = r.seen ? store_targets_open(db) : NULL;
    int rc = r.targets ? resolve_alias(&r, a, 1) : -1;
    store_targets_close(r.targets);
    strmap_free(r.seen, NULL);
    if (txn)
        store_commit(db, err, sizeof err);
    if (rc < 0) /* a part of a list is no answer */
        accounts_expansion_free(x);
    if (rc == -1)
        log_warnx("event=store_error op=alias_expand alias=%s error=%s", log_quote(a),
                  log_quote(store_errmsg(db)));
    else if (rc < 0)
        log_warnx("event=alias_error alias=%s error=%s why=%s", log_quote(a),
                  rc == -2 ? "too_many" : "loop", log_quote(x->why));
    return rc == 0    ? ACCOUNTS_RCPT_ALIAS
           : rc == -2 ? ACCOUNTS_RCPT_TOO_MANY
           : rc == -3 ? ACCOUNTS_RCPT_LOOP
                      : ACCOUNTS_RCPT_ERROR;
}

/* alias_would_loop - would A -> T close a loop, T reaching A?  1 with the
 * loop as "a -> t -> ... -> a" in WHY, 0 when not, -1 on a store error.
 * The same walk as a delivery's, with A open at the top. */
static int alias_would_loop(store_db *db, const char *a, const char *t, char *why, size_t len)
{
    int alias = is_alias(db, t);
    if (alias <= 0)
        return alias;
    struct accounts_expansion x = {.max = ALIAS_TARGETS_MAX};
    struct resolve r = {.db = db, .x = &x, .seen = strmap_new(), .path = {a}};
    int rc = r.seen && strmap_put(r.seen, a, &mark_open, NULL) == 0 ? 0 : -1;
    if (rc == 0 && (r.targets = store_targets_open(db)) == NULL)
        rc = -1;
    if (rc == 0)
        rc = resolve_alias(&r, t, 2);
    store_targets_close(r.targets);
    strmap_free(r.seen, NULL);
    accounts_expansion_free(&x);
    if (rc == -3 && strncmp(x.why, a, strlen(a)) == 0 && x.why[strlen(a)] == ' ') {
        snprintf(why, len, "%s", x.why);
        return 1;
    }
    return rc == -1 ? -1 : 0; /* a loop further down, or too big: RCPT will say */
}

/* accounts_resolve - what ADDRESS (in a local domain) delivers to. */
enum accounts_rcpt_kind accounts_resolve(store_db *db, const char *address,
                                         struct accounts_expansion *x)
{
    char a[256];
    accounts_expansion_free(x);
    x->why[0] = '\0';
    if (x->max == 0)
        x->max = ALIAS_TARGETS_MAX;
    if (norm_address(address, a, NULL, 0) < 0)
        return ACCOUNTS_RCPT_UNKNOWN;
    int user = is_user(db, a);
    if (user < 0)
        return ACCOUNTS_RCPT_ERROR;
    if (user == 1)
        return accounts_expansion_set(x, a, true) < 0 ? ACCOUNTS_RCPT_ERROR : ACCOUNTS_RCPT_USER;
    int alias = is_alias(db, a);
    if (alias <= 0)
        return alias < 0 ? ACCOUNTS_RCPT_ERROR : ACCOUNTS_RCPT_UNKNOWN;
    return resolve_expand(db, a, x);
}

/* accounts_expansion_set - X is the one target ADDRESS. */
int accounts_expansion_set(struct accounts_expansion *x, const char *address, bool local)
{
    accounts_expansion_free(x);
    if ((x->t = malloc(sizeof *x->t)) == NULL || (x->t->address = strdup(address)) == NULL)
        return -1; /* x->n is 0: accounts_expansion_free frees x->t */
    x->t->local = local;
    x->n = x->cap = 1;
    return 0;
}

/* accounts_expansion_free - the targets of X, and X ready for reuse. */
void accounts_expansion_free(struct accounts_expansion *x)
{
    for (size_t i = 0; i < x->n; i++)
        free(x->t[i].address);
    free(x->t);
    x->t = NULL;
    x->n = x->cap = 0;
}

/* accounts_domain_list - [{name, created, users, aliases}] */
json_t *accounts_domain_list(store_db *db)
{
    return store_accounts_domain_list(db);
}

/* accounts_user_list - [{address, created, suspended, password_changed,
 * password_expired, locked_until, totp_enabled, app_passwords}] */
json_t *accounts_user_list(store_db *db, const char *domain)
{
    char d[256];
    if (domain != NULL && norm_domain(domain, d, NULL, 0) < 0)
        return json_array(); /* no domain by that name can exist */
    return store_accounts_user_list(db, domain ? d : NULL);
}

/* accounts_alias_list - [{address, target, created}] */
json_t *accounts_alias_list(store_db *db, const char *domain)
{
    char d[256];
    if (domain != NULL && norm_domain(domain, d, NULL, 0) < 0)
        return json_array(); /* no domain by that name can exist */
    return store_accounts_alias_list(db, domain ? d : NULL);
}
