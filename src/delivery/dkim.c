/* delivery/dkim - DKIM keys and signing.
 *
 * Room: delivery.  A key is made with OpenSSL (RSA 2048, or Ed25519 as
 * RFC 8463 allows), written as PKCS#8 PEM to STATE_DIR/dkim/DOMAIN.SELECTOR.key
 * (mode 0600, in a 0700 directory) and recorded in the dkim_keys table of
 * the store.  Signing hands the PEM to libopendkim, which does the
 * canonicalisation and hashing of RFC 6376; this file only feeds it the
 * message and folds the header it returns.  The library handle is made
 * once and shared: libopendkim allows one DKIM_LIB with many signing
 * handles on different threads. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <opendkim/dkim.h>

#include "core/log.h"
#include "core/util.h"
#include "delivery/dkim.h"
#include "store/dkim_keys.h"
#include "store/store.h"

#define RSA_BITS 2048      /* RFC 8301 3.2: at least 1024, 2048 advised */
#define ED25519_PUB_LEN 32 /* RFC 8032 5.1.5 */
#define KEY_FILE_MAX 65536 /* a PEM key is a few KiB; anything larger is not ours */
#define READ_CHUNK 65536   /* message octets handed to dkim_chunk at a time */
#define TXT_STRING_MAX 255 /* RFC 1035 3.3.14: one <character-string> */
#define SIG_FIELD "DKIM-Signature"
#define JOB_ID "floodgate" /* libopendkim's label for the message in its errors */
#define DOMAIN_MAX 253     /* RFC 1035 2.3.4, without the final dot */
#define SELECTOR_MAX 63    /* fits struct dkim_key; one DNS label's worth */

/* The headers signed when present (RFC 6376 5.4.1 lists these as the ones
 * worth signing; "from" is required by 5.4).  libopendkim signs only those
 * the message has. */
static const char *sign_headers[] = {"from",
                                     "to",
                                     "cc",
                                     "subject",
                                     "date",
                                     "message-id",
                                     "reply-to",
                                     "mime-version",
                                     "content-type",
                                     "content-transfer-encoding",
                                     "in-reply-to",
                                     "references",
                                     NULL};

/* From is signed once more than it occurs, so that a From added in
 * transit breaks the signature (RFC 6376 8.15, "over-signing"). */
static const char *oversign_headers[] = {"from", NULL};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static DKIM_LIB *lib;
static const char *lib_error; /* why LIB is NULL */

/* -------------------------------------------------------------- names */

/* label_char - a letter, digit or hyphen: the LDH rule of RFC 5890 2.3.1,
 * which keeps DKIM names safe both in DNS and as file names. */
static bool label_char(char c)
{
    return isalnum((unsigned char)c) || c == '-';
}

/* dns_name_ok - S is dot-separated LDH labels of 1..63 octets, at most MAX
 * octets in all, with no label starting or ending with '-'. */
static bool dns_name_ok(const char *s, size_t max)
{
    size_t len = strlen(s), label = 0;
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i <= len; i++) {
        if (s[i] == '.' || s[i] == '\0') {
            if (label == 0 || label > 63 || s[i - 1] == '-' || s[i - label] == '-')
                return false;
            label = 0;
        } else if (!label_char(s[i])) {
            return false;
        } else {
            label++;
        }
    }
    return true;
}

/* names_check - DOMAIN, SELECTOR and ALGORITHM are fit for a key. */
static int names_check(const char *domain, const char *selector, const char *algorithm, char *err,
                       size_t errlen)
{
    if (!dns_name_ok(domain, DOMAIN_MAX)) {
        snprintf(err, errlen, "invalid domain '%s': expected letters, digits, '-' and '.'", domain);
        return -1;
    }
    /* The selector is a DNS name too (RFC 6376 3.1). */
    if (!dns_name_ok(selector, SELECTOR_MAX)) {
        snprintf(err, errlen,
                 "invalid selector '%s': expected letters, digits, '-' and '.', "
                 "at most 63 characters",
                 selector);
        return -1;
    }
    if (strcmp(algorithm, "rsa") != 0 && strcmp(algorithm, "ed25519") != 0) {
        snprintf(err, errlen, "unknown algorithm '%s': expected rsa or ed25519", algorithm);
        return -1;
    }
    return 0;
}

