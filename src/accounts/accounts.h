/* accounts/accounts - local domains, users and aliases in the store.
 * Addresses are stored lowercased.  Functions return 0 on success, -1 with
 * ERR set to a sentence an admin can act on ("no such domain example.org:
 * add it first with 'floodctl domain add example.org'"). */
#ifndef FLOODGATE_ACCOUNTS_ACCOUNTS_H
#define FLOODGATE_ACCOUNTS_ACCOUNTS_H

#include <jansson.h>
#include "store/store.h"
#include <stdbool.h>
#include <stddef.h>

#define ALIAS_DEPTH_MAX 8          /* alias chains longer than this are an error */
#define ALIAS_TARGETS_MAX 100000   /* targets one alias may have in the store */
#define ALIAS_EXPANSIONS_MAX 10000 /* distinct aliases one resolve may expand */

int accounts_domain_add(store_db *db, const char *domain, char *err, size_t errlen);
/* accounts_domain_del - refuses while users or aliases remain unless FORCE. */
int accounts_domain_del(store_db *db, const char *domain, bool force, char *err, size_t errlen);
bool accounts_domain_is_local(store_db *db, const char *domain);
/* accounts_domain_local - 1 ours, 0 not, -1 the store could not say. */
int accounts_domain_local(store_db *db, const char *domain);

/* accounts_user_add - HASH is a crypto_pwhash_str string (see password.h);
 * the check of the password's quality is the caller's (password_policy.h). */
int accounts_user_add(store_db *db, const char *address, const char *hash, char *err,
                      size_t errlen);
int accounts_user_del(store_db *db, const char *address, char *err, size_t errlen);
/* accounts_user_set_password - store HASH as the new password of ADDRESS
 * (the old one joins its history).  It cannot check the rule on repeats:
 * a path that has the password in clear uses
 * accounts_user_change_password. */
int accounts_user_set_password(store_db *db, const char *address, const char *hash, char *err,
                               size_t errlen);

/* A new password may not repeat the last ACCOUNTS_PASSWORD_HISTORY
 * passwords of the user (the current one included). */
#define ACCOUNTS_PASSWORD_HISTORY 5
/* accounts_password_reused - 1 when PASSWORD is one of the last
 * ACCOUNTS_PASSWORD_HISTORY passwords of ADDRESS (ERR says so, naming the
 * rule), 0 when not, -1 on a store error (ERR). */
int accounts_password_reused(store_db *db, const char *address, const char *password, char *err,
                             size_t errlen);
/* accounts_user_change_password - every path that sets a user's password
 * from the password itself (floodctl user passwd, the web's /account):
 * refuse a repeat of the last ACCOUNTS_PASSWORD_HISTORY, hash PASSWORD and
 * store it.  Its quality (password_policy.h) is checked before by the
 * caller, which has the config.  0 changed; 1 refused as a repeat (ERR
 * names the rule: the user's mistake); -1 with ERR on a failure. */
int accounts_user_change_password(store_db *db, const char *address, const char *password,
                                  char *err, size_t errlen);

/* accounts_user_credentials - for AUTH: the stored hash of ADDRESS into
 * HASH (HASHLEN >= 128) and whether the account is suspended.  Returns 1
 * when found, 0 when there is no such user, -1 on a store error. */
int accounts_user_credentials(store_db *db, const char *address, char *hash, size_t hashlen,
                              bool *suspended);

/* accounts_user_suspend - suspend (ON) or unsuspend a user: a suspended
 * user's AUTH is refused and its sessions may submit nothing. */
int accounts_user_suspend(store_db *db, const char *address, bool on, char *err, size_t errlen);
/* accounts_user_suspended - true for a suspended user (or a store error). */
bool accounts_user_suspended(store_db *db, const char *address);

/* accounts_alias_add - ADDRESS must be in a local domain and not a user. */
int accounts_alias_add(store_db *db, const char *address, const char *target, char *err,
                       size_t errlen);
