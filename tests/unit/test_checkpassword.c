/* tests/unit/test_checkpassword - unit tests of core/checkpassword (room:
 * tests): the input Dovecot writes on fd 3 to a checkpassword program. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "core/checkpassword.h"

/* test_parse - user and password end at their NUL; what follows (the
 * timestamp) is ignored. */
static void test_parse(void **state)
{
    (void)state;
    static const char in[] = "alice@example.test\0Se cret\0"
                             "1700000000";
    const char *user, *password;
    assert_int_equal(checkpassword_parse(in, sizeof in, &user, &password), 0);
    assert_string_equal(user, "alice@example.test");
    assert_string_equal(password, "Se cret");
    static const char empty_pw[] = "bob\0";
    assert_int_equal(checkpassword_parse(empty_pw, sizeof empty_pw, &user, &password), 0);
    assert_string_equal(password, "");
}

/* test_refused - no user, a missing NUL, more than the limit. */
static void test_refused(void **state)
{
    (void)state;
    const char *user, *password;
    char big[CHECKPASSWORD_MAX + 1];
    memset(big, 'a', sizeof big);
    big[1] = '\0', big[3] = '\0';
    assert_int_equal(checkpassword_parse("\0pw\0", 4, &user, &password), -1);
    assert_int_equal(checkpassword_parse("alice", 5, &user, &password), -1);
    assert_int_equal(checkpassword_parse("alice\0pw", 8, &user, &password), -1);
    assert_int_equal(checkpassword_parse("", 0, &user, &password), -1);
    assert_int_equal(checkpassword_parse(big, sizeof big, &user, &password), -1);
    assert_int_equal(checkpassword_parse(big, sizeof big - 1, &user, &password), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
