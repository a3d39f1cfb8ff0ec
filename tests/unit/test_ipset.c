/* tests/unit/test_ipset - unit tests of core/ipset (room: tests): every
 * entry form, IPv4-mapped matching, bad entries, breadth classification,
 * host bits, entries as text and loopback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "core/ipset.h"

/* add_ok - add ENTRY to SET, which must succeed; returns its breadth. */
static enum ipset_breadth add_ok(struct ipset *set, const char *entry)
{
    char err[256] = "";
    enum ipset_breadth b = IPSET_BREADTH_OK;
    int rc = ipset_add(set, entry, &b, err, sizeof(err));
    if (rc != 0)
        print_error("ipset_add(\"%s\") failed: %s\n", entry, err);
    assert_int_equal(rc, 0);
    return b;
}

/* breadth_of - the breadth of ENTRY alone. */
static enum ipset_breadth breadth_of(const char *entry)
{
    struct ipset *set = ipset_new();
    assert_non_null(set);
    enum ipset_breadth b = add_ok(set, entry);
    ipset_free(set);
    return b;
}

/* One entry and the breadth it must have. */
struct breadth_case {
    const char *entry;
    enum ipset_breadth breadth;
};

/* expect_breadths - each of the N CASES alone has its breadth. */
static void expect_breadths(const struct breadth_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        enum ipset_breadth b = breadth_of(cases[i].entry);
        if (b != cases[i].breadth)
            fail_msg("\"%s\": breadth %d, expected %d", cases[i].entry, (int)b,
                     (int)cases[i].breadth);
    }
}

/* test_single_v4 - one IPv4 address matches itself only. */
static void test_single_v4(void **state)
{
    struct ipset *set = ipset_new();
    assert_non_null(set);
    assert_int_equal(add_ok(set, "192.0.2.1"), IPSET_BREADTH_OK);
    assert_true(ipset_contains_str(set, "192.0.2.1"));
    assert_false(ipset_contains_str(set, "192.0.2.2"));
    assert_false(ipset_contains_str(set, "192.0.2.0"));
    assert_int_equal(ipset_count(set), 1);
    ipset_free(set);
}

/* test_cidr_v4 - a network covers its first and last address, with host bits masked. */
static void test_cidr_v4(void **state)
{
    struct ipset *set = ipset_new();
    assert_non_null(set);
    add_ok(set, "192.168.1.5/24");
    assert_true(ipset_contains_str(set, "192.168.1.0"));
    assert_true(ipset_contains_str(set, "192.168.1.255"));
    assert_false(ipset_contains_str(set, "192.168.2.0"));
    assert_false(ipset_contains_str(set, "192.168.0.255"));
    add_ok(set, "10.1.2.3/32");
    assert_true(ipset_contains_str(set, "10.1.2.3"));
    assert_false(ipset_contains_str(set, "10.1.2.4"));
    ipset_free(set);
}

/* test_range_v4 - a range includes both ends. */
static void test_range_v4(void **state)
{
    struct ipset *set = ipset_new();
    assert_non_null(set);
    add_ok(set, "10.0.0.1-10.0.0.50");
    assert_true(ipset_contains_str(set, "10.0.0.1"));
    assert_true(ipset_contains_str(set, "10.0.0.50"));
    assert_true(ipset_contains_str(set, "10.0.0.20"));
    assert_false(ipset_contains_str(set, "10.0.0.0"));
    assert_false(ipset_contains_str(set, "10.0.0.51"));
    add_ok(set, "10.9.9.9-10.9.9.9");
    assert_true(ipset_contains_str(set, "10.9.9.9"));
    ipset_free(set);
}

