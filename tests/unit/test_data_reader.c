/* tests/unit/test_data_reader - room: tests.  cmocka tests of
 * smtp/data_reader: end-of-data, dot-stuffing, bare CR and LF (the SMTP
 * smuggling cases), size limits, and the property that any chunking of
 * the input gives the same result as feeding it whole.  An independent
 * whole-buffer model of RFC 5321 4.5.2 is checked against the reader on
 * every short string over the alphabet { CR, LF, '.', 'a' }. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/data_reader.h"

#define OUT_MAX 4096

/* What one run of the reader produced. */
struct result {
    char out[OUT_MAX];
    size_t out_len;
    size_t consumed;
    size_t size;
    bool done, bare_lf, bare_cr, too_big, nul;
};

/* collect - the emit callback: append to the result's buffer. */
static void collect(void *ctx, const char *bytes, size_t len)
{
    struct result *res = ctx;
    assert_true(len > 0);
    assert_true(res->out_len + len <= OUT_MAX);
    memcpy(res->out + res->out_len, bytes, len);
    res->out_len += len;
}

/* finish - copy the reader's flags into RES. */
static void finish(const struct data_reader *r, struct result *res)
{
    res->size = r->size;
    res->done = r->done;
    res->bare_lf = r->bare_lf;
    res->bare_cr = r->bare_cr;
    res->too_big = r->too_big;
    res->nul = r->nul;
}

/* feed_chunks - feed IN cut at the N positions CUTS (ascending). */
static void feed_chunks(const char *in, size_t len, enum bare_lf_mode mode, size_t max,
                        const size_t *cuts, size_t n, struct result *res)
{
    struct data_reader r;
    size_t from = 0;
    memset(res, 0, sizeof(*res));
    data_reader_init(&r, mode, max, collect, res);
    for (size_t k = 0; k <= n; k++) {
        size_t to = k < n ? cuts[k] : len;
        size_t used = data_reader_feed(&r, in + from, to - from);
        assert_true(used <= to - from);
        if (!r.done)
            assert_int_equal(used, to - from);
        res->consumed += used;
        if (r.done)
            break;
        from = to;
    }
    /* Once done, the reader takes nothing more. */
    if (r.done)
        assert_int_equal(data_reader_feed(&r, "x\r\n.\r\n", 6), 0);
    finish(&r, res);
}

/* feed_whole - feed IN in one call. */
static void feed_whole(const char *in, size_t len, enum bare_lf_mode mode, size_t max,
                       struct result *res)
{
    feed_chunks(in, len, mode, max, NULL, 0, res);
}

/* feed_bytes - feed IN one octet at a time. */
static void feed_bytes(const char *in, size_t len, enum bare_lf_mode mode, size_t max,
                       struct result *res)
{
    struct data_reader r;
    memset(res, 0, sizeof(*res));
    data_reader_init(&r, mode, max, collect, res);
    for (size_t i = 0; i < len && !r.done; i++)
        res->consumed += data_reader_feed(&r, in + i, 1);
    finish(&r, res);
}

/* same_result - two runs agree on everything. */
static void same_result(const struct result *a, const struct result *b)
{
    assert_int_equal(a->out_len, b->out_len);
    assert_memory_equal(a->out, b->out, a->out_len);
    assert_int_equal(a->consumed, b->consumed);
    assert_int_equal(a->size, b->size);
    assert_int_equal(a->done, b->done);
    assert_int_equal(a->bare_lf, b->bare_lf);
    assert_int_equal(a->bare_cr, b->bare_cr);
    assert_int_equal(a->too_big, b->too_big);
    assert_int_equal(a->nul, b->nul);
}

/* check_splits - every one-cut split, byte-by-byte feeding and, for short
 * inputs, every two-cut split give the whole-feed result. */
static void check_splits(const char *in, size_t len, enum bare_lf_mode mode, size_t max,
                         const struct result *whole)
{
    static struct result res;
    size_t cuts[2];
    for (size_t i = 0; i <= len; i++) {
        cuts[0] = i;
        feed_chunks(in, len, mode, max, cuts, 1, &res);
        same_result(whole, &res);
    }
    feed_bytes(in, len, mode, max, &res);
    same_result(whole, &res);
    if (len > 40)
        return;
    for (size_t i = 0; i <= len; i++)
        for (size_t j = i; j <= len; j++) {
            cuts[0] = i;
            cuts[1] = j;
            feed_chunks(in, len, mode, max, cuts, 2, &res);
            same_result(whole, &res);
        }
}

