/* tests/unit/test_auth_results - room: tests.  cmocka tests of
 * core/auth_results: the Authentication-Results fields that claim our
 * authserv-id leave the header with their folded lines; others, the body
 * and a field cut by the end of the buffer stay. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/auth_results.h"

#define ID "mx.example.test"

/* strip - auth_results_strip on a copy of IN; the result, NUL-ended. */
static const char *strip(const char *in)
{
    static char buf[1024];
    size_t n = strlen(in);
    assert_true(n < sizeof buf);
    memcpy(buf, in, n);
    buf[auth_results_strip(buf, n, ID)] = '\0';
    return buf;
}

/* test_ours_removed_others_kept - ours (any case, folded, after a
 * comment) goes; another server's and a look-alike id stay. */
static void test_ours_removed_others_kept(void **state)
{
    (void)state;
    assert_string_equal(strip("Authentication-Results: " ID "; dmarc=pass\r\n"
                              "From: a@b.test\r\n"
                              "authentication-results :(c (nested)) MX.Example.TEST;\r\n"
                              "\tspf=pass\r\n smtp.mailfrom=b.test\r\n"
                              "Authentication-Results: other.test; spf=fail\r\n"
                              "Authentication-Results: " ID ".evil.test; none\r\n"
                              "\r\nbody\r\n"),
                        "From: a@b.test\r\n"
                        "Authentication-Results: other.test; spf=fail\r\n"
                        "Authentication-Results: " ID ".evil.test; none\r\n"
                        "\r\nbody\r\n");
}

/* test_body_untouched - after the empty line nothing is read as a field. */
static void test_body_untouched(void **state)
{
    (void)state;
    const char *msg = "Subject: x\n\nAuthentication-Results: " ID "; none\n";
    assert_string_equal(strip(msg), msg);
}

/* test_cut_field_kept - a field the buffer ends inside is left as is. */
static void test_cut_field_kept(void **state)
{
    (void)state;
    const char *msg = "Subject: x\r\nAuthentication-Results: " ID "; spf=pa";
    assert_string_equal(strip(msg), msg);
    assert_string_equal(strip(""), "");
}

/* test_quoted_id_removed - RFC 8601 2.2: the authserv-id is a "value"
 * (RFC 2045: token / quoted-string), so "mx.example.test" in quotes, with
 * a quoted-pair or not, is our id too; a quoted look-alike stays. */
static void test_quoted_id_removed(void **state)
{
    (void)state;
    assert_string_equal(strip("Authentication-Results: \"" ID "\"; dmarc=pass\r\n"
                              "Authentication-Results: (c) \"mx.exa\\mple.test\" 1; spf=pass\r\n"
                              "Authentication-Results: \"" ID " \"; none\r\n"
                              "Authentication-Results: \"" ID "; none\r\n"
                              "Subject: x\r\n\r\n"),
                        "Authentication-Results: \"" ID " \"; none\r\n"
                        "Authentication-Results: \"" ID "; none\r\n"
                        "Subject: x\r\n\r\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ours_removed_others_kept),
        cmocka_unit_test(test_body_untouched),
        cmocka_unit_test(test_cut_field_kept),
        cmocka_unit_test(test_quoted_id_removed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