/* test_v6_forms - single, network and range in IPv6. */
static void test_v6_forms(void **state)
{
    struct ipset *set = ipset_new();
    assert_non_null(set);
    add_ok(set, "2001:db8::1");
    add_ok(set, "2001:db8:1::/48");
    add_ok(set, "2001:db8:2::10-2001:db8:2::ff");
    assert_true(ipset_contains_str(set, "2001:db8::1"));
    assert_false(ipset_contains_str(set, "2001:db8::2"));
    assert_true(ipset_contains_str(set, "2001:db8:1:ffff:ffff:ffff:ffff:ffff"));
    assert_false(ipset_contains_str(set, "2001:db8:3::"));
    assert_true(ipset_contains_str(set, "2001:db8:2::10"));
    assert_true(ipset_contains_str(set, "2001:db8:2::ff"));
    assert_false(ipset_contains_str(set, "2001:db8:2::100"));
    assert_false(ipset_contains_str(set, "192.0.2.1"));
    add_ok(set, "1111:2222:3333:4444:5555:6666:7777:8888-1111:2222:3333:4444:5555:6666:7777:8889");
    assert_true(ipset_contains_str(set, "1111:2222:3333:4444:5555:6666:7777:8889"));
    add_ok(set, "2001:db8:5::7/64");
    assert_true(ipset_contains_str(set, "2001:db8:5::"));
    add_ok(set, "::/0");
    assert_true(ipset_contains_str(set, "ffff::1"));
    assert_true(ipset_contains_str(set, "8.8.8.8"));
    assert_int_equal(ipset_count(set), 6);
    ipset_free(set);
}

/* test_sockaddr - AF_INET, AF_INET6 and IPv4-mapped IPv6 all match IPv4 entries. */
static void test_sockaddr(void **state)
{
    struct ipset *set = ipset_new();
    assert_non_null(set);
    add_ok(set, "192.0.2.0/24");
    add_ok(set, "2001:db8::/32");

    struct sockaddr_in sin = {.sin_family = AF_INET};
    inet_pton(AF_INET, "192.0.2.77", &sin.sin_addr);
    assert_true(ipset_contains(set, (struct sockaddr *)&sin));
    inet_pton(AF_INET, "198.51.100.1", &sin.sin_addr);
    assert_false(ipset_contains(set, (struct sockaddr *)&sin));

    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "::ffff:192.0.2.77", &sin6.sin6_addr);
    assert_true(ipset_contains(set, (struct sockaddr *)&sin6));
    inet_pton(AF_INET6, "::ffff:198.51.100.1", &sin6.sin6_addr);
    assert_false(ipset_contains(set, (struct sockaddr *)&sin6));
    inet_pton(AF_INET6, "2001:db8:ffff::1", &sin6.sin6_addr);
    assert_true(ipset_contains(set, (struct sockaddr *)&sin6));
    inet_pton(AF_INET6, "2001:db9::1", &sin6.sin6_addr);
    assert_false(ipset_contains(set, (struct sockaddr *)&sin6));

    struct sockaddr sa = {.sa_family = AF_UNIX};
    assert_false(ipset_contains(set, &sa));
    assert_true(ipset_contains_str(set, "::ffff:192.0.2.1"));
    ipset_free(set);
}

/* test_mapped_entry - an entry written as IPv4-mapped IPv6 matches IPv4 clients. */
static void test_mapped_entry(void **state)
{
    struct ipset *set = ipset_new();
    assert_non_null(set);
    add_ok(set, "::ffff:10.0.0.0/104");
    assert_true(ipset_contains_str(set, "10.200.1.1"));
    assert_false(ipset_contains_str(set, "11.0.0.1"));
    ipset_free(set);
}

/* test_bad_entries - each malformed entry is refused with a message. */
static void test_bad_entries(void **state)
{
    static const char *bad[] = {
        "",
        "256.0.0.1",
        "1.2.3",
        "1.2.3.4.5",
        "01.2.3.4",
        " 1.2.3.4",
        "1.2.3.4 ",
        "x1.2.3.4",
        "1.2.3.4x",
        "0x7f.0.0.1",
        "1.2.3.0/33",
        "1.2.3.0/",
        "1.2.3.0/-1",
        "1.2.3.0/+8",
        "1.2.3.0/1a",
        "/24",
        "2001:db8::/129",
        "2001:db8::/1000",
        "2001:db8:::1",
        "fe80::1%eth0",
        "10.0.0.50-10.0.0.1",
        "2001:db8::ff-2001:db8::1",
        "10.0.0.1-2001:db8::1",
        "2001:db8::1-10.0.0.1",
        "10.0.0.1-",
        "-10.0.0.1",
        "10.0.0.1-10.0.0.2-10.0.0.3",
        "10.0.0.0/8-10.1.0.0",
        "localhost",
        "@lan",
        "10.0.0.0/7x",
        "10.0.0.0/0008",
    };
    struct ipset *set = ipset_new();
    assert_non_null(set);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[256] = "";
        if (ipset_add(set, bad[i], NULL, err, sizeof(err)) == 0)
            fail_msg("\"%s\" was accepted", bad[i]);
        assert_true(err[0] != '\0');
    }
    assert_int_equal(ipset_count(set), 0);
    ipset_free(set);
}