/* key_names - fill KEY's domain, selector and algorithm, lowercased
 * (DNS names compare without case, RFC 4343), after checking them. */
static int key_names(struct dkim_key *key, const char *domain, const char *selector,
                     const char *algorithm, char *err, size_t errlen)
{
    if (!str_copy(key->domain, domain, sizeof key->domain) ||
        !str_copy(key->selector, selector, sizeof key->selector) ||
        !str_copy(key->algorithm, algorithm, sizeof key->algorithm)) {
        snprintf(err, errlen, "domain, selector or algorithm too long");
        return -1;
    }
    str_lower(key->domain);
    str_lower(key->selector);
    str_lower(key->algorithm);
    return names_check(key->domain, key->selector, key->algorithm, err, errlen);
}

/* path_join - "A/B" (and "/C" when C is not NULL) into BUF; -1 and ERR when
 * it does not fit. */
static int path_join(char *buf, size_t len, const char *a, const char *b, const char *c, char *err,
                     size_t errlen)
{
    int n = snprintf(buf, len, "%s/%s%s%s", a, b, c ? "/" : "", c ? c : "");
    if (n < 0 || (size_t)n >= len) {
        snprintf(err, errlen, "%s/%s: path too long", a, b);
        return -1;
    }
    return 0;
}

/* --------------------------------------------------------- OpenSSL glue */

/* ssl_error - the last OpenSSL error as text after WHAT, into ERR. */
static void ssl_error(const char *what, char *err, size_t errlen)
{
    char buf[256];
    unsigned long e = ERR_get_error();
    ERR_error_string_n(e, buf, sizeof buf);
    snprintf(err, errlen, "%s: %s", what, e ? buf : "unknown OpenSSL error");
    ERR_clear_error();
}

/* pem_of - PKEY as PKCS#8 PEM (the "BEGIN PRIVATE KEY" form, which both
 * OpenSSL and libopendkim read for RSA and Ed25519) into *PEM, *LEN. */
static int pem_of(EVP_PKEY *pkey, char **pem, size_t *len, char *err, size_t errlen)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data;
    if (bio == NULL || !PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL)) {
        ssl_error("cannot encode the private key", err, errlen);
        BIO_free(bio);
        return -1;
    }
    long n = BIO_get_mem_data(bio, &data);
    *pem = n > 0 ? malloc((size_t)n + 1) : NULL;
    if (*pem == NULL) {
        snprintf(err, errlen, "out of memory");
        BIO_free_all(bio);
        return -1;
    }
    memcpy(*pem, data, (size_t)n);
    (*pem)[n] = '\0';
    *len = (size_t)n;
    OPENSSL_cleanse(data, (size_t)n); /* the memory BIO held the secret too */
    BIO_free_all(bio);
    return 0;
}

/* key_make - a fresh private key of ALGORITHM as PEM into *PEM, *LEN. */
static int key_make(const char *algorithm, char **pem, size_t *len, char *err, size_t errlen)
{
    EVP_PKEY *pkey = strcmp(algorithm, "rsa") == 0
                         ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)RSA_BITS)
                         : EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (pkey == NULL) {
        ssl_error("cannot generate the key", err, errlen);
        return -1;
    }
    int rc = pem_of(pkey, pem, len, err, errlen);
    EVP_PKEY_free(pkey);
    return rc;
}

/* pkey_of - KEY's PEM parsed by OpenSSL, or NULL with ERR set. */
static EVP_PKEY *pkey_of(const struct dkim_key *key, char *err, size_t errlen)
{
    if (key->pem == NULL || key->pem_len > INT_MAX) {
        snprintf(err, errlen, "%s: no key loaded", key->domain);
        return NULL;
    }
    BIO *bio = BIO_new_mem_buf(key->pem, (int)key->pem_len);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (pkey == NULL)
        ssl_error("cannot read the private key", err, errlen);
    return pkey;
}