/* Flags expected of a case. */
enum { F_DONE = 1, F_LF = 2, F_CR = 4, F_BIG = 8, F_NUL = 16 };

/* expect_case - IN (LEN octets) in MODE with MAX gives OUT, FLAGS and
 * CONSUMED octets, however it is cut. */
static void expect_case(const char *in, size_t len, enum bare_lf_mode mode, size_t max,
                        const char *out, size_t out_len, int flags, size_t consumed)
{
    static struct result whole;
    feed_whole(in, len, mode, max, &whole);
    assert_int_equal(whole.out_len, out_len);
    assert_memory_equal(whole.out, out, out_len);
    assert_int_equal(whole.done, (flags & F_DONE) != 0);
    assert_int_equal(whole.bare_lf, (flags & F_LF) != 0);
    assert_int_equal(whole.bare_cr, (flags & F_CR) != 0);
    assert_int_equal(whole.too_big, (flags & F_BIG) != 0);
    assert_int_equal(whole.nul, (flags & F_NUL) != 0);
    assert_int_equal(whole.consumed, consumed);
    check_splits(in, len, mode, max, &whole);
}

/* EXPECT - a case with string literals, in one mode, no size limit. */
#define EXPECT(mode, in, out, flags, consumed)                                                     \
    expect_case(in, sizeof(in) - 1, mode, SIZE_MAX, out, sizeof(out) - 1, flags, consumed)
#define N BARE_LF_NORMALIZE
#define R BARE_LF_REJECT

/* test_end_of_data - the end, and the final CR LF kept as content. */
static void test_end_of_data(void **state)
{
    EXPECT(N, "Hi\r\n.\r\n", "Hi\r\n", F_DONE, 7);
    EXPECT(R, "Hi\r\n.\r\n", "Hi\r\n", F_DONE, 7);
    EXPECT(N, ".\r\n", "", F_DONE, 3);
    EXPECT(N, "\r\n.\r\n", "\r\n", F_DONE, 5);
    EXPECT(N, "a\r\nb\r\n\r\n.\r\n", "a\r\nb\r\n\r\n", F_DONE, 11);
    EXPECT(N, "Subject: x\r\n\r\nbody\r\n.\r\n", "Subject: x\r\n\r\nbody\r\n", F_DONE, 23);
}

/* test_pipelining - octets after the end stay with the caller. */
static void test_pipelining(void **state)
{
    EXPECT(N, "a\r\n.\r\nQUIT\r\n", "a\r\n", F_DONE, 6);
    EXPECT(N, ".\r\nMAIL FROM:<a@b>\r\n", "", F_DONE, 3);
    EXPECT(N, "a\r\n.\r\n.\r\n", "a\r\n", F_DONE, 6);
    EXPECT(N, "a\r\n.\r\n\r\n.\r\n", "a\r\n", F_DONE, 6);
}

/* test_incomplete - no end yet: everything consumed, a pending dot or CR
 * held back. */
static void test_incomplete(void **state)
{
    EXPECT(N, "", "", 0, 0);
    EXPECT(N, "abc", "abc", 0, 3);
    EXPECT(N, "abc\r", "abc", 0, 4);
    EXPECT(N, "abc\r\n", "abc\r\n", 0, 5);
    EXPECT(N, "abc\r\n.", "abc\r\n", 0, 6);
    EXPECT(N, "abc\r\n.\r", "abc\r\n", 0, 7);
    EXPECT(N, ".", "", 0, 1);
    EXPECT(N, ".\r", "", 0, 2);
}

/* test_dot_stuffing - RFC 5321 4.5.2: a leading dot is removed. */
static void test_dot_stuffing(void **state)
{
    EXPECT(N, "..\r\n.\r\n", ".\r\n", F_DONE, 7);
    EXPECT(N, "..x\r\n.\r\n", ".x\r\n", F_DONE, 8);
    EXPECT(N, ".x\r\n.\r\n", "x\r\n", F_DONE, 7);
    EXPECT(N, "a\r\n..\r\n.\r\n", "a\r\n.\r\n", F_DONE, 10);
    EXPECT(N, "a\r\n...\r\n.\r\n", "a\r\n..\r\n", F_DONE, 11);
    EXPECT(N, "a.b\r\n.\r\n", "a.b\r\n", F_DONE, 8);
    EXPECT(N, "a\r\n. \r\n.\r\n", "a\r\n \r\n", F_DONE, 10);
    EXPECT(N, "x.\r\n.\r\n", "x.\r\n", F_DONE, 7);
}