/* test_too_long - over 100 characters is refused before parsing. */
static void test_too_long(void **state)
{
    char entry[200];
    memset(entry, '1', sizeof(entry) - 1);
    entry[sizeof(entry) - 1] = '\0';
    char err[256] = "";
    struct ipset *set = ipset_new();
    assert_non_null(set);
    assert_int_equal(ipset_add(set, entry, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "longer than 100"));
    ipset_free(set);
}

/* test_breadth_everything - a public /7 or more is the whole Internet. */
static void test_breadth_everything(void **state)
{
    static const struct breadth_case cases[] = {
        {"0.0.0.0/0", IPSET_BREADTH_EVERYTHING},
        {"192.168.1.0/0", IPSET_BREADTH_EVERYTHING},
        {"8.0.0.0/7", IPSET_BREADTH_EVERYTHING},
        {"0.0.0.0-255.255.255.255", IPSET_BREADTH_EVERYTHING},
        {"1.0.0.0-3.0.0.0", IPSET_BREADTH_EVERYTHING},
        {"::/0", IPSET_BREADTH_EVERYTHING},
        {"2000::/3", IPSET_BREADTH_EVERYTHING},
        {"::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", IPSET_BREADTH_EVERYTHING},
        /* These let every IPv4 client in through the IPv4-mapped space. */
        {"::ffff:0.0.0.0/96", IPSET_BREADTH_EVERYTHING},
        {"::/8", IPSET_BREADTH_EVERYTHING},
        /* ULA and one public /7 next to it. */
        {"f800::/6", IPSET_BREADTH_EVERYTHING},
    };
    expect_breadths(cases, sizeof cases / sizeof cases[0]);
}

/* test_breadth_wide - wider than a /8 (v4) or a /32 (v6) with any public
 * address in it: refused in a group that grants something. */
static void test_breadth_wide(void **state)
{
    static const struct breadth_case cases[] = {
        /* A /7 that is half private is wide: one public address is enough. */
        {"10.0.0.0/7", IPSET_BREADTH_WIDE},
        {"126.0.0.0/7", IPSET_BREADTH_WIDE},
        {"10.0.0.0-11.0.0.0", IPSET_BREADTH_WIDE},
        {"9.255.0.0-11.0.0.0", IPSET_BREADTH_WIDE},
        {"2001:db8::/31", IPSET_BREADTH_WIDE},
        {"2001::/16", IPSET_BREADTH_WIDE},
        {"2001:db8::-2001:db9::", IPSET_BREADTH_WIDE},
        /* fe80::/9 reaches past link-local into fec0::/10. */
        {"fe80::/9", IPSET_BREADTH_WIDE},
        /* All ULA and a little more. */
        {"fc00::-fe00::", IPSET_BREADTH_WIDE},
    };
    expect_breadths(cases, sizeof cases / sizeof cases[0]);
}

/* test_breadth_large - more than a /16 of public IPv4, no wider than a /8:
 * a warning, not an error. */
static void test_breadth_large(void **state)
{
    static const struct breadth_case cases[] = {
        {"8.0.0.0/8", IPSET_BREADTH_LARGE},
        {"0.0.0.0/8", IPSET_BREADTH_LARGE},
        {"203.0.0.0/15", IPSET_BREADTH_LARGE},
        {"203.0.0.0-203.1.0.0", IPSET_BREADTH_LARGE},
        {"::ffff:8.0.0.0/104", IPSET_BREADTH_LARGE},
        /* Mostly private but a public /16 and one more address. */
        {"9.255.255.255-10.1.0.0", IPSET_BREADTH_OK},
        {"9.254.255.255-10.0.0.0", IPSET_BREADTH_LARGE},
    };
    expect_breadths(cases, sizeof cases / sizeof cases[0]);
}

