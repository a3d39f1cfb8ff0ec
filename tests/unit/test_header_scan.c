/* tests/unit/test_header_scan - room: tests.  cmocka tests of
 * core/header_scan: From, Subject and Message-ID out of a header section,
 * unfolding, first-occurrence, control characters and the bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/header_scan.h"

/* scan - header_scan on a C string. */
static void scan(const char *msg, struct header_facts *f)
{
    header_scan(msg, strlen(msg), f);
}

/* from_of - the From fact for a one-field header "From: VALUE". */
static const char *from_of(const char *value)
{
    static struct header_facts f;
    char msg[1024];
    snprintf(msg, sizeof(msg), "From: %s\r\n\r\nbody\r\n", value);
    scan(msg, &f);
    return f.from;
}

/* one_field - the facts of a header of one field "NAME:VALUE" (no
 * space added). */
static const struct header_facts *one_field(const char *name, const char *value)
{
    static struct header_facts f;
    char msg[1024];
    snprintf(msg, sizeof(msg), "%s:%s\r\n\r\n", name, value);
    scan(msg, &f);
    return &f;
}

/* subject_of - the Subject fact for "Subject:VALUE" (no space added). */
static const char *subject_of(const char *value)
{
    return one_field("Subject", value)->subject;
}

/* id_of - the Message-ID fact for "Message-ID: VALUE". */
static const char *id_of(const char *value)
{
    return one_field("Message-ID", value)->message_id;
}

/* type_of - the report_type fact for "Content-Type:VALUE". */
static const char *type_of(const char *value)
{
    return one_field("Content-Type", value)->report_type;
}

/* test_basic - a usual header section. */
static void test_basic(void **state)
{
    struct header_facts f;
    scan("Received: from x by y; Wed, 25 Nov 2026 08:30:00 +0000\r\n"
         "From: Alice Example <Alice@Example.COM>\r\n"
         "To: bob@example.org\r\n"
         "Subject: Quarterly report\r\n"
         "Message-ID: <1234.5678@mail.example.com>\r\n"
         "\r\n"
         "From: not@header.example\r\n"
         "Subject: not a header\r\n",
         &f);
    assert_string_equal(f.from, "Alice@example.com");
    assert_string_equal(f.from_name, "AliceExample");
    assert_string_equal(f.subject, "Quarterly report");
    assert_string_equal(f.message_id, "<1234.5678@mail.example.com>");
}

/* test_missing - nothing found gives empty strings. */
static void test_missing(void **state)
{
    struct header_facts f;
    memset(&f, 'X', sizeof(f));
    scan("To: a@b\r\n\r\n", &f);
    assert_string_equal(f.from, "");
    assert_string_equal(f.from_name, "");
    assert_string_equal(f.subject, "");
    assert_string_equal(f.message_id, "");
    memset(&f, 'X', sizeof(f));
    header_scan("", 0, &f);
    assert_string_equal(f.from, "");
    header_scan(NULL, 0, &f);
    assert_string_equal(f.subject, "");
}

/* test_from_forms - name-addr, addr-spec, comments, quotes, lists. */
static void test_from_forms(void **state)
{
    assert_string_equal(from_of("a@b.example"), "a@b.example");
    assert_string_equal(from_of("  a@B.Example  "), "a@b.example");
    assert_string_equal(from_of("Name <a@b>"), "a@b");
    assert_string_equal(from_of("<a@b>"), "a@b");
    assert_string_equal(from_of("a@b (Alice)"), "a@b");
    assert_string_equal(from_of("(Alice) a@b"), "a@b");
    assert_string_equal(from_of("\"Smith, John\" <j@x>"), "j@x");
    assert_string_equal(from_of("\"Evil <e@evil>\" <good@x>"), "good@x");
    assert_string_equal(from_of("(comment <c@c>) <real@x>"), "real@x");
    assert_string_equal(from_of("(nested (c) <c@c>) real@x"), "real@x");
    assert_string_equal(from_of("a@b, c@d"), "a@b");
    assert_string_equal(from_of("A <a@b>, C <c@d>"), "a@b");
    assert_string_equal(from_of("Friends: a@b, c@d;"), "a@b");
    assert_string_equal(from_of("Friends:;"), "");
    assert_string_equal(from_of("\"john doe\"@Example.com"), "\"john doe\"@example.com");
    assert_string_equal(from_of("X <\"John\"@EX.com>"), "\"John\"@ex.com");
    assert_string_equal(from_of("<@route.example:user@Host.example>"), "user@host.example");
    assert_string_equal(from_of("Name < a@b >"), "a@b");
    assert_string_equal(from_of("Name <a@b"), "");
    assert_string_equal(from_of(""), "");
    assert_string_equal(from_of("   "), "");
    /* The local part keeps its case; only the domain is lowered. */
    assert_string_equal(from_of("Mixed.Case@MIXED.case"), "Mixed.Case@mixed.case");
}

