/* delivery/dkim - DKIM signing (RFC 6376, and RFC 8463 for ed25519) of mail
 * from local domains, with libopendkim; and the keys' life cycle. */
#ifndef FLOODGATE_DELIVERY_DKIM_H
#define FLOODGATE_DELIVERY_DKIM_H

#include "core/dkim_check.h"
#include "store/store.h"
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define DKIM_DIR "dkim" /* under state_dir, mode 0700; keys mode 0600 */
/* Room for "SELECTOR._domainkey.DOMAIN" and its NUL. */
#define DKIM_NAME_MAX (64 + sizeof "._domainkey." + 256)

struct dkim_key {
    char domain[256];
    char selector[64];
    char algorithm[16]; /* "rsa" or "ed25519" */
    char *pem;          /* the private key, PEM; wiped by dkim_key_clear */
    size_t pem_len;
};

/* dkim_read_fn, the source of the message octets: core/dkim_check.h */

/* dkim_key_generate - make a key for DOMAIN (RSA 2048 or Ed25519) under
 * STATE_DIR/dkim/ and record it in DB as the one that signs from now on;
 * an older one stays published, retiring, until dkim_key_retire (the
 * admin's rotation: 'floodctl dkim generate --rotate').  -1 and ERR. */
int dkim_key_generate(store_db *db, const char *state_dir, const char *domain, const char *selector,
                      const char *algorithm, char *err, size_t errlen);

/* dkim_key_load - the key of DOMAIN: 1 found, 0 none, -1 error. */
int dkim_key_load(store_db *db, const char *state_dir, const char *domain, struct dkim_key *key,
                  char *err, size_t errlen);
void dkim_key_clear(struct dkim_key *key);
/* dkim_key_load_row - the key of ROW (an object of store_dkim_keys_list:
 * active or retiring) with its PEM: 0, or -1 and ERR. */
int dkim_key_load_row(const char *state_dir, json_t *row, struct dkim_key *key, char *err,
                      size_t errlen);
/* dkim_key_retire - remove the retiring key SELECTOR of DOMAIN (its row and
 * its file): 1 done, 0 no such retiring key, -1 and ERR. */
int dkim_key_retire(store_db *db, const char *state_dir, const char *domain, const char *selector,
                    char *err, size_t errlen);

/* dkim_dns_name - "SELECTOR._domainkey.DOMAIN" (RFC 6376 3.6.2.1) into
 * BUF; -1 and ERR when it does not fit. */
int dkim_dns_name(const struct dkim_key *key, char *buf, size_t len, char *err, size_t errlen);

/* dkim_dns_value - the TXT value to publish for KEY, "v=DKIM1; k=rsa;
 * p=<base64>" (RFC 6376 3.6.1, RFC 8463 4 for ed25519).  malloc'd, or NULL
 * with ERR set. */
char *dkim_dns_value(const struct dkim_key *key, char *err, size_t errlen);

/* dkim_dns_record - the TXT record to publish for KEY:
 * name ("SELECTOR._domainkey.DOMAIN") and value ("v=DKIM1; k=rsa; p=...").
 * Returns a malloc'd "NAME. IN TXT ( "..." "..." )" zone-file line. */
char *dkim_dns_record(const struct dkim_key *key, char *err, size_t errlen);

/* dkim_sign_message - the DKIM-Signature header field (folded, ending in
 * CR LF) for the message read through READ; relaxed/relaxed, a fixed list
 * of signed headers.  malloc'd, or NULL with ERR set.  (Not "dkim_sign":
 * libopendkim exports a function of that name.) */
char *dkim_sign_message(const struct dkim_key *key, dkim_read_fn read, void *ctx, char *err,
                        size_t errlen);

#endif