/* test_breadth_ok - ordinary and private networks are fine. */
static void test_breadth_ok(void **state)
{
    static const struct breadth_case cases[] = {
        {"192.0.2.1", IPSET_BREADTH_OK},
        {"203.0.0.0/16", IPSET_BREADTH_OK},
        {"10.0.0.0/8", IPSET_BREADTH_OK},
        {"172.16.0.0/12", IPSET_BREADTH_OK},
        {"192.168.0.0/16", IPSET_BREADTH_OK},
        {"127.0.0.0/8", IPSET_BREADTH_OK},
        {"169.254.0.0/16", IPSET_BREADTH_OK},
        {"100.64.0.0/10", IPSET_BREADTH_OK},
        {"2001:db8::/32", IPSET_BREADTH_OK},
        {"fc00::/7", IPSET_BREADTH_OK},
        {"fd00::/8", IPSET_BREADTH_OK},
        {"fe80::/10", IPSET_BREADTH_OK},
        {"::1", IPSET_BREADTH_OK},
        {"::ffff:10.0.0.0/104", IPSET_BREADTH_OK},
        /* Wide but private only: RFC 1918, loopback, CGNAT, ULA, link-local. */
        {"10.0.0.0-10.255.255.255", IPSET_BREADTH_OK},
        {"fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", IPSET_BREADTH_OK},
        /* IPv4-compatible space (::a.b.c.d) is not where IPv4 clients appear. */
        {"::/96", IPSET_BREADTH_OK},
    };
    expect_breadths(cases, sizeof cases / sizeof cases[0]);
}

/* inspect_ok - ipset_inspect on ENTRY, which must parse. */
static struct ipset_entry_facts inspect_ok(const char *entry)
{
    struct ipset_entry_facts f;
    char err[256] = "";
    if (ipset_inspect(entry, &f, err, sizeof err) != 0)
        fail_msg("ipset_inspect(\"%s\") failed: %s", entry, err);
    return f;
}

/* expect_host_bits - ENTRY has host bits; it means NETWORK, and MEANT is the guess. */
static void expect_host_bits(const char *entry, const char *network, const char *meant,
                             enum ipset_breadth breadth)
{
    struct ipset_entry_facts f = inspect_ok(entry);
    if (!f.host_bits)
        fail_msg("\"%s\": no host bits found", entry);
    assert_string_equal(f.network, network);
    assert_string_equal(f.meant, meant);
    assert_int_equal(f.breadth, breadth);
}

/* test_host_bits - a network with bits set under its mask, and the
 * network most likely meant. */
static void test_host_bits(void **state)
{
    expect_host_bits("192.168.1.5/24", "192.168.1.0/24", "192.168.1.5", IPSET_BREADTH_OK);
    /* The seed's typo: a LAN mask that opens the group to everyone. */
    expect_host_bits("192.168.1.0/0", "0.0.0.0/0", "192.168.1.0/24", IPSET_BREADTH_EVERYTHING);
    expect_host_bits("10.1.0.0/8", "10.0.0.0/8", "10.1.0.0/16", IPSET_BREADTH_OK);
    expect_host_bits("10.0.0.0/6", "8.0.0.0/6", "10.0.0.0/8", IPSET_BREADTH_EVERYTHING);
    expect_host_bits("172.16.0.0/4", "160.0.0.0/4", "172.16.0.0/16", IPSET_BREADTH_EVERYTHING);
    expect_host_bits("8.8.8.8/4", "0.0.0.0/4", "8.8.8.8", IPSET_BREADTH_EVERYTHING);
    expect_host_bits("2001:db8::1/64", "2001:db8::/64", "2001:db8::1", IPSET_BREADTH_OK);
    expect_host_bits("2001:db8:1::/16", "2001::/16", "2001:db8:1::/48", IPSET_BREADTH_WIDE);
    expect_host_bits("::ffff:192.168.1.5/120", "::ffff:192.168.1.0/120", "::ffff:192.168.1.5",
                     IPSET_BREADTH_OK);
    /* No host bits: networks as they should be, addresses, ranges. */
    const char *clean[] = {"192.168.1.0/24",     "0.0.0.0/0",     "192.168.1.5/32", "192.168.1.5",
                           "10.0.0.1-10.0.0.50", "2001:db8::/32", "::/0",           "fc00::/7"};
    for (size_t i = 0; i < sizeof clean / sizeof clean[0]; i++)
        if (inspect_ok(clean[i]).host_bits)
            fail_msg("\"%s\": host bits found", clean[i]);
    struct ipset_entry_facts f = inspect_ok("0.0.0.0/0");
    assert_int_equal(f.breadth, IPSET_BREADTH_EVERYTHING);
    char err[256] = "";
    assert_int_equal(ipset_inspect("192.168.1.0/33", &f, err, sizeof err), -1);
    assert_non_null(strstr(err, "bad prefix length"));
}

