/* tests/unit/test_dkim - DKIM keys (files, modes, store rows), the DNS
 * record, and signatures checked by an independent verifier: the Python
 * "dkim" module (dkimpy), fed the TXT value instead of asking DNS. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "delivery/dkim.h"
#include "store/store.h"

/* The verifier: exit 0 when the message in argv[1] carries a valid
 * signature for the key record in argv[2]. */
#define VERIFY_CMD                                                                                 \
    "/usr/bin/python3 -c \"import dkim,sys; m=open(sys.argv[1],'rb').read(); "                     \
    "txt=open(sys.argv[2],'rb').read(); "                                                          \
    "sys.exit(0 if dkim.verify(m, dnsfunc=lambda name, timeout=5: txt) else 1)\""

static const char message[] = "From: Alice Example <alice@example.test>\r\n"
                              "To: bob@remote.test\r\n"
                              "Subject: quarterly   report\r\n"
                              "Date: Wed, 25 Nov 2026 08:30:00 +0000\r\n"
                              "Message-ID: <1234@example.test>\r\n"
                              "X-Not-Signed: anything\r\n"
                              "\r\n"
                              "Hello Bob,\r\n"
                              "\r\n"
                              "the figures are attached.  \r\n"
                              "\r\n"
                              "\r\n";

/* __lsan_default_suppressions - read by LeakSanitizer when the test runs
 * under it.  libopendkim 2.11.0~beta2 (Debian 12) does not free the key
 * it loads for an Ed25519 signature in dkim_free(): fixed upstream in
 * OpenDKIM pull request #321, not in this package.  Only that leak is
 * excused; dkim.c's own allocations stay checked. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:dkim_privkey_load\n";
}

/* __asan_default_options - unwind allocations slowly but fully: libcrypto
 * has no frame pointers, and without this the key OpenSSL allocates for
 * libopendkim is not traced back to dkim_privkey_load. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "fast_unwind_on_malloc=0";
}

struct fixture {
    char dir[64];
    sqlite3 *db;
};

/* A message in memory, read through dkim_read_fn. */
struct source {
    const char *data;
    size_t len;
    size_t step; /* at most this many octets per call, to test chunking */
};

/* source_read - the dkim_read_fn of struct source. */
static long source_read(void *ctx, size_t off, char *buf, size_t n)
{
    struct source *s = ctx;
    if (off >= s->len)
        return 0;
    size_t k = s->len - off < n ? s->len - off : n;
    k = s->step && k > s->step ? s->step : k;
    memcpy(buf, s->data + off, k);
    return (long)k;
}

/* failing_read - a source that breaks after the first call. */
static long failing_read(void *ctx, size_t off, char *buf, size_t n)
{
    return off == 0 ? source_read(ctx, off, buf, n) : -1;
}

/* setup - a fresh store in a fresh temporary directory. */
static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    char path[128], err[256];
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/test_dkim.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    f->db = store_open(store_path(f->dir, path, sizeof path), err, sizeof err);
    if (f->db == NULL) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    *state = f;
    return 0;
}

/* remove_one - nftw callback: delete PATH. */
static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

/* teardown - close the store and remove the directory tree. */
static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(f->db);
    int rc = nftw(f->dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
    return rc;
}

/* write_file - DATA to DIR/NAME into PATH; the test fails if it cannot. */
static void write_file(const char *dir, const char *name, const char *data, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, strlen(data), fp), strlen(data));
    assert_int_equal(fclose(fp), 0);
}

/* verify - run the independent verifier on SIGNED with the key record
 * VALUE; its exit status (0 valid). */
static int verify(const char *dir, const char *signed_msg, const char *value)
{
    char msg[128], txt[128], cmd[1024];
    write_file(dir, "signed.eml", signed_msg, msg, sizeof msg);
    write_file(dir, "record.txt", value, txt, sizeof txt);
    snprintf(cmd, sizeof cmd, "%s %s %s", VERIFY_CMD, msg, txt);
    int st = system(cmd);
    assert_true(st != -1 && WIFEXITED(st));
    return WEXITSTATUS(st);
}

/* sign_with - the signature header of BODY under KEY, prepended to BODY;
 * malloc'd. */