/* test_bare_lf_normalize - bare LF becomes CR LF, never ends DATA, and a
 * dot after it is neither an end nor stuffing. */
static void test_bare_lf_normalize(void **state)
{
    EXPECT(N, "a\nb\r\n.\r\n", "a\r\nb\r\n", F_DONE | F_LF, 8);
    EXPECT(N, "a\n.\r\nb\r\n.\r\n", "a\r\n.\r\nb\r\n", F_DONE | F_LF, 11);
    EXPECT(N, "a\r\n.\nb\r\n.\r\n", "a\r\n\r\nb\r\n", F_DONE | F_LF, 11);
    EXPECT(N, "a\n.\nb\r\n.\r\n", "a\r\n.\r\nb\r\n", F_DONE | F_LF, 10);
    EXPECT(N, "\n.\r\n", "\r\n.\r\n", F_LF, 4);
    EXPECT(N, "\n.\n", "\r\n.\r\n", F_LF, 3);
    EXPECT(N, ".\n", "\r\n", F_LF, 2);
    EXPECT(N, "a\n..\r\n.\r\n", "a\r\n..\r\n", F_DONE | F_LF, 9);
    EXPECT(N, "\n\n", "\r\n\r\n", F_LF, 2);
}

/* test_bare_lf_reject - the same, with LF kept as it came. */
static void test_bare_lf_reject(void **state)
{
    EXPECT(R, "a\nb\r\n.\r\n", "a\nb\r\n", F_DONE | F_LF, 8);
    EXPECT(R, "a\n.\r\nb\r\n.\r\n", "a\n.\r\nb\r\n", F_DONE | F_LF, 11);
    EXPECT(R, "a\r\n.\nb\r\n.\r\n", "a\r\n\nb\r\n", F_DONE | F_LF, 11);
    EXPECT(R, "a\n.\nb\r\n.\r\n", "a\n.\nb\r\n", F_DONE | F_LF, 10);
    EXPECT(R, "\n.\r\n", "\n.\r\n", F_LF, 4);
    EXPECT(R, "\n.\n", "\n.\n", F_LF, 3);
}

/* test_smuggling - the published smuggling endings never end DATA; the
 * second "message" stays content of the first. */
static void test_smuggling(void **state)
{
    static const char lf_dot_crlf[] = "Hi\n.\r\nMAIL FROM:<x@y>\r\nDATA\r\nevil\r\n.\r\n";
    static const char crlf_dot_lf[] = "Hi\r\n.\nMAIL FROM:<x@y>\r\n.\r\n";
    static const char cr_dot_cr[] = "Hi\r.\r\nMAIL FROM:<x@y>\r\n.\r\n";
    static const char crlf_dot_cr[] = "Hi\r\n.\rMAIL FROM:<x@y>\r\n.\r\n";
    struct result res;

    feed_whole(lf_dot_crlf, sizeof(lf_dot_crlf) - 1, R, SIZE_MAX, &res);
    assert_true(res.done && res.bare_lf);
    assert_int_equal(res.consumed, sizeof(lf_dot_crlf) - 1);
    feed_whole(crlf_dot_lf, sizeof(crlf_dot_lf) - 1, N, SIZE_MAX, &res);
    assert_true(res.done && res.bare_lf);
    assert_int_equal(res.consumed, sizeof(crlf_dot_lf) - 1);
    feed_whole(cr_dot_cr, sizeof(cr_dot_cr) - 1, N, SIZE_MAX, &res);
    assert_true(res.done && res.bare_cr);
    assert_int_equal(res.consumed, sizeof(cr_dot_cr) - 1);
    feed_whole(crlf_dot_cr, sizeof(crlf_dot_cr) - 1, N, SIZE_MAX, &res);
    assert_true(res.done && res.bare_cr);
    assert_int_equal(res.consumed, sizeof(crlf_dot_cr) - 1);
    feed_whole(lf_dot_crlf, sizeof(lf_dot_crlf) - 1, N, SIZE_MAX, &res);
    check_splits(lf_dot_crlf, sizeof(lf_dot_crlf) - 1, N, SIZE_MAX, &res);
}

