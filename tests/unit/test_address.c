/* tests/unit/test_address - room: tests.  cmocka tests of core/address:
 * the RFC 5321 4.1.2 Path grammar, its limits, routes, literals, quoted
 * and UTF-8 local parts, and address_format's round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/address.h"

/* parse - parse the C string S with the given allowances. */
static enum address_status parse(const char *s, bool allow_null, bool allow_utf8,
                                 struct mailbox *mb, size_t *used)
{
    return address_parse_path(s, strlen(s), allow_null, allow_utf8, mb, used);
}

/* status_of - the status for S as a forward-path without SMTPUTF8. */
static enum address_status status_of(const char *s)
{
    struct mailbox mb;
    size_t used;
    return parse(s, false, false, &mb, &used);
}

/* expect_ok - S parses (allow_null/allow_utf8 as given) to LOCAL@DOMAIN. */
static void expect_ok(const char *s, bool allow_null, bool allow_utf8, const char *local,
                      const char *domain)
{
    struct mailbox mb;
    size_t used = 99;
    assert_int_equal(parse(s, allow_null, allow_utf8, &mb, &used), ADDRESS_OK);
    assert_string_equal(mb.local, local);
    assert_string_equal(mb.domain, domain);
    assert_int_equal(used, strlen(s));
}

/* test_simple - the plain cases, with the domain lowercased. */
static void test_simple(void **state)
{
    struct mailbox mb;
    size_t used;
    expect_ok("<user@example.com>", false, false, "user", "example.com");
    expect_ok("<User.Name@Example.COM>", true, false, "User.Name", "example.com");
    expect_ok("<a@b>", false, false, "a", "b");
    expect_ok("<a-b_c+tag@mail-1.example.org>", false, false, "a-b_c+tag", "mail-1.example.org");
    expect_ok("<x@123.example>", false, false, "x", "123.example");
    expect_ok("<x@1a>", false, false, "x", "1a");
    assert_int_equal(parse("<user@example.com>", false, false, &mb, &used), ADDRESS_OK);
    assert_false(mb.null_path);
    assert_false(mb.quoted_local);
    assert_false(mb.literal);
    assert_false(mb.utf8);
}

/* test_consumed - only the path is consumed; parameters stay. */
static void test_consumed(void **state)
{
    struct mailbox mb;
    size_t used = 0;
    const char *s = "<a@b.c> SIZE=10";
    assert_int_equal(address_parse_path(s, strlen(s), true, false, &mb, &used), ADDRESS_OK);
    assert_int_equal(used, 7);
    /* LEN is honoured: the '>' beyond it is not seen. */
    assert_int_equal(address_parse_path(s, 6, true, false, &mb, &used), ADDRESS_SYNTAX);
    assert_int_equal(used, 0);
    assert_int_equal(address_parse_path(s, 0, true, false, &mb, &used), ADDRESS_SYNTAX);
}

/* test_all_atext - every RFC 5322 atext octet is accepted, '%' and '!'
 * included (policy refuses those later). */
static void test_all_atext(void **state)
{
    expect_ok("<!#$%&'*+-/=?^_`{|}~@x.y>", false, false, "!#$%&'*+-/=?^_`{|}~", "x.y");
    expect_ok("<user%other@relay.example>", false, false, "user%other", "relay.example");
    expect_ok("<host!user@relay.example>", false, false, "host!user", "relay.example");
}

/* test_dot_string - dots only between atoms. */
static void test_dot_string(void **state)
{
    expect_ok("<a.b.c@x>", false, false, "a.b.c", "x");
    assert_int_equal(status_of("<.a@x>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<a.@x>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<a..b@x>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<@x>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<a(b)@x>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<a,b@x>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<a;b@x>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<a[b@x>"), ADDRESS_SYNTAX);
}