/* test_folding - continuation lines are unfolded (RFC 5322 2.2.3). */
static void test_folding(void **state)
{
    struct header_facts f;
    scan("Subject: a long\r\n  subject\r\n\tline\r\n"
         "From: Alice\r\n <alice@Example.com>\r\n"
         "Message-ID:\r\n <id@host>\r\n"
         "\r\n",
         &f);
    assert_string_equal(f.subject, "a long  subject line");
    assert_string_equal(f.from, "alice@example.com");
    assert_string_equal(f.message_id, "<id@host>");
}

/* test_name_case - field names are matched without case. */
static void test_name_case(void **state)
{
    struct header_facts f;
    scan("FROM: a@b\r\nsubject: s\r\nmessage-id: <m@x>\r\n\r\n", &f);
    assert_string_equal(f.from, "a@b");
    assert_string_equal(f.subject, "s");
    assert_string_equal(f.message_id, "<m@x>");
    scan("MESSAGE-Id: <m@y>\r\n\r\n", &f);
    assert_string_equal(f.message_id, "<m@y>");
    /* Obsolete WSP before the colon (RFC 5322 4.5). */
    scan("Subject  : s2\r\n\r\n", &f);
    assert_string_equal(f.subject, "s2");
}

/* test_similar_names - prefixes and longer names are other fields. */
static void test_similar_names(void **state)
{
    struct header_facts f;
    scan("From-X: x@y\r\nResent-From: r@y\r\nSubjects: no\r\nMessage-IDs: <n@o>\r\n"
         "Fro: f@g\r\n\r\n",
         &f);
    assert_string_equal(f.from, "");
    assert_string_equal(f.subject, "");
    assert_string_equal(f.message_id, "");
}

/* test_first_wins - the first of repeated fields counts. */
static void test_first_wins(void **state)
{
    struct header_facts f;
    scan("Subject: one\r\nFrom: a@b\r\nSubject: two\r\nFrom: c@d\r\n"
         "Message-ID: <1@x>\r\nMessage-ID: <2@x>\r\n\r\n",
         &f);
    assert_string_equal(f.subject, "one");
    assert_string_equal(f.from, "a@b");
    assert_string_equal(f.message_id, "<1@x>");
    /* An empty first one still wins. */
    scan("Subject:\r\nSubject: later\r\n\r\n", &f);
    assert_string_equal(f.subject, "");
}

/* test_subject_trim - outer whitespace goes, inner stays. */
static void test_subject_trim(void **state)
{
    assert_string_equal(subject_of("   hello   world  "), "hello   world");
    assert_string_equal(subject_of("\thello\t"), "hello");
    assert_string_equal(subject_of(""), "");
    assert_string_equal(subject_of("    "), "");
    assert_string_equal(subject_of("=?UTF-8?B?w6k=?="), "=?UTF-8?B?w6k=?=");
    assert_string_equal(subject_of(" caf\xc3\xa9 "), "caf\xc3\xa9");
}

/* test_control_chars - control characters become '?'. */
static void test_control_chars(void **state)
{
    struct header_facts f;
    static const char msg[] = "Subject: a\x01"
                              "b\x7f"
                              "c\rd\x1b[31m\0e\r\n"
                              "From: x\x02y@b\r\n\r\n";
    header_scan(msg, sizeof(msg) - 1, &f);
    assert_string_equal(f.subject, "a?b?c?d?[31m?e");
    assert_string_equal(f.from, "x?y@b");
    assert_string_equal(id_of("<a\x05"
                              "b@c>"),
                        "<a?b@c>");
}

/* test_message_id - the bracketed token, comments around it ignored. */
static void test_message_id(void **state)
{
    assert_string_equal(id_of("<abc@def>"), "<abc@def>");
    assert_string_equal(id_of("  <abc@def>  (comment)"), "<abc@def>");
    assert_string_equal(id_of("(c <x@y>) <abc@def>"), "<abc@def>");
    assert_string_equal(id_of("<abc@def> <ghi@jkl>"), "<abc@def>");
    assert_string_equal(id_of("<abc @ def>"), "<abc@def>");
    assert_string_equal(id_of("abc@def"), "");
    assert_string_equal(id_of("<abc@def"), "");
    assert_string_equal(id_of(""), "");
}

