/* tests/unit/test_command - room: tests.  cmocka tests of smtp/command:
 * verb splitting, MAIL parameters (SIZE, BODY, SMTPUTF8) and RCPT. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/command.h"

/* split - smtp_command_split on a C string. */
static void split(const char *line, struct smtp_command *cmd)
{
    smtp_command_split(line, strlen(line), cmd);
}

/* expect_split - LINE gives VERB and ARGS. */
static void expect_split(const char *line, enum smtp_verb verb, const char *args)
{
    struct smtp_command cmd;
    split(line, &cmd);
    assert_int_equal(cmd.verb, verb);
    assert_int_equal(cmd.args_len, strlen(args));
    assert_memory_equal(cmd.args, args, cmd.args_len);
    assert_true(cmd.args >= line && cmd.args + cmd.args_len <= line + strlen(line));
}

/* test_split_verbs - every verb, in any case. */
static void test_split_verbs(void **state)
{
    static const struct {
        const char *line;
        enum smtp_verb verb;
    } cases[] = {
        {"HELO", SMTP_VERB_HELO},       {"ehlo", SMTP_VERB_EHLO},
        {"Mail", SMTP_VERB_MAIL},       {"rCpT", SMTP_VERB_RCPT},
        {"DATA", SMTP_VERB_DATA},       {"RSET", SMTP_VERB_RSET},
        {"NOOP", SMTP_VERB_NOOP},       {"QUIT", SMTP_VERB_QUIT},
        {"HELP", SMTP_VERB_HELP},       {"VRFY", SMTP_VERB_VRFY},
        {"EXPN", SMTP_VERB_EXPN},       {"StartTLS", SMTP_VERB_STARTTLS},
        {"AUTH", SMTP_VERB_AUTH},       {"BDAT", SMTP_VERB_UNKNOWN},
        {"HEL", SMTP_VERB_UNKNOWN},     {"HELOO", SMTP_VERB_UNKNOWN},
        {"UNKNOWN", SMTP_VERB_UNKNOWN}, {"", SMTP_VERB_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_split(cases[i].line, cases[i].verb, "");
}

/* test_split_args - arguments after the separating spaces, trimmed. */
static void test_split_args(void **state)
{
    expect_split("MAIL FROM:<a@b>", SMTP_VERB_MAIL, "FROM:<a@b>");
    expect_split("EHLO client.example", SMTP_VERB_EHLO, "client.example");
    expect_split("EHLO  client.example  ", SMTP_VERB_EHLO, "client.example");
    expect_split("NOOP ", SMTP_VERB_NOOP, "");
    expect_split("NOOP     ", SMTP_VERB_NOOP, "");
    expect_split("AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=", SMTP_VERB_AUTH, "PLAIN dGVzdAB0ZXN0AHRlc3Q=");
    expect_split("RCPT TO:<a@b> x", SMTP_VERB_RCPT, "TO:<a@b> x");
    expect_split("XYZZY plugh", SMTP_VERB_UNKNOWN, "plugh");
    /* Tabs are not the separator and are not trimmed. */
    expect_split("HELP topic\t", SMTP_VERB_HELP, "topic\t");
}

/* test_split_bad_separator - a verb must end at a space or the end. */
static void test_split_bad_separator(void **state)
{
    expect_split("HELO\tx", SMTP_VERB_UNKNOWN, "");
    expect_split("MAIL:FROM", SMTP_VERB_UNKNOWN, "");
    expect_split("QUIT2", SMTP_VERB_UNKNOWN, "");
    expect_split(" QUIT", SMTP_VERB_UNKNOWN, "");
    expect_split("\x80QUIT", SMTP_VERB_UNKNOWN, "");
    expect_split("QUIT\r", SMTP_VERB_UNKNOWN, "");
}

/* test_split_len - LEN is honoured; a NUL is just another octet. */
static void test_split_len(void **state)
{
    struct smtp_command cmd;
    smtp_command_split("QUIT and more", 4, &cmd);
    assert_int_equal(cmd.verb, SMTP_VERB_QUIT);
    assert_int_equal(cmd.args_len, 0);
    smtp_command_split("NOOP a\0b", 8, &cmd);
    assert_int_equal(cmd.verb, SMTP_VERB_NOOP);
    assert_int_equal(cmd.args_len, 3);
    smtp_command_split("QU\0T", 4, &cmd);
    assert_int_equal(cmd.verb, SMTP_VERB_UNKNOWN);
    smtp_command_split("", 0, &cmd);
    assert_int_equal(cmd.verb, SMTP_VERB_UNKNOWN);
    assert_int_equal(cmd.args_len, 0);
}

/* test_verb_name - names for logs. */
static void test_verb_name(void **state)
{
    assert_string_equal(smtp_verb_name(SMTP_VERB_MAIL), "MAIL");
    assert_string_equal(smtp_verb_name(SMTP_VERB_STARTTLS), "STARTTLS");
    assert_string_equal(smtp_verb_name(SMTP_VERB_UNKNOWN), "UNKNOWN");
    assert_string_equal(smtp_verb_name(SMTP_VERB_COUNT), "UNKNOWN");
    for (int v = 0; v < SMTP_VERB_COUNT; v++)
        assert_non_null(smtp_verb_name((enum smtp_verb)v));
}

/* mail - smtp_parse_mail on a C string. */
static enum smtp_param_status mail(const char *args, struct smtp_mail_args *out,
                                   enum address_status *ast)
{
    return smtp_parse_mail(args, strlen(args), out, ast);
}

/* mail_status - just the status for ARGS. */
static enum smtp_param_status mail_status(const char *args)
{
    struct smtp_mail_args m;
    enum address_status ast;
    return mail(args, &m, &ast);
}

/* test_mail_basic - the path and the defaults. */
static void test_mail_basic(void **state)
{
    struct smtp_mail_args m;
    enum address_status ast = ADDRESS_SYNTAX;
    assert_int_equal(mail("FROM:<User@Example.COM>", &m, &ast), SMTP_PARAM_OK);
    assert_int_equal(ast, ADDRESS_OK);
    assert_string_equal(m.from.local, "User");
    assert_string_equal(m.from.domain, "example.com");
    assert_int_equal(m.size, 0);
    assert_int_equal(m.body, SMTP_BODY_7BIT);
    assert_false(m.smtputf8);
    assert_int_equal(mail("from:<a@b>", &m, &ast), SMTP_PARAM_OK);
    assert_int_equal(mail("From: <a@b>", &m, &ast), SMTP_PARAM_OK);
    assert_string_equal(m.from.local, "a");
    assert_int_equal(mail("FROM:<>", &m, &ast), SMTP_PARAM_OK);
    assert_true(m.from.null_path);
}

/* test_mail_prefix - "FROM:" is required, one space after it at most. */
static void test_mail_prefix(void **state)
{
    struct smtp_mail_args m;
    enum address_status ast;
    assert_int_equal(mail_status(""), SMTP_PARAM_SYNTAX);
    assert_int_equal(mail_status("FROM"), SMTP_PARAM_SYNTAX);
    assert_int_equal(mail_status("FROM <a@b>"), SMTP_PARAM_SYNTAX);
    assert_int_equal(mail_status("FROM :<a@b>"), SMTP_PARAM_SYNTAX);
    assert_int_equal(mail_status("TO:<a@b>"), SMTP_PARAM_SYNTAX);
    assert_int_equal(mail_status("FRM:<a@b>"), SMTP_PARAM_SYNTAX);
    assert_int_equal(mail("FROM:", &m, &ast), SMTP_PARAM_ADDRESS);
    assert_int_equal(ast, ADDRESS_SYNTAX);
    assert_int_equal(mail("FROM:  <a@b>", &m, &ast), SMTP_PARAM_ADDRESS);
    assert_int_equal(ast, ADDRESS_SYNTAX);
    assert_int_equal(mail("FROM:a@b", &m, &ast), SMTP_PARAM_ADDRESS);
    assert_int_equal(ast, ADDRESS_SYNTAX);
}

/* test_mail_address_errors - address problems carry their status. */
static void test_mail_address_errors(void **state)
{
    struct smtp_mail_args m;
    enum address_status ast;
    char buf[400];
    assert_int_equal(mail("FROM:<@a.example:u@b.example>", &m, &ast), SMTP_PARAM_ADDRESS);
    assert_int_equal(ast, ADDRESS_SOURCE_ROUTE);
    assert_int_equal(mail("FROM:<a@b@c>", &m, &ast), SMTP_PARAM_ADDRESS);
    assert_int_equal(ast, ADDRESS_SYNTAX);
    snprintf(buf, sizeof(buf), "FROM:<%070d@b>", 0);
    assert_int_equal(mail(buf, &m, &ast), SMTP_PARAM_ADDRESS);
    assert_int_equal(ast, ADDRESS_TOO_LONG);
    /* A bare postmaster is a recipient only. */
    assert_int_equal(mail("FROM:<postmaster>", &m, &ast), SMTP_PARAM_ADDRESS);
    assert_int_equal(ast, ADDRESS_SYNTAX);
}

/* test_mail_size - SIZE=digits, bounded (RFC 1870). */
static void test_mail_size(void **state)
{
    struct smtp_mail_args m;
    enum address_status ast;
    assert_int_equal(mail("FROM:<a@b> SIZE=12345", &m, &ast), SMTP_PARAM_OK);
    assert_int_equal(m.size, 12345);
    assert_int_equal(mail("FROM:<a@b> size=0", &m, &ast), SMTP_PARAM_OK);
    assert_int_equal(m.size, 0);
    assert_int_equal(mail("FROM:<a@b> SIZE=18446744073709551615", &m, &ast), SMTP_PARAM_OK);
    assert_int_equal(m.size, SIZE_MAX);
    assert_int_equal(mail_status("FROM:<a@b> SIZE=18446744073709551616"), SMTP_PARAM_SYNTAX);
    assert_int_equal(mail_status("FROM:<a@b> SIZE=000000000000000000001"), SMTP_PARAM_SYNTAX);
    assert_int_equal(mail_status("FROM:<a@b> SIZE=99999999999999999999999"), SMTP_PARAM_SYNTAX);
    assert_int_equal(mail_status("FROM:<a@b> SIZE="), SMTP_PARAM_SYNTAX);
    assert_int_equal(mail_status("FROM:<a@b> SIZE"), SMTP_PARAM_SYNTAX);
    assert_int_equal(mail_status("FROM:<a@b> SIZE=-1"), SMTP_PARAM_SYNTAX);
    assert_int_equal(mail_status("FROM:<a@b> SIZE=1k"), SMTP_PARAM_SYNTAX);
    assert_int_equal(mail_status("FROM:<a@b> SIZE=+1"), SMTP_PARAM_SYNTAX);
    assert_int_equal(mail_status("FROM:<a@b> SIZE=1 SIZE=1"), SMTP_PARAM_SYNTAX);
}

/* test_mail_body - BODY=7BIT|8BITMIME, any case (RFC 6152). */
static void test_mail_body(void **state)
{
    struct smtp_mail_args m;
    enum address_status ast;
    assert_int_equal(mail("FROM:<a@b> BODY=8BITMIME", &m, &ast), SMTP_PARAM_OK);
    assert_int_equal(m.body, SMTP_BODY_8BITMIME);
    assert_int_equal(mail("FROM:<a@b> body=8bitmime", &m, &ast), SMTP_PARAM_OK);
    assert_int_equal(m.body, SMTP_BODY_8BITMIME);
    assert_int_equal(mail("FROM:<a@b> BODY=7bit", &m, &ast), SMTP_PARAM_OK);
    assert_int_equal(m.body, SMTP_BODY_7BIT);
    assert_int_equal(mail_status("FROM:<a@b> BODY=BINARYMIME"), SMTP_PARAM_SYNTAX);
    assert_int_equal(mail_status("FROM:<a@b> BODY=8BIT"), SMTP_PARAM_SYNTAX);
    assert_int_equal(mail_status("FROM:<a@b> BODY="), SMTP_PARAM_SYNTAX);
    assert_int_equal(mail_status("FROM:<a@b> BODY"), SMTP_PARAM_SYNTAX);
    assert_int_equal(mail_status("FROM:<a@b> BODY=7BIT BODY=8BITMIME"), SMTP_PARAM_SYNTAX);
}

/* test_mail_smtputf8 - SMTPUTF8 takes no value and allows a UTF-8 path
 * given before it in the same command (RFC 6531 3.4). */
static void test_mail_smtputf8(void **state)
{
    struct smtp_mail_args m;
    enum address_status ast;
    assert_int_equal(mail("FROM:<a@b> SMTPUTF8", &m, &ast), SMTP_PARAM_OK);
    assert_true(m.smtputf8);
    assert_false(m.from.utf8);
    assert_int_equal(mail("FROM:<j\xc3\xb6rg@b> SMTPUTF8", &m, &ast), SMTP_PARAM_OK);
    assert_true(m.from.utf8);
    assert_string_equal(m.from.local, "j\xc3\xb6rg");
    assert_int_equal(mail("FROM:<j\xc3\xb6rg@b> smtputf8 BODY=8BITMIME", &m, &ast), SMTP_PARAM_OK);
    assert_int_equal(mail("FROM:<j\xc3\xb6rg@b>", &m, &ast), SMTP_PARAM_ADDRESS);
    assert_int_equal(ast, ADDRESS_NEEDS_UTF8);
    assert_int_equal(mail("FROM:<j\xc3\xb6rg@b> BODY=8BITMIME", &m, &ast), SMTP_PARAM_ADDRESS);
    assert_int_equal(ast, ADDRESS_NEEDS_UTF8);
    assert_int_equal(mail("FROM:<j\xc3@b> SMTPUTF8", &m, &ast), SMTP_PARAM_ADDRESS);
    assert_int_equal(ast, ADDRESS_SYNTAX);
    assert_int_equal(mail_status("FROM:<a@b> SMTPUTF8=yes"), SMTP_PARAM_SYNTAX);
    assert_int_equal(mail_status("FROM:<a@b> SMTPUTF8 SMTPUTF8"), SMTP_PARAM_SYNTAX);
}

/* test_mail_params - several parameters, unknown ones, bad syntax. */
static void test_mail_params(void **state)
{
    struct smtp_mail_args m;
    enum address_status ast;
    assert_int_equal(mail("FROM:<a@b> SIZE=100 BODY=8BITMIME SMTPUTF8", &m, &ast), SMTP_PARAM_OK);
    assert_int_equal(m.size, 100);
    assert_int_equal(m.body, SMTP_BODY_8BITMIME);
    assert_true(m.smtputf8);
    assert_int_equal(mail("FROM:<> SMTPUTF8  SIZE=5", &m, &ast), SMTP_PARAM_OK);
    assert_int_equal(m.size, 5);
    assert_int_equal(mail_status("FROM:<a@b> RET=HDRS"), SMTP_PARAM_UNKNOWN);
    assert_int_equal(mail_status("FROM:<a@b> AUTH=<>"), SMTP_PARAM_OK); /* RFC 4954 5 */
    assert_int_equal(mail_status("FROM:<a@b> AUTH="), SMTP_PARAM_SYNTAX);
    assert_int_equal(mail_status("FROM:<a@b> AUTH=<> AUTH=<>"), SMTP_PARAM_SYNTAX);
    assert_int_equal(mail_status("FROM:<a@b> X-FOO"), SMTP_PARAM_UNKNOWN);
    assert_int_equal(mail_status("FROM:<a@b> SIZE=1 ENVID=x"), SMTP_PARAM_UNKNOWN);
    assert_int_equal(mail_status("FROM:<a@b>SIZE=1"), SMTP_PARAM_SYNTAX);
    assert_int_equal(mail_status("FROM:<a@b>\tSIZE=1"), SMTP_PARAM_SYNTAX);
    assert_int_equal(mail_status("FROM:<a@b> -SIZE=1"), SMTP_PARAM_SYNTAX);
    assert_int_equal(mail_status("FROM:<a@b> SIZE=1=2"), SMTP_PARAM_SYNTAX);
    assert_int_equal(mail_status("FROM:<a@b> SI_ZE=1"), SMTP_PARAM_SYNTAX);
    assert_int_equal(mail_status("FROM:<a@b> =1"), SMTP_PARAM_SYNTAX);
    assert_int_equal(mail_status("FROM:<a@b> SIZE=1\t"), SMTP_PARAM_SYNTAX);
    /* Trailing spaces are tolerated (split trims them anyway). */
    assert_int_equal(mail_status("FROM:<a@b> SIZE=1 "), SMTP_PARAM_OK);
    assert_int_equal(mail_status("FROM:<a@b> "), SMTP_PARAM_OK);
}

/* test_mail_len - LEN is honoured. */
static void test_mail_len(void **state)
{
    struct smtp_mail_args m;
    enum address_status ast;
    const char *s = "FROM:<a@b> SIZE=123";
    assert_int_equal(smtp_parse_mail(s, strlen(s) - 1, &m, &ast), SMTP_PARAM_OK);
    assert_int_equal(m.size, 12);
    assert_int_equal(smtp_parse_mail(s, 9, &m, &ast), SMTP_PARAM_ADDRESS);
    assert_int_equal(smtp_parse_mail(s, 4, &m, &ast), SMTP_PARAM_SYNTAX);
}

/* rcpt - smtp_parse_rcpt on a C string. */
static enum smtp_param_status rcpt(const char *args, bool utf8, struct smtp_rcpt_args *out,
                                   enum address_status *ast)
{
    return smtp_parse_rcpt(args, strlen(args), utf8, out, ast);
}

/* test_rcpt - "TO:" path, no null path, no parameters. */
static void test_rcpt(void **state)
{
    struct smtp_rcpt_args r;
    enum address_status ast;
    assert_int_equal(rcpt("TO:<Bob@Example.org>", false, &r, &ast), SMTP_PARAM_OK);
    assert_int_equal(ast, ADDRESS_OK);
    assert_string_equal(r.to.local, "Bob");
    assert_string_equal(r.to.domain, "example.org");
    assert_int_equal(rcpt("to: <b@c>", false, &r, &ast), SMTP_PARAM_OK);
    assert_int_equal(rcpt("TO:<postmaster>", false, &r, &ast), SMTP_PARAM_OK);
    assert_string_equal(r.to.local, "postmaster");
    assert_string_equal(r.to.domain, "");
    assert_int_equal(rcpt("TO:<>", false, &r, &ast), SMTP_PARAM_ADDRESS);
    assert_int_equal(ast, ADDRESS_SYNTAX);
    assert_int_equal(rcpt("TO:<@a:b@c>", false, &r, &ast), SMTP_PARAM_ADDRESS);
    assert_int_equal(ast, ADDRESS_SOURCE_ROUTE);
    assert_int_equal(rcpt("TO:<b@c> NOTIFY=NEVER", false, &r, &ast), SMTP_PARAM_UNKNOWN);
    assert_int_equal(rcpt("TO:<b@c> X", false, &r, &ast), SMTP_PARAM_UNKNOWN);
    assert_int_equal(rcpt("TO:<b@c> =", false, &r, &ast), SMTP_PARAM_SYNTAX);
    assert_int_equal(rcpt("TO:<b@c>x", false, &r, &ast), SMTP_PARAM_SYNTAX);
    assert_int_equal(rcpt("TO:<b@c> ", false, &r, &ast), SMTP_PARAM_OK);
    assert_int_equal(rcpt("TO<b@c>", false, &r, &ast), SMTP_PARAM_SYNTAX);
    assert_int_equal(rcpt("FROM:<b@c>", false, &r, &ast), SMTP_PARAM_SYNTAX);
    assert_int_equal(rcpt("", false, &r, &ast), SMTP_PARAM_SYNTAX);
    assert_int_equal(rcpt("TO:  <b@c>", false, &r, &ast), SMTP_PARAM_ADDRESS);
}

/* test_rcpt_utf8 - the allowance comes from MAIL's SMTPUTF8. */
static void test_rcpt_utf8(void **state)
{
    struct smtp_rcpt_args r;
    enum address_status ast;
    assert_int_equal(rcpt("TO:<\xc3\xa9@b>", false, &r, &ast), SMTP_PARAM_ADDRESS);
    assert_int_equal(ast, ADDRESS_NEEDS_UTF8);
    assert_int_equal(rcpt("TO:<\xc3\xa9@b>", true, &r, &ast), SMTP_PARAM_OK);
    assert_true(r.to.utf8);
    assert_int_equal(rcpt("TO:<\xc3\xa9@b> SMTPUTF8", true, &r, &ast), SMTP_PARAM_UNKNOWN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_verbs),
        cmocka_unit_test(test_split_args),
        cmocka_unit_test(test_split_bad_separator),
        cmocka_unit_test(test_split_len),
        cmocka_unit_test(test_verb_name),
        cmocka_unit_test(test_mail_basic),
        cmocka_unit_test(test_mail_prefix),
        cmocka_unit_test(test_mail_address_errors),
        cmocka_unit_test(test_mail_size),
        cmocka_unit_test(test_mail_body),
        cmocka_unit_test(test_mail_smtputf8),
        cmocka_unit_test(test_mail_params),
        cmocka_unit_test(test_mail_len),
        cmocka_unit_test(test_rcpt),
        cmocka_unit_test(test_rcpt_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