static char *sign_with(const struct dkim_key *key, const char *body, size_t step)
{
    char err[256];
    struct source src = {body, strlen(body), step};
    char *field = dkim_sign_message(key, source_read, &src, err, sizeof err);
    if (field == NULL)
        fprintf(stderr, "dkim_sign_message: %s\n", err);
    assert_non_null(field);
    size_t len = strlen(field) + strlen(body) + 1;
    char *out = malloc(len);
    assert_non_null(out);
    snprintf(out, len, "%s%s", field, body);
    free(field);
    return out;
}

/* file_mode - the permission bits of DIR/NAME, or -1. */
static int file_mode(const char *dir, const char *name)
{
    char path[256];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

/* generate_and_load - make a key for DOMAIN/SELECTOR/ALG and load it. */
static void generate_and_load(struct fixture *f, const char *domain, const char *selector,
                              const char *alg, struct dkim_key *key)
{
    char err[256];
    int rc = dkim_key_generate(f->db, f->dir, domain, selector, alg, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "dkim_key_generate: %s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(dkim_key_load(f->db, f->dir, domain, key, err, sizeof err), 1);
    assert_string_equal(key->selector, selector);
    assert_string_equal(key->algorithm, alg);
    assert_non_null(key->pem);
    assert_non_null(strstr(key->pem, "-----BEGIN PRIVATE KEY-----"));
}

/* sign_verify_tamper - a signature made with KEY verifies, signed headers
 * only, and fails once the body is changed. */
static void sign_verify_tamper(struct fixture *f, const struct dkim_key *key, const char *k)
{
    char err[256], want[32];
    char *value = dkim_dns_value(key, err, sizeof err);
    assert_non_null(value);
    snprintf(want, sizeof want, "v=DKIM1; k=%s; p=", k);
    assert_memory_equal(value, want, strlen(want));

    char *signed_msg = sign_with(key, message, 7); /* odd chunks cross CR LF */
    assert_memory_equal(signed_msg, "DKIM-Signature: ", 16);
    assert_non_null(strstr(signed_msg, " d=example.test;"));
    assert_non_null(strstr(signed_msg, "c=relaxed/relaxed"));
    assert_null(strstr(signed_msg, "x-not-signed"));
    /* Every line break of the folded field is CR LF. */
    for (const char *p = strchr(signed_msg, '\n'); p; p = strchr(p + 1, '\n'))
        assert_int_equal(p[-1], '\r');
    assert_int_equal(verify(f->dir, signed_msg, value), 0);

    char *body = strstr(signed_msg, "figures");
    assert_non_null(body);
    body[0] = 'F';
    assert_int_not_equal(verify(f->dir, signed_msg, value), 0);
    free(signed_msg);
    free(value);
}

/* test_rsa - RSA key: file and directory modes, store row, signature. */
static void test_rsa(void **state)
{
    struct fixture *f = *state;
    struct dkim_key key;
    generate_and_load(f, "Example.TEST", "s1", "rsa", &key);
    assert_string_equal(key.domain, "example.test");
    assert_int_equal(file_mode(f->dir, "dkim"), 0700);
    assert_int_equal(file_mode(f->dir, "dkim/example.test.s1.key"), 0600);
    sign_verify_tamper(f, &key, "rsa");
    dkim_key_clear(&key);
    assert_null(key.pem);
}

/* test_ed25519 - RFC 8463 keys sign and verify too (libopendkim 2.11
 * built with Ed25519). */
static void test_ed25519(void **state)
{
    struct fixture *f = *state;
    struct dkim_key key;
    generate_and_load(f, "example.test", "ed1", "ed25519", &key);
    assert_int_equal(file_mode(f->dir, "dkim/example.test.ed1.key"), 0600);
    sign_verify_tamper(f, &key, "ed25519");
    dkim_key_clear(&key);
}

/* test_record_split - the zone line holds the value in quoted strings of
 * at most 255 octets which join back to the value. */
static void test_record_split(void **state)
{
    struct fixture *f = *state;
    struct dkim_key key;
    char err[256], joined[2048] = "", name[300];
    generate_and_load(f, "example.test", "sel", "rsa", &key);
    char *line = dkim_dns_record(&key, err, sizeof err);
    char *value = dkim_dns_value(&key, err, sizeof err);
    assert_non_null(line);
    assert_non_null(value);
    assert_int_equal(dkim_dns_name(&key, name, sizeof name, err, sizeof err), 0);
    assert_string_equal(name, "sel._domainkey.example.test");
    assert_memory_equal(line, "sel._domainkey.example.test. IN TXT ( \"", 39);
    int parts = 0;
    for (char *p = strchr(line, '"'); p; p = strchr(p + 1, '"')) {
        char *end = strchr(p + 1, '"');
        assert_non_null(end);
        assert_true(end - p - 1 <= 255);
        strncat(joined, p + 1, (size_t)(end - p - 1));
        parts++;
        p = end;
    }
    assert_true(parts >= 2); /* a 2048-bit key needs two strings */
    assert_string_equal(joined, value);
    assert_string_equal(line + strlen(line) - 2, " )");
    free(line);
    free(value);
    dkim_key_clear(&key);
}

/* test_replace - a second key for the domain replaces the first in the
 * store; the same selector twice is refused. */
static void test_replace(void **state)
{
    struct fixture *f = *state;
    struct dkim_key key;
    char err[256];
    assert_int_equal(dkim_key_generate(f->db, f->dir, "example.test", "a", "rsa", err, sizeof err),
                     0);
    assert_int_equal(dkim_key_generate(f->db, f->dir, "example.test", "a", "rsa", err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "exists already"));
    generate_and_load(f, "example.test", "b", "ed25519", &key);
    dkim_key_clear(&key);
}

/* test_missing - no key: 0; a row whose file is gone: -1. */
static void test_missing(void **state)
{
    struct fixture *f = *state;
    struct dkim_key key;
    char err[256], path[256];
    assert_int_equal(dkim_key_load(f->db, f->dir, "nokey.test", &key, err, sizeof err), 0);
    assert_null(key.pem);
    assert_int_equal(dkim_key_generate(f->db, f->dir, "example.test", "s", "rsa", err, sizeof err),
                     0);
    snprintf(path, sizeof path, "%s/dkim/example.test.s.key", f->dir);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(dkim_key_load(f->db, f->dir, "example.test", &key, err, sizeof err), -1);
    assert_non_null(strstr(err, "example.test.s.key"));
    assert_null(key.pem);
}

/* test_bad_names - names that are no DNS names (and could escape the key
 * directory) and unknown algorithms are refused. */
static void test_bad_names(void **state)
{
    struct fixture *f = *state;
    char err[256];
    static const char *const domains[] = {"", "../etc", "a..b", "-a.test", "a_b.test", "a/b"};
    for (size_t i = 0; i < sizeof domains / sizeof domains[0]; i++)
        assert_int_equal(dkim_key_generate(f->db, f->dir, domains[i], "s1", "rsa", err, sizeof err),
                         -1);
    assert_int_equal(
        dkim_key_generate(f->db, f->dir, "example.test", "../x", "rsa", err, sizeof err), -1);
    assert_int_equal(dkim_key_generate(f->db, f->dir, "example.test", "s1", "dsa", err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "dsa"));
}

/* test_read_error - a source that fails gives NULL and a reason. */
static void test_read_error(void **state)
{
    struct fixture *f = *state;
    struct dkim_key key;
    char err[256] = "";
    struct source src = {message, strlen(message), 10};
    generate_and_load(f, "example.test", "s1", "rsa", &key);
    assert_null(dkim_sign_message(&key, failing_read, &src, err, sizeof err));
    assert_non_null(strstr(err, "cannot read"));
    dkim_key_clear(&key);
    assert_null(dkim_sign_message(&key, source_read, &src, err, sizeof err));
}

/* test_no_from - RFC 6376 5.4: From must be signed, so a message without
 * one cannot be; the caller gets NULL and a reason, nothing leaks. */
static void test_no_from(void **state)
{
    struct fixture *f = *state;
    struct dkim_key key;
    char err[256] = "";
    static const char bare[] = "To: bob@remote.test\r\nSubject: x\r\n\r\nbody\r\n";
    struct source src = {bare, strlen(bare), 0};
    generate_and_load(f, "example.test", "s1", "rsa", &key);
    assert_null(dkim_sign_message(&key, source_read, &src, err, sizeof err));
    assert_true(err[0] != '\0');
    dkim_key_clear(&key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rsa, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ed25519, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_split, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_from, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
