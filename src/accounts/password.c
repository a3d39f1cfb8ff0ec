/* accounts/password - argon2id password hashes with libsodium.
 *
 * Room: accounts.  The cost parameters are libsodium's "interactive" ones:
 * an AUTH must answer within a second on a busy server, and the verifying
 * runs on a worker thread, so several may run at once. */
#include "accounts/password.h"

#include <pthread.h>
#include <string.h>

#include <sodium.h>

#include "core/log.h"

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_ok; /* 1 when sodium_init succeeded */

static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static char dummy_hash[PASSWORD_HASH_MAX];
static int dummy_ok;

/* password_sodium_init - run sodium_init exactly once, from any thread. */
static void password_sodium_init(void)
{
    /* sodium_init returns 1 when already initialised elsewhere: also fine. */
    sodium_ok = sodium_init() >= 0;
    if (!sodium_ok)
        log_warnx("event=crypto_error op=sodium_init");
}

/* password_ready - true when libsodium can be used. */
static bool password_ready(void)
{
    if (pthread_once(&sodium_once, password_sodium_init) != 0)
        return false;
    return sodium_ok;
}

/* password_hash - hash PW into OUT (PASSWORD_HASH_MAX); -1 on failure. */
int password_hash(const char *pw, char *out)
{
    _Static_assert(PASSWORD_HASH_MAX >= crypto_pwhash_STRBYTES, "hash buffer too small");
    if (!password_ready() || pw == NULL)
        return -1;
    size_t len = strlen(pw);
    if (len > PASSWORD_MAX)
        return -1;
    if (crypto_pwhash_str(out, pw, len, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
        /* The only documented failure is running out of memory. */
        log_warnx("event=crypto_error op=pwhash error=out_of_memory");
        return -1;
    }
    return 0;
}

/* password_verify - true when PW matches HASH. */
bool password_verify(const char *hash, const char *pw)
{
    if (!password_ready() || hash == NULL || pw == NULL)
        return false;
    size_t len = strlen(pw);
    if (len > PASSWORD_MAX)
        return false;
    /* crypto_pwhash_str_verify reads a NUL-terminated string of at most
     * STRBYTES; a stored value that does not fit cannot be a valid hash. */
    if (strnlen(hash, crypto_pwhash_STRBYTES) >= crypto_pwhash_STRBYTES)
        return false;
    return crypto_pwhash_str_verify(hash, pw, len) == 0;
}

/* password_make_dummy - hash 32 random bytes nobody knows, once. */
static void password_make_dummy(void)
{
    unsigned char raw[32];
    char pw[sizeof raw * 2 + 1];
    if (!password_ready())
        return;
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(pw, sizeof pw, raw, sizeof raw);
    dummy_ok = password_hash(pw, dummy_hash) == 0;
    sodium_memzero(pw, sizeof pw);
    sodium_memzero(raw, sizeof raw);
}

/* password_dummy_hash - a valid hash of a random password, made once.
 * Returns NULL only if it could not be made (out of memory). */
const char *password_dummy_hash(void)
{
    if (pthread_once(&dummy_once, password_make_dummy) != 0 || !dummy_ok)
        return NULL;
    return dummy_hash;
}