/* accounts_alias_del - TARGET NULL removes every target of ADDRESS. */
int accounts_alias_del(store_db *db, const char *address, const char *target, char *err,
                       size_t errlen);

enum accounts_rcpt_kind {
    ACCOUNTS_RCPT_UNKNOWN,
    ACCOUNTS_RCPT_USER,
    ACCOUNTS_RCPT_ALIAS,
    ACCOUNTS_RCPT_ERROR,    /* the store failed: try again later */
    ACCOUNTS_RCPT_LOOP,     /* an alias includes itself, or a chain is too deep */
    ACCOUNTS_RCPT_TOO_MANY, /* the expansion has more than MAX targets */
};

struct accounts_target {
    char *address; /* lowercased; owned by the expansion */
    bool local;    /* a user of a local domain (Maildir here) */
};

/* What one address expands to: an array sized to the result (grown as
 * targets are found), never a fixed table per session. */
struct accounts_expansion {
    size_t max;                /* in: the most targets allowed (0: ALIAS_TARGETS_MAX) */
    struct accounts_target *t; /* out: N targets, no two alike */
    size_t n, cap;
    char why[512]; /* LOOP, TOO_MANY: what happened, for the reply and the log */
};

/* accounts_resolve - what ADDRESS (in a local domain) delivers to, into X
 * (free it with accounts_expansion_free, whatever the result).  A user
 * gives itself; an alias gives its expansion, recursively, read in one
 * read transaction with one query per alias: duplicates removed, at most
 * X->max targets (TOO_MANY), at most ALIAS_DEPTH_MAX aliases deep and no
 * alias inside its own expansion (LOOP, with the chain in X->why: "a ->
 * b -> a").  Remote targets of aliases have local=false. */
enum accounts_rcpt_kind accounts_resolve(store_db *db, const char *address,
                                         struct accounts_expansion *x);
void accounts_expansion_free(struct accounts_expansion *x);
/* accounts_expansion_set - make X the one target ADDRESS (a postmaster
 * fallback, say); -1 out of memory. */
int accounts_expansion_set(struct accounts_expansion *x, const char *address, bool local);

/* accounts_alias_add_many - add every target of the N in TARGETS to alias
 * ADDRESS in one transaction (floodctl alias add --from-file): all or none.
 * *ADDED gets the targets that were new (those already there are kept). */
int accounts_alias_add_many(store_db *db, const char *address, const char *const *targets, size_t n,
                            size_t *added, char *err, size_t errlen);

/* The local domains as one read of the store found them, for the event
 * loop: it answers "is this domain ours?" from memory, so that a MAIL or
 * an RCPT of relayed mail needs no store read (docs/design.md, "The local
 * domains").  Not thread-safe: the set belongs to the thread that made it. */
struct accounts_domain_set;
/* accounts_domain_names - ["example.org", ...], for
 * accounts_domain_set_new; NULL when the store cannot say. */
json_t *accounts_domain_names(store_db *db);
/* accounts_domain_set_new - the set of NAMES (accounts_domain_names'
 * array); NULL when memory runs out. */
struct accounts_domain_set *accounts_domain_set_new(json_t *names);
/* accounts_domain_set_has - accounts_domain_local's answer, from SET: 1
 * when DOMAIN (any case) is one of ours, 0 when not (or not a domain). */
int accounts_domain_set_has(const struct accounts_domain_set *set, const char *domain);
size_t accounts_domain_set_count(const struct accounts_domain_set *set);
void accounts_domain_set_free(struct accounts_domain_set *set);

/* Listings for floodctl: arrays of objects. */
json_t *accounts_domain_list(store_db *db); /* [{name, created, users, aliases}] */
/* accounts_user_list - [{address, created, suspended, password_changed,
 * password_expired, locked_until, totp_enabled, app_passwords, locked_networks}] */
json_t *accounts_user_list(store_db *db, const char *domain);
json_t *accounts_alias_list(store_db *db, const char *domain); /* [{address, target, created}] */

#endif