/* test_end_of_header - the empty line ends the scan; bare LF too. */
static void test_end_of_header(void **state)
{
    struct header_facts f;
    scan("To: a@b\r\n\r\nSubject: body\r\n", &f);
    assert_string_equal(f.subject, "");
    scan("To: a@b\n\nSubject: body\n", &f);
    assert_string_equal(f.subject, "");
    scan("Subject: lf only\nFrom: a@b\n\n", &f);
    assert_string_equal(f.subject, "lf only");
    assert_string_equal(f.from, "a@b");
    /* No empty line and no final line end: the last field still counts. */
    scan("Subject: cut", &f);
    assert_string_equal(f.subject, "cut");
    scan("Subject: cut\r", &f);
    assert_string_equal(f.subject, "cut");
    /* An empty message body starts at once. */
    scan("\r\nSubject: x\r\n", &f);
    assert_string_equal(f.subject, "");
}

/* test_junk_lines - lines that are not fields are skipped. */
static void test_junk_lines(void **state)
{
    struct header_facts f;
    scan("this is not a field\r\n continuation of junk\r\n: no name\r\n"
         "Subject: ok\r\n\r\n",
         &f);
    assert_string_equal(f.subject, "ok");
    scan(" leading continuation\r\nFrom: a@b\r\n\r\n", &f);
    assert_string_equal(f.from, "a@b");
}

/* test_truncation - long values are cut to fit, never overrun, and a
 * cut does not split a UTF-8 sequence. */
static void test_truncation(void **state)
{
    struct header_facts f;
    char msg[2048];
    size_t n = (size_t)snprintf(msg, sizeof(msg), "Subject: ");
    for (int i = 0; i < 600; i++)
        msg[n++] = (char)('a' + i % 26);
    memcpy(msg + n, "\r\n\r\n", 5);
    scan(msg, &f);
    assert_int_equal(strlen(f.subject), HEADER_FACT_MAX - 1);
    assert_memory_equal(f.subject, msg + 9, HEADER_FACT_MAX - 1);

    /* "Subject: x" then e-acute (2 octets) repeated: 1 + 2k octets. */
    n = (size_t)snprintf(msg, sizeof(msg), "Subject: x");
    for (int i = 0; i < 300; i++) {
        msg[n++] = '\xc3';
        msg[n++] = '\xa9';
    }
    memcpy(msg + n, "\r\n\r\n", 5);
    scan(msg, &f);
    /* 255 octets would end inside a sequence: 254 are kept... and 1 + 2k
     * is odd, so 255 = 1 + 2*127 is a whole sequence boundary. */
    assert_int_equal(strlen(f.subject), 255);
    n = (size_t)snprintf(msg, sizeof(msg), "Subject: ");
    for (int i = 0; i < 300; i++) {
        msg[n++] = '\xc3';
        msg[n++] = '\xa9';
    }
    memcpy(msg + n, "\r\n\r\n", 5);
    scan(msg, &f);
    assert_int_equal(strlen(f.subject), 254);

    /* A long From address and Message-ID are cut, the id keeping '>'. */
    n = (size_t)snprintf(msg, sizeof(msg), "From: <");
    for (int i = 0; i < 400; i++)
        msg[n++] = 'u';
    n += (size_t)snprintf(msg + n, sizeof(msg) - n, "@x>\r\nMessage-ID: <");
    for (int i = 0; i < 400; i++)
        msg[n++] = 'm';
    memcpy(msg + n, "@x>\r\n\r\n", 8);
    scan(msg, &f);
    assert_int_equal(strlen(f.from), HEADER_FACT_MAX - 1);
    assert_int_equal(strlen(f.message_id), HEADER_FACT_MAX - 1);
    assert_int_equal(f.message_id[0], '<');
    assert_int_equal(f.message_id[HEADER_FACT_MAX - 2], '>');
}

/* test_long_display_name - a From whose address comes after a display
 * name longer than a fact is still found. */
static void test_long_display_name(void **state)
{
    char name[1000];
    memset(name, 'N', 600);
    memcpy(name + 600, " <a@B>", 7);
    assert_string_equal(from_of(name), "a@b");
}

/* test_bounce_fields - what tells a bounce: a multipart/report's
 * report-type (RFC 6522), Auto-Submitted (RFC 3834), X-Failed-Recipients. */