/* test_entry_text - entries print back in their shortest form. */
static void test_entry_text(void **state)
{
    const char *in[] = {"192.0.2.1",
                        "192.168.1.0/24",
                        "10.0.0.1-10.0.0.50",
                        "2001:db8::/48",
                        "::1",
                        "0.0.0.0/0",
                        "::/0",
                        "::ffff:10.0.0.0/104",
                        "10.0.0.0-10.0.0.255",
                        "2001:db8::1-2001:db8::ff"};
    const char *out[] = {"192.0.2.1",
                         "192.168.1.0/24",
                         "10.0.0.1-10.0.0.50",
                         "2001:db8::/48",
                         "::1",
                         "0.0.0.0/0",
                         "::/0",
                         "10.0.0.0/8",
                         "10.0.0.0/24",
                         "2001:db8::1-2001:db8::ff"};
    struct ipset *set = ipset_new();
    assert_non_null(set);
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        char text[IPSET_TEXT_MAX];
        add_ok(set, in[i]);
        assert_int_equal(ipset_entry_text(set, i, text, sizeof text), 0);
        assert_string_equal(text, out[i]);
    }
    char text[IPSET_TEXT_MAX];
    assert_int_equal(ipset_entry_text(set, sizeof in / sizeof in[0], text, sizeof text), -1);
    ipset_free(set);
}

/* test_loopback - what a listener on loopback is. */
static void test_loopback(void **state)
{
    struct sockaddr_in a4 = {.sin_family = AF_INET};
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
    const char *yes4[] = {"127.0.0.1", "127.255.0.9"},
               *no4[] = {"0.0.0.0", "128.0.0.1", "192.168.1.1"};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(inet_pton(AF_INET, yes4[i], &a4.sin_addr), 1);
        assert_true(ipset_is_loopback((struct sockaddr *)&a4));
    }
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(inet_pton(AF_INET, no4[i], &a4.sin_addr), 1);
        assert_false(ipset_is_loopback((struct sockaddr *)&a4));
    }
    const char *yes6[] = {"::1", "::ffff:127.0.0.1"}, *no6[] = {"::", "::2", "fe80::1"};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(inet_pton(AF_INET6, yes6[i], &a6.sin6_addr), 1);
        assert_true(ipset_is_loopback((struct sockaddr *)&a6));
    }
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(inet_pton(AF_INET6, no6[i], &a6.sin6_addr), 1);
        assert_false(ipset_is_loopback((struct sockaddr *)&a6));
    }
    assert_false(ipset_is_loopback(NULL));
}

/* test_merge - merging copies every range, also into itself. */
static void test_merge(void **state)
{
    struct ipset *a = ipset_new();
    struct ipset *b = ipset_new();
    assert_non_null(a);
    assert_non_null(b);
    add_ok(a, "192.0.2.1");
    add_ok(b, "198.51.100.0/24");
    add_ok(b, "2001:db8::/32");
    assert_int_equal(ipset_merge(a, b), 0);
    assert_int_equal(ipset_count(a), 3);
    assert_true(ipset_contains_str(a, "198.51.100.9"));
    assert_true(ipset_contains_str(a, "2001:db8::9"));
    for (int i = 0; i < 5; i++)
        assert_int_equal(ipset_merge(a, a), 0);
    assert_int_equal(ipset_count(a), 96);
    assert_true(ipset_contains_str(a, "192.0.2.1"));
    ipset_free(a);
    ipset_free(b);
}

