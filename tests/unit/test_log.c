/* tests/unit/test_log - room: tests.  cmocka tests of core/log's one
 * escaping rule (log_escape, log_quote, log_quote_addr): which values stay
 * bare, how the rest are quoted, that nothing a client sends can end a
 * value early, that a long value is cut inside its quotes, and that every
 * escaped value reads back to the original. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/log.h"

/* unescape - read the log value V back (bare, "-" or quoted) into OUT;
 * returns -1 when V is not a well-formed value or does not end where it
 * should.  Written from the rule in docs/floodgated.8.md, not from log.c. */
static int unescape(const char *v, char *out, size_t len)
{
    size_t o = 0;
    if (*v != '"') {
        for (; *v; v++) {
            if (*v <= ' ' || *v >= 0x7f || *v == '"' || *v == '\\' || *v == '=' || o + 1 >= len)
                return -1;
            out[o++] = *v;
        }
        out[o] = '\0';
        return o > 0 ? 0 : -1;
    }
    for (v++; *v && *v != '"'; v++) {
        if (o + 1 >= len || (unsigned char)*v < 0x20 || (unsigned char)*v >= 0x7f)
            return -1;
        if (*v != '\\') {
            out[o++] = *v;
            continue;
        }
        v++;
        if (*v == '"' || *v == '\\') {
            out[o++] = *v;
        } else if (*v == 'x' && v[1] && v[2]) {
            char hex[3] = {v[1], v[2], '\0'};
            char *end;
            long c = strtol(hex, &end, 16);
            if (*end != '\0' || c == 0)
                return -1;
            out[o++] = (char)c;
            v += 2;
        } else {
            return -1;
        }
    }
    if (*v != '"' || v[1] != '\0')
        return -1;
    out[o] = '\0';
    return 0;
}

/* round_trip - S escapes to EXPECTED and reads back to S. */
static void round_trip(const char *s, const char *expected)
{
    char back[1024];
    const char *q = log_quote(s);
    assert_string_equal(q, expected);
    assert_int_equal(unescape(q, back, sizeof back), 0);
    assert_string_equal(back, s);
}

static void test_bare_values(void **state)
{
    round_trip("alice@example.test", "alice@example.test");
    round_trip("mx.example.test[127.0.0.1]", "mx.example.test[127.0.0.1]");
    assert_string_equal(log_quote(NULL), "-");
    /* "-" is the mark of no value: a client's "-" is quoted. */
    assert_string_equal(log_quote("-"), "\"-\"");
    assert_string_equal(log_quote(""), "\"\"");
}

static void test_quoted_values(void **state)
{
    round_trip("a b", "\"a b\"");
    round_trip("a=b", "\"a=b\"");
    round_trip("say \"hi\"", "\"say \\\"hi\\\"\"");
    round_trip("back\\slash", "\"back\\\\slash\"");
    round_trip("line\r\nevent=fake", "\"line\\x0d\\x0aevent=fake\"");
    round_trip("tab\there\x7f", "\"tab\\x09here\\x7f\"");
    /* UTF-8 octets too: no bidi override can rearrange a line on screen. */
    round_trip("J\xc3\xb6rg \xe2\x80\xae", "\"J\\xc3\\xb6rg \\xe2\\x80\\xae\"");
}

/* test_forged_field - the issue's example: a quoted local part that
 * carries " status=sent to=<x" stays one value. */
static void test_forged_field(void **state)
{
    const char *addr = "\"a> status=sent to=<x\"@y";
    const char *q = log_quote_addr(addr);
    assert_string_equal(q, "\"<\\\"a> status=sent to=<x\\\"@y>\"");
    char back[512];
    assert_int_equal(unescape(q, back, sizeof back), 0);
    assert_string_equal(back, "<\"a> status=sent to=<x\"@y>");
    assert_string_equal(log_quote_addr(""), "<>");
    assert_string_equal(log_quote_addr("bob@example.test"), "<bob@example.test>");
    assert_string_equal(log_quote_addr(NULL), "-");
}

/* test_long_values - cut inside the quotes with "...", never past the
 * buffer, never in the middle of an escape. */
static void test_long_values(void **state)
{
    char big[4 * LOG_VALUE_MAX];
    for (int fill = 0; fill < 3; fill++) {
        memset(big, fill == 0 ? 'a' : fill == 1 ? '\n' : '"', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        const char *q = log_quote(big);
        size_t n = strlen(q);
        assert_true(n < LOG_VALUE_MAX);
        assert_true(n > LOG_VALUE_MAX - 10);
        assert_int_equal(q[0], '"');
        assert_string_equal(q + n - 4, "...\"");
        char back[4 * LOG_VALUE_MAX];
        assert_int_equal(unescape(q, back, sizeof back), 0);
    }
    /* Exactly at every boundary near the end of the buffer. */
    for (size_t len = LOG_VALUE_MAX - 12; len < LOG_VALUE_MAX + 4; len++) {
        memset(big, 'x', len);
        big[len] = '\0';
        big[len / 2] = ' ';
        char out[LOG_VALUE_MAX + 8];
        memset(out, '#', sizeof out);
        size_t n = log_escape(big, out, LOG_VALUE_MAX);
        assert_int_equal(n, strlen(out));
        assert_true(n < LOG_VALUE_MAX);
        assert_int_equal(out[LOG_VALUE_MAX], '#');
    }
    char tiny[4] = "###";
    assert_int_equal(log_escape("abc", tiny, sizeof tiny), 0);
    assert_string_equal(tiny, "");
}

/* test_rotating_buffers - LOG_QUOTE_BUFS values in one call stay distinct. */
static void test_rotating_buffers(void **state)
{
    const char *q[LOG_QUOTE_BUFS];
    char in[LOG_QUOTE_BUFS][16];
    for (int i = 0; i < LOG_QUOTE_BUFS; i++) {
        snprintf(in[i], sizeof in[i], "v %d", i);
        q[i] = log_quote(in[i]);
    }
    for (int i = 0; i < LOG_QUOTE_BUFS; i++) {
        char want[24];
        snprintf(want, sizeof want, "\"v %d\"", i);
        assert_string_equal(q[i], want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bare_values),      cmocka_unit_test(test_quoted_values),
        cmocka_unit_test(test_forged_field),     cmocka_unit_test(test_long_values),
        cmocka_unit_test(test_rotating_buffers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