/* test_bare_cr - CR without LF is content, flagged. */
static void test_bare_cr(void **state)
{
    EXPECT(N, "a\rb\r\n.\r\n", "a\rb\r\n", F_DONE | F_CR, 8);
    EXPECT(N, "a\r\r\n.\r\n", "a\r\r\n", F_DONE | F_CR, 7);
    EXPECT(N, "a\r\n.\rb\r\n.\r\n", "a\r\n\rb\r\n", F_DONE | F_CR, 11);
    EXPECT(N, "a\r\n.\r\r\n.\r\n", "a\r\n\r\r\n", F_DONE | F_CR, 10);
    EXPECT(N, "\r.\r\n", "\r.\r\n", F_CR, 4);
    EXPECT(N, "\r\r", "\r", F_CR, 2);
    EXPECT(R, "a\r\n.\r.\r\n", "a\r\n\r.\r\n", F_CR, 8);
}

/* test_binary - high octets pass through untouched; NUL octets are noted
 * and dropped wherever they stand (the session refuses or strips), and
 * never count toward the size. */
static void test_binary(void **state)
{
    EXPECT(N, "ab\xff\r\n.\r\n", "ab\xff\r\n", F_DONE, 8);
    EXPECT(N, "a\0b\xff\r\n.\r\n", "ab\xff\r\n", F_DONE | F_NUL, 9);
    EXPECT(N, ".\0\r\n.\r\n", "\r\n", F_DONE | F_NUL, 7);
    /* A NUL between CR and LF is no line end once dropped: no smuggling. */
    EXPECT(R, "\0\0\r\0\n.\r\n", "\r\n.\r\n", F_CR | F_LF | F_NUL, 8);
    EXPECT(R, "a\r\0\n\0.\r\n", "a\r\n.\r\n", F_CR | F_LF | F_NUL, 8);
    EXPECT(N, "a\r\n\0.\r\n.\r\n", "a\r\n.\r\n", F_DONE | F_NUL, 10);
}

/* test_too_big - exactly the first max_size octets come out; the size
 * keeps counting and the end is still found. */
static void test_too_big(void **state)
{
    static const char in[] = "Hello world\r\n.\r\n";
    struct result res;
    expect_case(in, sizeof(in) - 1, N, 5, "Hello", 5, F_DONE | F_BIG, 16);
    feed_whole(in, sizeof(in) - 1, N, 5, &res);
    assert_int_equal(res.size, 13);
    expect_case(in, sizeof(in) - 1, N, 13, "Hello world\r\n", 13, F_DONE, 16);
    expect_case(in, sizeof(in) - 1, N, 12, "Hello world\r", 12, F_DONE | F_BIG, 16);
    expect_case(in, sizeof(in) - 1, N, 0, "", 0, F_DONE | F_BIG, 16);
    expect_case(".\r\n", 3, N, 0, "", 0, F_DONE, 3);
    /* Normalised line ends count as two octets. */
    expect_case("a\nb\r\n.\r\n", 8, N, 5, "a\r\nb\r", 5, F_DONE | F_LF | F_BIG, 8);
    feed_whole("a\nb\r\n.\r\n", 8, N, SIZE_MAX, &res);
    assert_int_equal(res.size, 6);
    feed_whole("a\nb\r\n.\r\n", 8, R, SIZE_MAX, &res);
    assert_int_equal(res.size, 5);
    /* Unstuffed dots are not counted. */
    feed_whole("..\r\n.\r\n", 7, N, SIZE_MAX, &res);
    assert_int_equal(res.size, 3);
}

/* test_null_emit - a reader without a callback only counts. */
static void test_null_emit(void **state)
{
    struct data_reader r;
    data_reader_init(&r, N, SIZE_MAX, NULL, NULL);
    assert_int_equal(data_reader_feed(&r, "abc\r\n.\r\nx", 9), 8);
    assert_true(r.done);
    assert_int_equal(r.size, 5);
}