/* base64_of - the base64 (RFC 4648 4, no line breaks) of N octets at DATA;
 * malloc'd, or NULL with ERR set. */
static char *base64_of(const unsigned char *data, size_t n, char *err, size_t errlen)
{
    if (n > INT_MAX / 2) {
        snprintf(err, errlen, "public key too large");
        return NULL;
    }
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (out == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    EVP_EncodeBlock((unsigned char *)out, data, (int)n);
    return out;
}

/* public_b64 - the p= tag of the key record: for RSA the DER
 * SubjectPublicKeyInfo (RFC 6376 3.6.1), for Ed25519 the bare 32-octet
 * public key (RFC 8463 4). */
static char *public_b64(EVP_PKEY *pkey, bool ed25519, char *err, size_t errlen)
{
    if (ed25519) {
        unsigned char raw[ED25519_PUB_LEN];
        size_t n = sizeof raw;
        if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_ED25519 ||
            !EVP_PKEY_get_raw_public_key(pkey, raw, &n)) {
            ssl_error("not an Ed25519 key", err, errlen);
            return NULL;
        }
        return base64_of(raw, n, err, errlen);
    }
    unsigned char *der = NULL;
    int n = EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA ? i2d_PUBKEY(pkey, &der) : -1;
    if (n <= 0) {
        ssl_error("not an RSA key", err, errlen);
        return NULL;
    }
    char *b64 = base64_of(der, (size_t)n, err, errlen);
    OPENSSL_free(der);
    return b64;
}

/* ------------------------------------------------------------ key files */

/* key_dir_make - STATE_DIR/dkim, mode 0700, into DIR: only the server's
 * user may list which keys exist. */