static void test_bounce_fields(void **state)
{
    struct header_facts f;
    assert_string_equal(type_of("multipart/report; report-type=delivery-status;\r\n"
                                "\tboundary=\"9B095B5ADSN=_01D\""),
                        "delivery-status");
    assert_string_equal(
        type_of("Multipart/Report; boundary=\"x;y\"; Report-Type=\"Delivery-Status\""),
        "delivery-status");
    assert_string_equal(
        type_of("multipart/report (a comment) ; report-type = disposition-notification"),
        "disposition-notification");
    assert_string_equal(type_of("multipart/mixed; report-type=delivery-status"), "");
    assert_string_equal(type_of("text/plain"), "");
    assert_string_equal(type_of("multipart/report; report-type"), "");
    assert_string_equal(type_of("multipart/report; report-type=\"unclosed"), "unclosed");
    assert_string_equal(type_of(""), "");
    assert_string_equal(
        type_of("multipart/report; report-type=delivery-status-and-a-very-long-tail-"
                "that-does-not-fit"),
        "delivery-status-and-a-very-long");
    scan("From: MAILER-DAEMON@example.net\r\nAuto-Submitted: Auto-Replied (bounce)\r\n"
         "X-Failed-Recipients: a@example.org\r\n\r\nbody\r\n",
         &f);
    assert_string_equal(f.auto_submitted, "auto-replied");
    assert_true(f.failed_recipients);
    assert_string_equal(f.report_type, "");
    scan("Auto-Submitted: no\r\nSubject: x\r\n\r\nX-Failed-Recipients: not a header\r\n", &f);
    assert_string_equal(f.auto_submitted, "no");
    assert_false(f.failed_recipients);
}

/* test_bounds - nothing past LEN is read (checked by ASan on an exact
 * heap copy) and only HEADER_SCAN_LIMIT octets are looked at. */
static void test_bounds(void **state)
{
    static const char text[] = "Subject: bounded\r\nFrom: a@b\r\nMessage-ID: <i@d>";
    struct header_facts f;
    for (size_t len = 0; len <= sizeof(text) - 1; len++) {
        char *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, text, len);
        header_scan(copy, len, &f);
        free(copy);
    }

    size_t big = HEADER_SCAN_LIMIT + 1000;
    char *msg = malloc(big);
    assert_non_null(msg);
    size_t n = 0;
    while (n + 20 < HEADER_SCAN_LIMIT) {
        memcpy(msg + n, "X-Pad: 0123456789\r\n", 19);
        n += 19;
    }
    memset(msg + n, 'y', big - n);
    memcpy(msg + HEADER_SCAN_LIMIT - 5, "\r\nSubject: late\r\n\r\n", 19);
    header_scan(msg, big, &f);
    assert_string_equal(f.subject, ""); /* starts inside the limit, only "Sub" seen */
    memcpy(msg + HEADER_SCAN_LIMIT - 14, "\r\nSubject: ear", 14);
    header_scan(msg, big, &f);
    assert_string_equal(f.subject, "ear");
    free(msg);
}

/* test_from_domains - every mailbox of every From: field, each domain
 * once, lowercased; "" for one without a domain; counted past MAX. */
static void test_from_domains(void **state)
{
    (void)state;
    char out[4][HEADER_FACT_MAX];
    const char *m = "From: \"A, B\" <a@X.test>, b@y.test (c),\r\n\tgrp: c@x.TEST;\r\n"
                    "Subject: s\r\nFrom: d@z.test, nodomain\r\n\r\nFrom: e@body.test\r\n";
    assert_int_equal(header_from_domains(m, strlen(m), out, 4), 4);
    assert_string_equal(out[0], "x.test");
    assert_string_equal(out[1], "y.test");
    assert_string_equal(out[2], "z.test");
    assert_string_equal(out[3], "");
    assert_int_equal(header_from_domains(m, strlen(m), out, 2), 4);
    const char *none = "To: a@b.test\r\n\r\n";
    assert_int_equal(header_from_domains(none, strlen(none), out, 4), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),         cmocka_unit_test(test_missing),
        cmocka_unit_test(test_from_forms),    cmocka_unit_test(test_folding),
        cmocka_unit_test(test_name_case),     cmocka_unit_test(test_similar_names),
        cmocka_unit_test(test_first_wins),    cmocka_unit_test(test_subject_trim),
        cmocka_unit_test(test_control_chars), cmocka_unit_test(test_message_id),
        cmocka_unit_test(test_end_of_header), cmocka_unit_test(test_junk_lines),
        cmocka_unit_test(test_truncation),    cmocka_unit_test(test_long_display_name),
        cmocka_unit_test(test_bounds),        cmocka_unit_test(test_bounce_fields),
        cmocka_unit_test(test_from_domains),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