/* test_large - a long message in odd chunks. */
static void test_large(void **state)
{
    static char in[3000];
    static struct result whole;
    size_t n = 0;
    for (int line = 0; line < 100; line++) {
        n += (size_t)snprintf(in + n, sizeof(in) - n, "%sline %d\r\n", line % 7 ? "" : "..", line);
    }
    memcpy(in + n, ".\r\n", 3);
    n += 3;
    feed_whole(in, n, N, SIZE_MAX, &whole);
    assert_true(whole.done);
    assert_int_equal(whole.consumed, n);
    assert_int_equal(whole.out_len, n - 3 - 15); /* 15 lines lost a dot */
    check_splits(in, n, N, SIZE_MAX, &whole);
    feed_whole(in, n, N, 100, &whole);
    assert_int_equal(whole.out_len, 100);
    check_splits(in, n, N, 100, &whole);
}

/* Result of the whole-buffer model. */
struct model {
    char out[64];
    size_t out_len;
    size_t consumed;
    bool done, bare_lf, bare_cr;
};

/* model_put - append to the model's output. */
static void model_put(struct model *m, const char *s, size_t n)
{
    memcpy(m->out + m->out_len, s, n);
    m->out_len += n;
}

/* model_run - RFC 5321 4.5.2 and the bare LF rule, written over the whole
 * buffer with look-ahead instead of states.  Trailing octets that cannot
 * be decided yet (a dot or CR at the end) are not emitted. */
static void model_run(const char *in, size_t len, enum bare_lf_mode mode, struct model *m)
{
    bool line_start = true;
    size_t i = 0;
    memset(m, 0, sizeof(*m));
    m->consumed = len;
    while (i < len) {
        if (line_start && in[i] == '.') {
            if (i + 2 < len && in[i + 1] == '\r' && in[i + 2] == '\n') {
                m->done = true;
                m->consumed = i + 3;
                return;
            }
            if (i + 1 == len || (i + 2 == len && in[i + 1] == '\r'))
                return; /* undecided */
            i++;        /* a stuffed dot */
        }
        line_start = false;
        if (i == len)
            return;
        if (in[i] == '\r') {
            if (i + 1 == len)
                return;
            if (in[i + 1] == '\n') {
                model_put(m, "\r\n", 2);
                i += 2;
                line_start = true;
                continue;
            }
            m->bare_cr = true;
            model_put(m, "\r", 1);
        } else if (in[i] == '\n') {
            m->bare_lf = true;
            model_put(m, mode == N ? "\r\n" : "\n", mode == N ? 2 : 1);
        } else {
            model_put(m, in + i, 1);
        }
        i++;
    }
}

/* test_model_exhaustive - every string of up to 7 octets over
 * { CR, LF, '.', 'a' }: the reader agrees with the model, whole and cut. */
static void test_model_exhaustive(void **state)
{
    static const char alphabet[4] = {'\r', '\n', '.', 'a'};
    static struct result whole, res;
    char in[8];
    for (size_t len = 0; len <= 7; len++) {
        size_t total = (size_t)1 << (2 * len);
        for (size_t code = 0; code < total; code++) {
            for (size_t k = 0; k < len; k++)
                in[k] = alphabet[(code >> (2 * k)) & 3];
            for (int mode = 0; mode < 2; mode++) {
                enum bare_lf_mode md = mode ? N : R;
                struct model m;
                size_t cut[1];
                model_run(in, len, md, &m);
                feed_whole(in, len, md, SIZE_MAX, &whole);
                assert_int_equal(whole.out_len, m.out_len);
                assert_memory_equal(whole.out, m.out, m.out_len);
                assert_int_equal(whole.consumed, m.consumed);
                assert_int_equal(whole.done, m.done);
                assert_int_equal(whole.bare_lf, m.bare_lf);
                assert_int_equal(whole.bare_cr, m.bare_cr);
                for (size_t c = 0; c <= len; c++) {
                    cut[0] = c;
                    feed_chunks(in, len, md, SIZE_MAX, cut, 1, &res);
                    same_result(&whole, &res);
                }
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_end_of_data),
        cmocka_unit_test(test_pipelining),
        cmocka_unit_test(test_incomplete),
        cmocka_unit_test(test_dot_stuffing),
        cmocka_unit_test(test_bare_lf_normalize),
        cmocka_unit_test(test_bare_lf_reject),
        cmocka_unit_test(test_smuggling),
        cmocka_unit_test(test_bare_cr),
        cmocka_unit_test(test_binary),
        cmocka_unit_test(test_too_big),
        cmocka_unit_test(test_null_emit),
        cmocka_unit_test(test_large),
        cmocka_unit_test(test_model_exhaustive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