/* test_empty - an empty set contains nothing; junk addresses never match. */
static void test_empty(void **state)
{
    struct ipset *set = ipset_new();
    assert_non_null(set);
    assert_int_equal(ipset_count(set), 0);
    assert_false(ipset_contains_str(set, "127.0.0.1"));
    add_ok(set, "0.0.0.0/0");
    assert_false(ipset_contains_str(set, "not an address"));
    assert_false(ipset_contains_str(set, ""));
    assert_false(ipset_contains_str(set, NULL));
    ipset_free(set);
    ipset_free(NULL);
}

/* set_of - a set of the N ENTRIES. */
static struct ipset *set_of(const char *const *entries, size_t n)
{
    struct ipset *set = ipset_new();
    assert_non_null(set);
    for (size_t i = 0; i < n; i++)
        add_ok(set, entries[i]);
    return set;
}

/* relation_of - ipset_relation of two lists; SHARED gets the first
 * shared address. */
static enum ipset_relation relation_of(const char *const *a, size_t na, const char *const *b,
                                       size_t nb, char *shared, size_t len)
{
    struct ipset *sa = set_of(a, na), *sb = set_of(b, nb);
    enum ipset_relation r = ipset_relation(sa, sb, shared, len);
    ipset_free(sa);
    ipset_free(sb);
    return r;
}

/* test_relation - disjoint, inside, around and a halfway overlap, across
 * entry forms, with overlapping entries inside one set counted once. */
static void test_relation(void **state)
{
    (void)state;
    char at[IPSET_TEXT_MAX];
    const char *lan[] = {"192.168.0.0/16"};
    const char *sub[] = {"192.168.5.0/24", "192.168.5.7"};
    const char *half[] = {"192.168.255.0/24", "192.169.0.0-192.169.0.9"};
    const char *other[] = {"10.0.0.0/8", "2001:db8::/32"};
    const char *v6[] = {"2001:db8:1::/48"};
    assert_int_equal(relation_of(sub, 2, lan, 1, at, sizeof at), IPSET_INSIDE);
    assert_string_equal(at, "192.168.5.0");
    assert_int_equal(relation_of(lan, 1, sub, 2, NULL, 0), IPSET_AROUND);
    assert_int_equal(relation_of(lan, 1, half, 2, at, sizeof at), IPSET_OVERLAP);
    assert_string_equal(at, "192.168.255.0");
    assert_int_equal(relation_of(lan, 1, other, 2, NULL, 0), IPSET_DISJOINT);
    assert_int_equal(relation_of(v6, 1, other, 2, at, sizeof at), IPSET_INSIDE);
    assert_string_equal(at, "2001:db8:1::");
    assert_int_equal(relation_of(lan, 1, lan, 1, NULL, 0), IPSET_INSIDE);
}

/* test_public_part - private, loopback and documentation networks. */
static void test_public_part(void **state)
{
    (void)state;
    assert_false(inspect_ok("192.168.1.0/24").public_part);
    assert_false(inspect_ok("127.0.0.1").public_part);
    assert_false(inspect_ok("fd00::/8").public_part);
    assert_true(inspect_ok("203.0.113.0/24").public_part);
    assert_true(inspect_ok("10.0.0.0/7").public_part); /* 11.0.0.0/8 is public */
    assert_true(inspect_ok("2001:db8::1").public_part);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_v4),
        cmocka_unit_test(test_cidr_v4),
        cmocka_unit_test(test_range_v4),
        cmocka_unit_test(test_v6_forms),
        cmocka_unit_test(test_sockaddr),
        cmocka_unit_test(test_mapped_entry),
        cmocka_unit_test(test_bad_entries),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_breadth_everything),
        cmocka_unit_test(test_breadth_wide),
        cmocka_unit_test(test_breadth_large),
        cmocka_unit_test(test_host_bits),
        cmocka_unit_test(test_entry_text),
        cmocka_unit_test(test_loopback),
        cmocka_unit_test(test_breadth_ok),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_relation),
        cmocka_unit_test(test_public_part),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