static int key_dir_make(const char *state_dir, char *dir, size_t len, char *err, size_t errlen)
{
    struct stat st;
    if (path_join(dir, len, state_dir, DKIM_DIR, NULL, err, errlen) < 0)
        return -1;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: cannot create directory: %s", dir, strerror(errno));
        return -1;
    }
    if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: not a directory", dir);
        return -1;
    }
    if ((st.st_mode & 07777) != 0700 && chmod(dir, 0700) < 0) {
        snprintf(err, errlen, "%s: cannot set mode 0700: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* file_write_new - DATA into a new file TMP, mode 0600 from birth (so the
 * secret is never readable by others, not even for a moment), made
 * durable with fsync. */
static int file_write_new(const char *tmp, const char *data, size_t n, char *err, size_t errlen)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
        return -1;
    }
    if (write_full(fd, data, n) < 0 || fsync(fd) < 0) {
        snprintf(err, errlen, "%s: cannot write: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (close(fd) < 0) {
        snprintf(err, errlen, "%s: cannot write: %s", tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* dir_sync - fsync directory DIR, so that a rename in it survives a crash. */
static int dir_sync(const char *dir, char *err, size_t errlen)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0) {
        snprintf(err, errlen, "%s: cannot sync: %s", dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

/* key_file_install - write PEM to DIR/NAME through a temporary file and a
 * rename, so that a crash leaves either no key or the whole key.  An
 * existing file is refused: its key may already be published and in use,
 * and a new key belongs under a new selector (RFC 6376 3.1). */
static int key_file_install(const char *dir, const char *name, const char *pem, size_t len,
                            char *err, size_t errlen)
{
    char path[PATH_MAX], tmp[PATH_MAX + 32];
    struct stat st;
    if (path_join(path, sizeof path, dir, name, NULL, err, errlen) < 0)
        return -1;
    int n = snprintf(tmp, sizeof tmp, "%s/.%s.%ld.tmp", dir, name, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp) {
        snprintf(err, errlen, "%s: path too long", path);
        return -1;
    }
    if (lstat(path, &st) == 0 || errno != ENOENT) {
        snprintf(err, errlen,
                 "%s: a key with this selector exists already; choose another "
                 "selector",
                 path);
        return -1;
    }
    if (file_write_new(tmp, pem, len, err, errlen) < 0)
        return -1;
    if (rename(tmp, path) < 0) {
        snprintf(err, errlen, "%s: cannot rename into place: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return dir_sync(dir, err, errlen);
}

/* lib_has_ed25519 - whether this libopendkim can sign with Ed25519: it is
 * a build option of the library (RFC 8463 support came in 2.11). */
static bool lib_has_ed25519(void);

int dkim_key_generate(store_db *db, const char *state_dir, const char *domain, const char *selector,
                      const char *algorithm, char *err, size_t errlen)
{
    struct dkim_key key = {0};
    char dir[PATH_MAX], name[sizeof key.domain + sizeof key.selector + 8], rel[sizeof name + 8];
    if (key_names(&key, domain, selector, algorithm, err, errlen) < 0)
        return -1;
    if (strcmp(key.algorithm, "ed25519") == 0 && !lib_has_ed25519()) {
        snprintf(err, errlen,
                 "this libopendkim was built without Ed25519 (RFC 8463) "
                 "signing; use --algorithm rsa");
        return -1;
    }
    /* Both fit: the buffers are sized for the longest domain and selector. */
    snprintf(name, sizeof name, "%s.%s.key", key.domain, key.selector);
    snprintf(rel, sizeof rel, "%s/%s", DKIM_DIR, name);
    if (key_dir_make(state_dir, dir, sizeof dir, err, errlen) < 0 ||
        key_make(key.algorithm, &key.pem, &key.pem_len, err, errlen) < 0)
        return -1;
    int rc = key_file_install(dir, name, key.pem, key.pem_len, err, errlen);
    if (rc == 0)
        rc = store_dkim_key_put(db, key.domain, key.selector, key.algorithm, rel, time(NULL), err,
                                errlen);
    dkim_key_clear(&key);
    return rc;
}

/* rel_path_ok - REL, read from the store, names a file inside the state
 * dir: relative and without "..", so a damaged row cannot point elsewhere. */
static bool rel_path_ok(const char *rel)
{
    return rel[0] != '\0' && rel[0] != '/' && strstr(rel, "..") == NULL;
}

/* key_row_get - the selector, algorithm and key file of KEY->domain:
 * 1 found, 0 none, -1 error. */
static int key_row_get(store_db *db, struct dkim_key *key, char *rel, size_t rellen, char *err,
                       size_t errlen)
{
    return store_dkim_key_get(db, key->domain, key->selector, sizeof key->selector, key->algorithm,
                              sizeof key->algorithm, rel, rellen, err, errlen);
}

/* read_fd - all of regular file FD (at most KEY_FILE_MAX octets) into a
 * NUL-terminated malloc'd *OUT; -1 with errno set. */
static int read_fd(int fd, char **out, size_t *len)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -1;
    if (!S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > KEY_FILE_MAX) {
        errno = EINVAL;
        return -1;
    }
    size_t n = 0, size = (size_t)st.st_size;
    char *buf = malloc(size + 1);
    if (buf == NULL)
        return -1;
    while (n < size) {
        ssize_t r = read(fd, buf + n, size - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            OPENSSL_cleanse(buf, n);
            free(buf);
            errno = r == 0 ? EIO : errno; /* shrank while read */
            return -1;
        }
        n += (size_t)r;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* key_file_read - the PEM at PATH into KEY. */
static int key_file_read(const char *path, struct dkim_key *key, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || read_fd(fd, &key->pem, &key->pem_len) < 0) {
        snprintf(err, errlen, "%s: cannot read the DKIM key: %s", path,
                 errno == EINVAL ? "not a key file" : strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

/* key_file_load - the PEM of KEY (domain, selector and algorithm set) from
 * REL under STATE_DIR.  A row without its file is an error, not "no key":
 * mail for this domain is expected to be signed and its DNS record
 * published. */
static int key_file_load(const char *state_dir, const char *rel, struct dkim_key *key, char *err,
                         size_t errlen)
{
    char path[PATH_MAX];
    if (!rel_path_ok(rel)) {
        snprintf(err, errlen, "%s: damaged row in the dkim_keys table", key->domain);
        return -1;
    }
    if (path_join(path, sizeof path, state_dir, rel, NULL, err, errlen) < 0 ||
        key_file_read(path, key, err, errlen) < 0) {
        dkim_key_clear(key);
        return -1;
    }
    return 0;
}

int dkim_key_load(store_db *db, const char *state_dir, const char *domain, struct dkim_key *key,
                  char *err, size_t errlen)
{
    char rel[PATH_MAX];
    memset(key, 0, sizeof *key);
    if (!str_copy(key->domain, domain, sizeof key->domain))
        return 0; /* longer than any domain: none of ours */
    str_lower(key->domain);
    int found = key_row_get(db, key, rel, sizeof rel, err, errlen);
    if (found <= 0)
        return found;
    return key_file_load(state_dir, rel, key, err, errlen) < 0 ? -1 : 1;
}

int dkim_key_load_row(const char *state_dir, json_t *row, struct dkim_key *key, char *err,
                      size_t errlen)
{
    const char *d = json_string_value(json_object_get(row, "domain"));
    const char *sel = json_string_value(json_object_get(row, "selector"));
    const char *alg = json_string_value(json_object_get(row, "algorithm"));
    const char *rel = json_string_value(json_object_get(row, "key_file"));
    memset(key, 0, sizeof *key);
    if (!d || !sel || !alg || !rel || !str_copy(key->domain, d, sizeof key->domain) ||
        !str_copy(key->selector, sel, sizeof key->selector) ||
        !str_copy(key->algorithm, alg, sizeof key->algorithm)) {
        snprintf(err, errlen, "%s: damaged row in the DKIM key tables", d ? d : "?");
        return -1;
    }
    return key_file_load(state_dir, rel, key, err, errlen);
}

int dkim_key_retire(store_db *db, const char *state_dir, const char *domain, const char *selector,
                    char *err, size_t errlen)
{
    char rel[PATH_MAX], path[PATH_MAX];
    int found = store_dkim_key_retire(db, domain, selector, rel, sizeof rel, err, errlen);
    if (found <= 0)
        return found;
    /* The row is gone: a file left behind would only be clutter, but a
     * private key lying about is worth a warning. */
    if (!rel_path_ok(rel) || path_join(path, sizeof path, state_dir, rel, NULL, err, errlen) < 0 ||
        (unlink(path) < 0 && errno != ENOENT))
        log_warnx("event=dkim_key_file_left domain=%s selector=%s file=%s", log_quote(domain),
                  log_quote(selector), log_quote(rel));
    return 1;
}

void dkim_key_clear(struct dkim_key *key)
{
    if (key->pem != NULL) {
        OPENSSL_cleanse(key->pem, key->pem_len);
        free(key->pem);
    }
    memset(key, 0, sizeof *key);
}

/* ---------------------------------------------------------- DNS record */

int dkim_dns_name(const struct dkim_key *key, char *buf, size_t len, char *err, size_t errlen)
{
    int n = snprintf(buf, len, "%s._domainkey.%s", key->selector, key->domain);
    if (n < 0 || (size_t)n >= len) {
        snprintf(err, errlen, "%s._domainkey.%s: name too long", key->selector, key->domain);
        return -1;
    }
    return 0;
}

char *dkim_dns_value(const struct dkim_key *key, char *err, size_t errlen)
{
    bool ed25519 = strcmp(key->algorithm, "ed25519") == 0;
    EVP_PKEY *pkey = pkey_of(key, err, errlen);
    char *p = pkey ? public_b64(pkey, ed25519, err, errlen) : NULL;
    EVP_PKEY_free(pkey);
    if (p == NULL)
        return NULL;
    /* RFC 6376 3.6.1: v= first; k= names the key type (rsa, or ed25519
     * from RFC 8463 4); p= the public key. */
    size_t len = strlen(p) + 64;
    char *value = malloc(len);
    if (value == NULL)
        snprintf(err, errlen, "out of memory");
    else
        snprintf(value, len, "v=DKIM1; k=%s; p=%s", ed25519 ? "ed25519" : "rsa", p);
    free(p);
    return value;
}

/* zone_line - "NAME. IN TXT ( "..." "..." )" with VALUE cut into strings
 * of at most 255 octets (RFC 1035 3.3.14; a verifier joins them, RFC 6376
 * 3.6.2.2).  The value holds no '"' or '\\', so no escaping is needed. */
static char *zone_line(const char *name, const char *value, char *err, size_t errlen)
{
    size_t vlen = strlen(value), parts = vlen / TXT_STRING_MAX + 1;
    size_t len = strlen(name) + vlen + 3 * parts + 32, o;
    char *line = malloc(len);
    if (line == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* LEN counts every octet written below, so nothing is cut. */
    o = (size_t)snprintf(line, len, "%s. IN TXT (", name);
    for (size_t i = 0; i < vlen; i += TXT_STRING_MAX) {
        size_t n = vlen - i < TXT_STRING_MAX ? vlen - i : TXT_STRING_MAX;
        o += (size_t)snprintf(line + o, len - o, " \"%.*s\"", (int)n, value + i);
    }
    snprintf(line + o, len - o, " )");
    return line;
}

char *dkim_dns_record(const struct dkim_key *key, char *err, size_t errlen)
{
    char name[DKIM_NAME_MAX];
    if (dkim_dns_name(key, name, sizeof name, err, errlen) < 0)
        return NULL;
    char *value = dkim_dns_value(key, err, errlen);
    if (value == NULL)
        return NULL;
    char *line = zone_line(name, value, err, errlen);
    free(value);
    return line;
}

/* ------------------------------------------------------------- signing */

/* lib_setup - once per process: the library handle and the headers to
 * sign.  On failure LIB stays NULL and LIB_ERROR says why. */
static void lib_setup(void)
{
    DKIM_LIB *l = dkim_init(NULL, NULL);
    if (l == NULL) {
        lib_error = "dkim_init failed (out of memory?)";
        return;
    }
    /* A list option is passed as the NULL-terminated array itself, with
     * the size of one pointer; the arrays are static, so outlive LIB. */
    if (dkim_options(l, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS, sign_headers, sizeof(char **)) !=
            DKIM_STAT_OK ||
        dkim_options(l, DKIM_OP_SETOPT, DKIM_OPTS_OVERSIGNHDRS, oversign_headers,
                     sizeof(char **)) != DKIM_STAT_OK) {
        lib_error = "libopendkim refused the list of signed headers";
        dkim_close(l);
        return;
    }
    lib = l;
}

/* lib_get - the shared library handle, or NULL with ERR set. */
static DKIM_LIB *lib_get(char *err, size_t errlen)
{
    if (pthread_once(&lib_once, lib_setup) != 0)
        lib_error = "pthread_once failed";
    if (lib == NULL)
        snprintf(err, errlen, "libopendkim: %s", lib_error ? lib_error : "not initialised");
    return lib;
}

static bool lib_has_ed25519(void)
{
    char err[128];
    DKIM_LIB *l = lib_get(err, sizeof err);
    return l != NULL && dkim_libfeature(l, DKIM_FEATURE_ED25519);
}

/* sign_error - "WHAT: <libopendkim's reason>" into ERR. */
static void sign_error(DKIM *dkim, const char *what, DKIM_STAT st, char *err, size_t errlen)
{
    const char *why = dkim ? dkim_geterror(dkim) : NULL;
    snprintf(err, errlen, "%s: %s", what, why && *why ? why : dkim_getresultstr(st));
}

/* feed - every octet of the message from READ into DKIM, then the end of
 * input (dkim_chunk with no data) and the end of message. */
static int feed(DKIM *dkim, dkim_read_fn read, void *ctx, char *err, size_t errlen)
{
    char *buf = malloc(READ_CHUNK);
    size_t off = 0;
    long n = 0;
    DKIM_STAT st = DKIM_STAT_OK;
    if (buf == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    while (st == DKIM_STAT_OK && (n = read(ctx, off, buf, READ_CHUNK)) > 0) {
        st = dkim_chunk(dkim, (unsigned char *)buf, (size_t)n);
        off += (size_t)n;
    }
    free(buf);
    if (n < 0) {
        snprintf(err, errlen, "cannot read the message at offset %zu", off);
        return -1;
    }
    if (st == DKIM_STAT_OK)
        st = dkim_chunk(dkim, NULL, 0);
    if (st == DKIM_STAT_OK)
        st = dkim_eom(dkim, NULL);
    if (st != DKIM_STAT_OK) {
        sign_error(dkim, "cannot sign the message", st, err, errlen);
        return -1;
    }
    return 0;
}

/* header_field - "DKIM-Signature: VALUE\r\n", with the folds libopendkim
 * made (bare "\n" before white space) turned into CR LF as RFC 5322 2.2.3
 * wants on the wire. */
static char *header_field(const unsigned char *value, size_t len, char *err, size_t errlen)
{
    size_t cap = sizeof SIG_FIELD + 2 + 2 * len + 3, o;
    char *out = malloc(cap);
    if (out == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    o = (size_t)snprintf(out, cap, "%s: ", SIG_FIELD);
    for (size_t i = 0; i < len && value[i] != '\0'; i++) {
        if (value[i] == '\r')
            continue;
        if (value[i] == '\n')
            out[o++] = '\r';
        out[o++] = (char)value[i];
    }
    memcpy(out + o, "\r\n", 3);
    return out;
}

/* sign_handle - a libopendkim signing handle for KEY, relaxed/relaxed
 * (RFC 6376 3.4.2 and 3.4.4: survives the re-folding and white-space
 * changes that relays make), with SHA-256 as RFC 8301 requires.
 * Known defect: libopendkim 2.11.0~beta2 (Debian 12) does not free the
 * key it loads for an Ed25519 signature in dkim_free(), about 1.3 KB per
 * message (fixed upstream in OpenDKIM pull request #321).  RSA is clean. */
static DKIM *sign_handle(DKIM_LIB *l, const struct dkim_key *key, char *err, size_t errlen)
{
    bool ed25519 = strcmp(key->algorithm, "ed25519") == 0;
    DKIM_STAT st = DKIM_STAT_OK;
    if (key->pem == NULL) {
        snprintf(err, errlen, "%s: no key loaded", key->domain);
        return NULL;
    }
    if (ed25519 && !dkim_libfeature(l, DKIM_FEATURE_ED25519)) {
        snprintf(err, errlen, "this libopendkim was built without Ed25519 (RFC 8463) signing");
        return NULL;
    }
    DKIM *dkim = dkim_sign(l, (const unsigned char *)JOB_ID, NULL, (dkim_sigkey_t)key->pem,
                           (const unsigned char *)key->selector, (const unsigned char *)key->domain,
                           DKIM_CANON_RELAXED, DKIM_CANON_RELAXED,
                           ed25519 ? DKIM_SIGN_ED25519SHA256 : DKIM_SIGN_RSASHA256, -1, &st);
    if (dkim == NULL || st != DKIM_STAT_OK) {
        sign_error(NULL, "cannot start signing", st, err, errlen);
        if (dkim != NULL)
            dkim_free(dkim);
        return NULL;
    }
    return dkim;
}

char *dkim_sign_message(const struct dkim_key *key, dkim_read_fn read, void *ctx, char *err,
                        size_t errlen)
{
    unsigned char *value = NULL;
    size_t len = 0;
    char *field = NULL;
    DKIM_LIB *l = lib_get(err, errlen);
    DKIM *dkim = l ? sign_handle(l, key, err, errlen) : NULL;
    if (dkim == NULL)
        return NULL;
    if (feed(dkim, read, ctx, err, errlen) == 0) {
        /* The value is owned by the handle; INITIAL is the width of the
         * field name and ": " so that the first line is folded right. */
        DKIM_STAT st = dkim_getsighdr_d(dkim, sizeof SIG_FIELD + 1, &value, &len);
        if (st != DKIM_STAT_OK || value == NULL)
            sign_error(dkim, "cannot make the signature header", st, err, errlen);
        else
            field = header_field(value, len, err, errlen);
    }
    dkim_free(dkim);
    return field;
}