/* test_brackets - the path must be bracketed, and end with '>'. */
static void test_brackets(void **state)
{
    assert_int_equal(status_of("user@example.com"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<user@example.com"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("user@example.com>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of(" <user@example.com>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of(""), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<<a@b>>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<a@b"), ADDRESS_SYNTAX);
}

/* test_bad_octets - no spaces, controls, NUL, CR or LF outside quotes. */
static void test_bad_octets(void **state)
{
    struct mailbox mb;
    size_t used;
    assert_int_equal(status_of("< a@b>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<a @b>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<a@ b>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<a@b >"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<a\tb@c>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<a\rb@c>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<a\nb@c>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<a@b\r\n>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<a\x7f@b>"), ADDRESS_SYNTAX);
    assert_int_equal(address_parse_path("<a\0b@c>", 7, false, false, &mb, &used), ADDRESS_SYNTAX);
    assert_int_equal(address_parse_path("<ab@c\0>", 7, false, false, &mb, &used), ADDRESS_SYNTAX);
    assert_int_equal(address_parse_path("<\"a\0b\"@c>", 9, false, false, &mb, &used),
                     ADDRESS_SYNTAX);
}

/* test_multiple_at - a second unquoted '@' breaks the grammar. */
static void test_multiple_at(void **state)
{
    assert_int_equal(status_of("<a@b@c>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<a@@b>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<a@>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<a@b.>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<a@.b>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<a@b..c>"), ADDRESS_SYNTAX);
}

/* test_labels - Let-dig [Ldh-str], at most 63 octets a label. */
static void test_labels(void **state)
{
    char buf[300];
    expect_ok("<a@x-y.example>", false, false, "a", "x-y.example");
    expect_ok("<a@x--y.example>", false, false, "a", "x--y.example");
    assert_int_equal(status_of("<a@-x.example>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<a@x-.example>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<a@x.example->"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<a@x_y.example>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<a@->"), ADDRESS_SYNTAX);

    snprintf(buf, sizeof(buf), "<a@%063d.example>", 0);
    assert_int_equal(status_of(buf), ADDRESS_OK);
    snprintf(buf, sizeof(buf), "<a@%064d.example>", 0);
    assert_int_equal(status_of(buf), ADDRESS_SYNTAX);
}

/* test_null_path - "<>" only where a reverse-path is parsed. */
static void test_null_path(void **state)
{
    struct mailbox mb;
    size_t used = 0;
    assert_int_equal(parse("<>", true, false, &mb, &used), ADDRESS_OK);
    assert_true(mb.null_path);
    assert_string_equal(mb.local, "");
    assert_string_equal(mb.domain, "");
    assert_int_equal(used, 2);
    assert_int_equal(parse("<> SIZE=1", true, false, &mb, &used), ADDRESS_OK);
    assert_int_equal(used, 2);
    assert_int_equal(parse("<>", false, false, &mb, &used), ADDRESS_SYNTAX);
    assert_false(mb.null_path);
    assert_int_equal(parse("< >", true, false, &mb, &used), ADDRESS_SYNTAX);
}

/* test_postmaster - "<postmaster>" without a domain, only as a recipient
 * (RFC 5321 4.5.1), any case. */
static void test_postmaster(void **state)
{
    struct mailbox mb;
    size_t used;
    expect_ok("<postmaster>", false, false, "postmaster", "");
    expect_ok("<PostMaster>", false, false, "postmaster", "");
    expect_ok("<POSTMASTER>", false, true, "postmaster", "");
    assert_int_equal(parse("<postmaster>", true, false, &mb, &used), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<postmasters>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<post.master>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<\"postmaster\">"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<user>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<@a.example:postmaster>"), ADDRESS_SYNTAX);
    expect_ok("<Postmaster@Example.org>", false, false, "Postmaster", "example.org");
}

/* test_source_route - well-formed routes are reported; broken ones are
 * syntax errors. */
static void test_source_route(void **state)
{
    struct mailbox mb;
    size_t used = 0;
    const char *s = "<@a.example,@b.example:user@c.example>";
    assert_int_equal(parse(s, true, false, &mb, &used), ADDRESS_SOURCE_ROUTE);
    assert_int_equal(used, strlen(s));
    assert_string_equal(mb.local, "");
    assert_int_equal(status_of("<@a.example:user@c.example>"), ADDRESS_SOURCE_ROUTE);
    assert_int_equal(status_of("<@a.example,user@c.example>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<@a.example:>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<@:user@c.example>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<@a.example,:user@c.example>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<@a.example,b.example:user@c.example>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<@[1.2.3.4]:user@c.example>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<@a.example:user>"), ADDRESS_SYNTAX);
}

/* test_literal - IPv4 and IPv6 literals set literal; others are refused. */
static void test_literal(void **state)
{
    struct mailbox mb;
    size_t used;
    assert_int_equal(parse("<u@[192.0.2.1]>", false, false, &mb, &used), ADDRESS_OK);
    assert_true(mb.literal);
    assert_string_equal(mb.domain, "[192.0.2.1]");
    expect_ok("<u@[0.0.0.0]>", false, false, "u", "[0.0.0.0]");
    expect_ok("<u@[255.255.255.255]>", false, false, "u", "[255.255.255.255]");
    expect_ok("<u@[001.02.3.4]>", false, false, "u", "[001.02.3.4]");
    expect_ok("<u@[IPv6:2001:db8::1]>", false, false, "u", "[ipv6:2001:db8::1]");
    expect_ok("<u@[ipv6:::1]>", false, false, "u", "[ipv6:::1]");
    expect_ok("<u@[IPv6:::ffff:192.0.2.1]>", false, false, "u", "[ipv6:::ffff:192.0.2.1]");
    expect_ok("<u@[IPv6:2001:DB8:0:0:0:0:0:1]>", false, false, "u", "[ipv6:2001:db8:0:0:0:0:0:1]");
    assert_int_equal(status_of("<u@[256.1.1.1]>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<u@[1.2.3]>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<u@[1.2.3.4.5]>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<u@[1.2.3.0004]>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<u@[1..2.3]>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<u@[1.2.3.4 ]>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<u@[]>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<u@[1.2.3.4>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<u@[2001:db8::1]>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<u@[IPv6:2001:db8::g]>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<u@[IPv6:]>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<u@[IPv6:1:2:3:4:5:6:7:8:9]>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<u@[x-tag:foo]>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<u@[1.2.3.4].example>"), ADDRESS_SYNTAX);
    assert_int_equal(
        status_of("<u@[IPv6:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000]>"),
        ADDRESS_SYNTAX);
}

/* test_quoted - quoted local parts are unescaped and flagged. */
static void test_quoted(void **state)
{
    struct mailbox mb;
    size_t used;
    assert_int_equal(parse("<\"john doe\"@example.com>", false, false, &mb, &used), ADDRESS_OK);
    assert_true(mb.quoted_local);
    assert_string_equal(mb.local, "john doe");
    expect_ok("<\"a\\\"b\\\\c\"@x>", false, false, "a\"b\\c", "x");
    expect_ok("<\"\\a\"@x>", false, false, "a", "x");
    expect_ok("<\"a@b\"@x>", false, false, "a@b", "x");
    expect_ok("<\"\"@x>", false, false, "", "x");
    expect_ok("<\"a..b.\"@x>", false, false, "a..b.", "x");
    expect_ok("<\"<>,;:()[]\"@x>", false, false, "<>,;:()[]", "x");
    assert_int_equal(status_of("<\"abc@x>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<\"a\"b@x>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<a\"b\"@x>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<\"a\"@>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<\"a\tb\"@x>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<\"a\\\tb\"@x>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<\"a\r\nb\"@x>"), ADDRESS_SYNTAX);
    assert_int_equal(status_of("<\"a\\\"@x>"), ADDRESS_SYNTAX);
}

/* test_lengths - RFC 5321 4.5.3.1: local 64, domain 255, path 256. */
static void test_lengths(void **state)
{
    char local[80], dom[300], path[600];
    memset(local, 'a', 64);
    local[64] = '\0';
    snprintf(path, sizeof(path), "<%s@x>", local);
    assert_int_equal(status_of(path), ADDRESS_OK);
    local[64] = 'a';
    local[65] = '\0';
    snprintf(path, sizeof(path), "<%s@x>", local);
    assert_int_equal(status_of(path), ADDRESS_TOO_LONG);

    /* A quoted local part counts as sent, quotes included. */
    memset(local, 'a', 62);
    local[62] = '\0';
    snprintf(path, sizeof(path), "<\"%s\"@x>", local);
    assert_int_equal(status_of(path), ADDRESS_OK);
    snprintf(path, sizeof(path), "<\"%sa\"@x>", local);
    assert_int_equal(status_of(path), ADDRESS_TOO_LONG);

    /* A 255-octet domain (four labels of 63 and three dots) is within its
     * own limit, but no path can carry it within 256 octets. */
    snprintf(dom, sizeof(dom), "%063d.%063d.%063d.%063d", 0, 0, 0, 0);
    snprintf(path, sizeof(path), "<a@%s>", dom);
    assert_int_equal(strlen(dom), 255);
    assert_int_equal(status_of(path), ADDRESS_TOO_LONG);
    snprintf(path, sizeof(path), "<a@%s.b>", dom);
    assert_int_equal(status_of(path), ADDRESS_TOO_LONG);

    /* The path: "<" + 60 + "@" + 255 + ">" is over 256 although each part
     * is within its limit. */
    memset(local, 'a', 60);
    local[60] = '\0';
    snprintf(path, sizeof(path), "<%s@%s>", local, dom);
    assert_int_equal(status_of(path), ADDRESS_TOO_LONG);
    /* ... and exactly 256 fits: "<a@" + 252 + ">". */
    snprintf(path, sizeof(path), "<a@%s>", dom + 3);
    assert_int_equal(strlen(path), 256);
    assert_int_equal(status_of(path), ADDRESS_OK);
    snprintf(path, sizeof(path), "<ab@%s>", dom + 3);
    assert_int_equal(strlen(path), 257);
    assert_int_equal(status_of(path), ADDRESS_TOO_LONG);
}

/* test_utf8 - non-ASCII needs SMTPUTF8 and must be well-formed. */
static void test_utf8(void **state)
{
    struct mailbox mb;
    size_t used;
    const char *s = "<j\xc3\xb6rg@b\xc3\xbc"
                    "cher.example>";
    assert_int_equal(parse(s, false, false, &mb, &used), ADDRESS_NEEDS_UTF8);
    assert_int_equal(parse(s, false, true, &mb, &used), ADDRESS_OK);
    assert_true(mb.utf8);
    assert_string_equal(mb.local, "j\xc3\xb6rg");
    assert_string_equal(mb.domain, "b\xc3\xbc"
                                   "cher.example");
    /* Uppercase ASCII in a UTF-8 domain is lowered, UTF-8 left alone. */
    expect_ok("<a@\xc3\x9c"
              "B.example>",
              false, true, "a",
              "\xc3\x9c"
              "b.example");
    /* Four-octet sequence, in a quoted local part. */
    expect_ok("<\"\xf0\x9f\x93\xa7 x\"@x>", false, true, "\xf0\x9f\x93\xa7 x", "x");
    /* Only the domain non-ASCII. */
    assert_int_equal(status_of("<a@\xe4\xbe\x8b.example>"), ADDRESS_NEEDS_UTF8);
    /* ASCII only: utf8 stays false even when allowed. */
    assert_int_equal(parse("<a@b>", false, true, &mb, &used), ADDRESS_OK);
    assert_false(mb.utf8);
}

/* test_utf8_malformed - broken UTF-8 is a syntax error either way. */
static void test_utf8_malformed(void **state)
{
    static const char *bad[] = {
        "<a\x80@x>",             /* lone continuation */
        "<a\xc3@x>",             /* truncated */
        "<a\xc0\xaf@x>",         /* overlong '/' */
        "<a\xc1\xbf@x>",         /* overlong */
        "<a\xe0\x80\xaf@x>",     /* overlong, three octets */
        "<a\xed\xa0\x80@x>",     /* surrogate U+D800 */
        "<a\xf4\x90\x80\x80@x>", /* above U+10FFFF */
        "<a\xf5\x80\x80\x80@x>", /* F5 never leads */
        "<a\xff@x>",
        "<a@x\xe2\x82>", /* truncated in the domain, before '>' */
        "<\"a\xc3\"@x>",
    };
    struct mailbox mb;
    size_t used;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse(bad[i], false, true, &mb, &used), ADDRESS_SYNTAX);
        assert_int_equal(parse(bad[i], false, false, &mb, &used), ADDRESS_SYNTAX);
    }
    /* A sequence cut by LEN is incomplete, not read past. */
    assert_int_equal(address_parse_path("<a\xc3\xb6@x>", 3, false, true, &mb, &used),
                     ADDRESS_SYNTAX);
}

/* test_format - address_format quotes only when it must. */
static void test_format(void **state)
{
    struct mailbox mb;
    size_t used;
    char buf[ADDRESS_TEXT_MAX];

    assert_int_equal(parse("<User@Example.COM>", false, false, &mb, &used), ADDRESS_OK);
    assert_string_equal(address_format(&mb, buf, sizeof(buf)), "User@example.com");
    assert_int_equal(parse("<>", true, false, &mb, &used), ADDRESS_OK);
    assert_string_equal(address_format(&mb, buf, sizeof(buf)), "");
    assert_int_equal(parse("<postmaster>", false, false, &mb, &used), ADDRESS_OK);
    assert_string_equal(address_format(&mb, buf, sizeof(buf)), "postmaster");
    assert_int_equal(parse("<\"abc\"@x>", false, false, &mb, &used), ADDRESS_OK);
    assert_string_equal(address_format(&mb, buf, sizeof(buf)), "abc@x");
    assert_int_equal(parse("<\"a b\"@x>", false, false, &mb, &used), ADDRESS_OK);
    assert_string_equal(address_format(&mb, buf, sizeof(buf)), "\"a b\"@x");
    assert_int_equal(parse("<\"a\\\"b\\\\\"@x>", false, false, &mb, &used), ADDRESS_OK);
    assert_string_equal(address_format(&mb, buf, sizeof(buf)), "\"a\\\"b\\\\\"@x");
    assert_int_equal(parse("<\"\"@x>", false, false, &mb, &used), ADDRESS_OK);
    assert_string_equal(address_format(&mb, buf, sizeof(buf)), "\"\"@x");
    assert_int_equal(parse("<\".a\"@x>", false, false, &mb, &used), ADDRESS_OK);
    assert_string_equal(address_format(&mb, buf, sizeof(buf)), "\".a\"@x");
    assert_int_equal(parse("<\"a.\"@x>", false, false, &mb, &used), ADDRESS_OK);
    assert_string_equal(address_format(&mb, buf, sizeof(buf)), "\"a.\"@x");
    assert_int_equal(parse("<\"a..b\"@x>", false, false, &mb, &used), ADDRESS_OK);
    assert_string_equal(address_format(&mb, buf, sizeof(buf)), "\"a..b\"@x");
    assert_int_equal(parse("<\"a@b\"@x>", false, false, &mb, &used), ADDRESS_OK);
    assert_string_equal(address_format(&mb, buf, sizeof(buf)), "\"a@b\"@x");
    assert_int_equal(parse("<u@[IPv6:::1]>", false, false, &mb, &used), ADDRESS_OK);
    assert_string_equal(address_format(&mb, buf, sizeof(buf)), "u@[ipv6:::1]");
    assert_int_equal(parse("<\xc3\xa9@x>", false, true, &mb, &used), ADDRESS_OK);
    assert_string_equal(address_format(&mb, buf, sizeof(buf)), "\xc3\xa9@x");
}

/* test_format_truncates - a short buffer is filled, never overrun. */
static void test_format_truncates(void **state)
{
    struct mailbox mb;
    size_t used;
    char buf[8];
    memset(buf, 'Z', sizeof(buf));
    assert_int_equal(parse("<abcdef@example.com>", false, false, &mb, &used), ADDRESS_OK);
    assert_string_equal(address_format(&mb, buf, 5), "abcd");
    assert_int_equal(buf[5], 'Z');
    memset(buf, 'Z', sizeof(buf));
    assert_string_equal(address_format(&mb, buf, 1), "");
    assert_int_equal(buf[1], 'Z');
    buf[0] = 'Q';
    address_format(&mb, buf, 0);
    assert_int_equal(buf[0], 'Q');
}

/* test_round_trip - formatting then parsing gives the same mailbox. */
static void test_round_trip(void **state)
{
    static const char *paths[] = {
        "<a@b>",        "<\"a b\"@c>", "<\"\\\\\\\"\"@c>", "<\"\"@c>",
        "<\"a.\"@c>",   "<!#%@c.d>",   "<u@[1.2.3.4]>",    "<u@[IPv6:::1]>",
        "<postmaster>", "<\"a@b\"@c>", "<\"(x)\"@c>",      "<\xc3\xa9.\xc3\xa9@x>",
    };
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        struct mailbox a, b;
        size_t used;
        char text[ADDRESS_TEXT_MAX], path[ADDRESS_TEXT_MAX + 2];
        assert_int_equal(parse(paths[i], false, true, &a, &used), ADDRESS_OK);
        address_format(&a, text, sizeof(text));
        snprintf(path, sizeof(path), "<%s>", text);
        assert_int_equal(parse(path, false, true, &b, &used), ADDRESS_OK);
        assert_string_equal(a.local, b.local);
        assert_string_equal(a.domain, b.domain);
        assert_int_equal(a.utf8, b.utf8);
        assert_int_equal(a.literal, b.literal);
    }
}

/* test_status_text - every status has words. */
static void test_status_text(void **state)
{
    for (int st = ADDRESS_OK; st <= ADDRESS_NEEDS_UTF8; st++) {
        const char *t = address_status_text((enum address_status)st);
        assert_non_null(t);
        assert_true(strlen(t) > 0);
    }
    assert_string_equal(address_status_text(ADDRESS_TOO_LONG), "address too long");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple),       cmocka_unit_test(test_consumed),
        cmocka_unit_test(test_all_atext),    cmocka_unit_test(test_dot_string),
        cmocka_unit_test(test_brackets),     cmocka_unit_test(test_bad_octets),
        cmocka_unit_test(test_multiple_at),  cmocka_unit_test(test_labels),
        cmocka_unit_test(test_null_path),    cmocka_unit_test(test_postmaster),
        cmocka_unit_test(test_source_route), cmocka_unit_test(test_literal),
        cmocka_unit_test(test_quoted),       cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_utf8),         cmocka_unit_test(test_utf8_malformed),
        cmocka_unit_test(test_format),       cmocka_unit_test(test_format_truncates),
        cmocka_unit_test(test_round_trip),   cmocka_unit_test(test_status_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
