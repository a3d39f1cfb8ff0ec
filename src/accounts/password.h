/* accounts/password - argon2id hashing with libsodium's crypto_pwhash_str.
 * Both calls take a noticeable time and memory by design: the daemon runs
 * verification on a worker thread, never on the event loop. */
#ifndef FLOODGATE_ACCOUNTS_PASSWORD_H
#define FLOODGATE_ACCOUNTS_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#define PASSWORD_HASH_MAX 128 /* crypto_pwhash_STRBYTES */
#define PASSWORD_MAX 1024     /* longer passwords are refused */

/* password_hash - hash PW into OUT (PASSWORD_HASH_MAX); -1 on failure. */
int password_hash(const char *pw, char *out);
/* password_verify - true when PW matches HASH. */
bool password_verify(const char *hash, const char *pw);
/* password_dummy_hash - a valid hash of a random password, made once, so an
 * AUTH for an unknown user costs the same time as for a real one. */
const char *password_dummy_hash(void);

#endif
