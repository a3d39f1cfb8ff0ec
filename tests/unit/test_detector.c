/* tests/unit/test_detector - the outbreak detector (policy/detector.c) on
 * whole scenarios played with a fixed clock: each attack of issue 14 must
 * climb to containment within 50 messages and 30 seconds, and the
 * legitimate corpus (a bulk newsletter, a busy sales user, a list
 * expansion, a travelling employee) must open no incident.  Also each
 * signal alone, dismissal, persistence and the memory bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "policy/counters.h"
#include "policy/detector.h"

#define T0 1800000000 /* a fixed "now", on an hour boundary */

static struct config_detector cfg;

static int setup(void **state)
{
    struct config c;
    memset(&c, 0, sizeof c);
    config_detector_defaults(&c);
    cfg = c.detector;
    return 0;
}

/* A message to be played. */
struct msg {
    const char *subject, *ip, *from, *name, *title, *label;
    bool bulk;
    const char *rcpts[64];
    bool local[64];
    size_t n;
};

/* play_on - play M as sent on SMTP session SESSION. */
static enum detector_level play_on(struct detector *d, const struct msg *m, unsigned long session,
                                   time_t now)
{
    static unsigned serial;
    char qid[17];
    snprintf(qid, sizeof qid, "%016X", ++serial);
    struct detector_message dm = {.subject = m->subject,
                                  .session = session,
                                  .client_ip = m->ip,
                                  .app_password = m->label,
                                  .bulk = m->bulk,
                                  .queue_id = qid,
                                  .header_from = m->from,
                                  .display_name = m->name,
                                  .subject_header = m->title,
                                  .rcpts = m->rcpts,
                                  .rcpt_local = m->local,
                                  .n_rcpts = m->n};
    return detector_message(d, &dm, now);
}

/* play - play M (on no session in particular). */
static enum detector_level play(struct detector *d, const struct msg *m, time_t now)
{
    return play_on(d, m, 0, now);
}

/* rcpt - a stable made-up recipient address number I of SET in BUF. */
static char rcpt_buf[4096][64];
static const char *rcpt(const char *set, unsigned i)
{
    char *b = rcpt_buf[i % 4096];
    snprintf(b, 64, "%s%u@%s%u.example", set, i, set, i % 97);
    return b;
}

/* history - a quiet past for USER: a week ago, from its office network,
 * to 40 colleagues and partners it knows. */
static void history(struct detector *d, const char *user, const char *ip)
{
    struct msg m = {.subject = user, .ip = ip, .from = user, .title = "Minutes", .n = 2};
    for (unsigned i = 0; i < 20; i++) {
        m.rcpts[0] = rcpt("known", 2 * i);
        m.rcpts[1] = rcpt("known", 2 * i + 1);
        char title[32];
        snprintf(title, sizeof title, "Topic %c%c", 'a' + i % 26, 'a' + i / 26);
        m.title = title;
        play(d, &m, T0 - 7 * 86400 + i * 600);
    }
}

/* test_botnet - a stolen password used from 5 IPs of different networks
 * at once, 10 strangers per message, one spam text: contained within 50
 * messages and 30 seconds. */
static void test_botnet(void **state)
{
    struct detector *d = detector_new(&cfg);
    history(d, "alice@example.org", "192.0.2.10");
    const char *ips[] = {"198.51.100.7", "203.0.113.9", "100.64.1.2", "100.65.7.3", "45.1.2.3"};
    unsigned sent = 0;
    enum detector_level l = DETECTOR_NONE;
    time_t now = T0;
    for (unsigned i = 0; i < 5; i++)
        detector_auth(d, "alice@example.org", ips[i], true, now);
    for (; sent < 50 && l < DETECTOR_CONTAIN; sent++) {
        struct msg m = {.subject = "alice@example.org",
                        .ip = ips[sent % 5],
                        .from = "alice@example.org",
                        .title = "Your invoice is ready",
                        .n = 10};
        for (unsigned r = 0; r < 10; r++)
            m.rcpts[r] = rcpt("victim", sent * 10 + r);
        now = T0 + sent / 5; /* 5 messages a second */
        l = play(d, &m, now);
    }
    assert_int_equal(l, DETECTOR_CONTAIN);
    assert_true(sent <= 50);
    assert_true(now - T0 <= 30);
    printf("# botnet: contained after %u messages, %lld s\n", sent, (long long)(now - T0));
    struct detector_report r;
    assert_int_equal(detector_report(d, "alice@example.org", now, &r), 0);
    assert_true(r.n_figures >= 3);
    assert_int_equal(r.n_ips, 6); /* the office and the five bots */
    assert_int_equal(r.n_samples, 3);
    assert_string_equal(r.samples[2].subject, "Your invoice is ready");
    char key[300];
    assert_true(detector_take_change(d, key, sizeof key));
    assert_string_equal(key, "alice@example.org");
    assert_false(detector_take_change(d, key, sizeof key));
    detector_free(d);
}

/* test_botnet_one_network - the same from 127.0.0.2..6 (one /24, as a
 * loopback test sees it) on a fresh account, varied subjects: still
 * contained within 50 messages. */
static void test_botnet_one_network(void **state)
{
    struct detector *d = detector_new(&cfg);
    const char *ips[] = {"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"};
    enum detector_level l = DETECTOR_NONE;
    unsigned sent = 0;
    for (; sent < 50 && l < DETECTOR_CONTAIN; sent++) {
        char title[64];
        snprintf(title, sizeof title, "Offer %u for you", sent);
        struct msg m = {.subject = "bob@example.org",
                        .ip = ips[sent % 5],
                        .from = "bob@example.org",
                        .title = title,
                        .n = 10};
        for (unsigned r = 0; r < 10; r++)
            m.rcpts[r] = rcpt("victim", sent * 10 + r);
        l = play(d, &m, T0 + sent / 5);
    }
    assert_int_equal(l, DETECTOR_CONTAIN);
    assert_true(sent <= 50);
    printf("# botnet on one /24: contained after %u messages\n", sent);
    detector_free(d);
}

/* test_lan_pc - an infected PC on the LAN relays without AUTH: rotating
 * From and display names, one body, strangers: at least held. */
static void test_lan_pc(void **state)
{
    struct detector *d = detector_new(&cfg);
    enum detector_level l = DETECTOR_NONE;
    unsigned sent = 0;
    uint64_t body = detector_fingerprint("Cheap pills for everyone 123", 28);
    for (; sent < 50 && l < DETECTOR_HOLD; sent++) {
        char from[64], name[64];
        snprintf(from, sizeof from, "user%u@random%u.example", sent, sent);
        snprintf(name, sizeof name, "Friend %c", 'A' + sent % 26);
        struct msg m = {
            .subject = "ip:10.0.0.50", .ip = "10.0.0.50", .from = from, .name = name, .n = 5};
        for (unsigned r = 0; r < 5; r++)
            m.rcpts[r] = rcpt("target", sent * 5 + r);
        struct detector_message dm = {.subject = m.subject,
                                      .client_ip = m.ip,
                                      .header_from = m.from,
                                      .display_name = m.name,
                                      .subject_header = "",
                                      .body_fingerprint = body,
                                      .rcpts = m.rcpts,
                                      .n_rcpts = m.n};
        l = detector_message(d, &dm, T0 + sent * 2);
    }
    assert_true(l >= DETECTOR_HOLD);
    assert_true(sent <= 50);
    printf("# LAN PC: held after %u messages\n", sent);
    detector_free(d);
}

/* slow_run - USER (with a quiet past from IP) sends one text to one
 * stranger every PACE seconds until contained or 50 messages; how many. */
static unsigned slow_run(const char *user, const char *ip, const char *title, unsigned pace)
{
    struct detector *d = detector_new(&cfg);
    history(d, user, ip);
    enum detector_level l = DETECTOR_NONE;
    unsigned sent = 0;
    for (; sent < 50 && l < DETECTOR_CONTAIN; sent++) {
        struct msg m = {.subject = user, .ip = ip, .from = user, .title = title, .n = 1};
        m.rcpts[0] = rcpt("far", sent);
        l = play(d, &m, T0 + sent * pace);
    }
    assert_int_equal(l, DETECTOR_CONTAIN);
    detector_free(d);
    return sent;
}

/* test_slow_low - one message every 20 seconds, one stranger each, one
 * text: under every hourly limit, contained within 50 messages. */
static void test_slow_low(void **state)
{
    unsigned sent = slow_run("carol@example.org", "192.0.2.11", "Quick question", 20);
    printf("# slow and low: contained after %u messages\n", sent);
}

/* test_slower_low - 40 messages an hour (one every 90 s): each 10 minutes
 * stays under its thresholds, the hour does not; contained within 50. */
static void test_slower_low(void **state)
{
    unsigned sent = slow_run("dave@example.org", "192.0.2.12", "Invoice overdue", 90);
    printf("# slower and low (40 an hour): contained after %u messages\n", sent);
}

/* test_steady_known - the same pace for hours, to the people it knows,
 * its own subjects: no incident, and its baseline does not make it one. */
static void test_steady_known(void **state)
{
    struct detector *d = detector_new(&cfg);
    history(d, "erin@example.org", "192.0.2.13");
    for (unsigned i = 0; i < 40 * 6; i++) {
        char title[64];
        snprintf(title, sizeof title, "Re: %c%c%c planning", 'a' + i % 26, 'a' + i / 26 % 26,
                 'a' + i % 5);
        struct msg m = {.subject = "erin@example.org",
                        .ip = "192.0.2.13",
                        .from = "erin@example.org",
                        .title = title,
                        .n = 1};
        m.rcpts[0] = rcpt("known", i % 40);
        assert_true(play(d, &m, T0 + i * 90) < DETECTOR_ALERT);
    }
    detector_free(d);
}

/* test_stuffing - one IP fails on several accounts and logs into three:
 * each of them sending spam is contained within 50 messages in all. */
static void test_stuffing(void **state)
{
    struct detector *d = detector_new(&cfg);
    const char *users[] = {"u1@example.org", "u2@example.org", "u3@example.org"};
    const char *ip = "203.0.113.66";
    for (unsigned i = 0; i < 6; i++) {
        char u[64];
        snprintf(u, sizeof u, "x%u@example.org", i);
        detector_auth(d, u, ip, false, T0);
    }
    for (unsigned i = 0; i < 3; i++)
        detector_auth(d, users[i], ip, true, T0 + 1);
    detector_app_password(d, users[2], "phone", T0 + 1);
    /* containing one contains the others that address got into */
    struct detector_account acc[8];
    assert_int_equal(detector_stuffed(d, users[0], T0 + 1, acc, 8), 2);
    assert_string_equal(acc[0].ip, ip);
    assert_true(strcmp(acc[0].subject, users[0]) != 0 && strcmp(acc[1].subject, users[0]) != 0);
    for (unsigned i = 0; i < 2; i++)
        assert_string_equal(acc[i].app_password,
                            strcmp(acc[i].subject, users[2]) == 0 ? "phone" : "");
    assert_int_equal(detector_stuffed(d, users[0], T0 + 1, acc, 1), 1);
    unsigned sent = 0, contained = 0;
    for (; sent < 50 && contained < 3; sent++) {
        const char *u = users[sent % 3];
        if (detector_level(d, u) == DETECTOR_CONTAIN)
            continue;
        struct msg m = {.subject = u, .ip = ip, .from = u, .title = "Hello dear", .n = 5};
        for (unsigned r = 0; r < 5; r++)
            m.rcpts[r] = rcpt("mark", sent * 5 + r);
        contained += play(d, &m, T0 + 2 + sent / 3) == DETECTOR_CONTAIN;
    }
    assert_int_equal(contained, 3);
    printf("# stuffing: 3 accounts contained after %u messages in all\n", sent);
    struct detector_report r;
    detector_report(d, users[0], T0 + 20, &r);
    bool stuffing = false;
    for (size_t i = 0; i < r.n_figures; i++)
        stuffing |= r.figures[i].signal == SIG_STUFFING;
    assert_true(stuffing);
    detector_free(d);
}

/* test_rotating_from - one IP, a new From and display name every message,
 * varied subjects, three strangers each: contained. */
static void test_rotating_from(void **state)
{
    struct detector *d = detector_new(&cfg);
    history(d, "dave@example.org", "192.0.2.12");
    enum detector_level l = DETECTOR_NONE;
    unsigned sent = 0;
    for (; sent < 50 && l < DETECTOR_CONTAIN; sent++) {
        char from[64], name[64], title[64];
        snprintf(from, sizeof from, "billing%u@example.org", sent);
        snprintf(name, sizeof name, "Billing Dept %c", 'A' + sent % 26);
        snprintf(title, sizeof title, "%c%c invoice", 'a' + sent % 26, 'a' + sent / 26);
        struct msg m = {.subject = "dave@example.org",
                        .ip = "192.0.2.12",
                        .from = from,
                        .name = name,
                        .title = title,
                        .n = 3};
        for (unsigned r = 0; r < 3; r++)
            m.rcpts[r] = rcpt("prey", sent * 3 + r);
        l = play(d, &m, T0 + sent * 5);
    }
    assert_int_equal(l, DETECTOR_CONTAIN);
    printf("# rotating From: contained after %u messages\n", sent);
    detector_free(d);
}

/* test_newsletter - 2,000 customers from a bulk account, as fast as it
 * goes: no incident. */
static void test_newsletter(void **state)
{
    struct detector *d = detector_new(&cfg);
    uint64_t body = detector_fingerprint("Our spring news is here", 23);
    for (unsigned i = 0; i < 2000; i++) {
        const char *to[1] = {rcpt("customer", i)};
        struct detector_message dm = {.subject = "news@example.org",
                                      .client_ip = "192.0.2.20",
                                      .bulk = true,
                                      .header_from = "news@example.org",
                                      .display_name = "Example News",
                                      .subject_header = "Spring newsletter",
                                      .body_fingerprint = body,
                                      .rcpts = to,
                                      .n_rcpts = 1};
        assert_true(detector_message(d, &dm, T0 + i / 40) < DETECTOR_ALERT);
    }
    assert_int_equal(detector_level(d, "news@example.org"), DETECTOR_NONE);
    detector_free(d);
}

/* test_busy_sales - 150 messages in 5 minutes (a test's compressed day):
 * two devices, own subjects, mostly known people and some new prospects:
 * no incident. */
static void test_busy_sales(void **state)
{
    struct detector *d = detector_new(&cfg);
    history(d, "sales@example.org", "192.0.2.30");
    for (unsigned i = 0; i < 150; i++) {
        char title[64];
        snprintf(title, sizeof title, "%c%c%c quote", 'a' + i % 26, 'a' + i / 26 % 26, 'a' + i % 7);
        struct msg m = {.subject = "sales@example.org",
                        .ip = i % 4 ? "192.0.2.30" : "192.0.2.31",
                        .from = "sales@example.org",
                        .name = "Sam Sales",
                        .title = title,
                        .n = 2};
        m.rcpts[0] = rcpt("known", i % 40);
        m.rcpts[1] = i % 3 ? rcpt("known", (i + 7) % 40) : rcpt("prospect", i);
        assert_true(play(d, &m, T0 + i * 2) < DETECTOR_ALERT);
    }
    detector_free(d);
}

/* test_busy_sales_prospects - even a run to new prospects only, fast,
 * from one device: volume alone opens no incident. */
static void test_busy_sales_prospects(void **state)
{
    struct detector *d = detector_new(&cfg);
    for (unsigned i = 0; i < 100; i++) {
        char title[64];
        snprintf(title, sizeof title, "Proposal for %c%c", 'a' + i % 26, 'a' + i / 26);
        struct msg m = {.subject = "rep@example.org",
                        .ip = "192.0.2.31",
                        .from = "rep@example.org",
                        .title = title,
                        .n = 1};
        m.rcpts[0] = rcpt("lead", i);
        assert_true(play(d, &m, T0 + i) < DETECTOR_ALERT);
    }
    detector_free(d);
}

/* test_orders_to_supplier - "Order 17", "Order 18"... to the usual
 * supplier, fast: numbered subjects to someone known are no fan-out. */
static void test_orders_to_supplier(void **state)
{
    struct detector *d = detector_new(&cfg);
    for (unsigned i = 0; i < 40; i++) {
        char title[32];
        snprintf(title, sizeof title, "Order %u", 1000 + i);
        struct msg m = {.subject = "buyer@example.org",
                        .ip = "192.0.2.45",
                        .from = "buyer@example.org",
                        .title = title,
                        .n = 1};
        m.rcpts[0] = "sales@supplier.example";
        assert_true(play(d, &m, T0 + i * 3) < DETECTOR_ALERT);
    }
    detector_free(d);
}

/* test_list_expansion - messages to all-staff (one local recipient as
 * written; the expansion is the list's, not the sender's): nothing. */
static void test_list_expansion(void **state)
{
    struct detector *d = detector_new(&cfg);
    for (unsigned i = 0; i < 30; i++) {
        struct msg m = {.subject = "hr@example.org",
                        .ip = "192.0.2.40",
                        .from = "hr@example.org",
                        .title = "Staff notice",
                        .n = 1};
        m.rcpts[0] = "all-staff@example.org";
        m.local[0] = true;
        assert_true(play(d, &m, T0 + i) < DETECTOR_ALERT);
    }
    detector_free(d);
}

/* test_travelling - a new network, the usual correspondents: nothing. */
static void test_travelling(void **state)
{
    struct detector *d = detector_new(&cfg);
    history(d, "erin@example.org", "192.0.2.50");
    detector_auth(d, "erin@example.org", "198.18.7.7", false, T0); /* a typo */
    detector_auth(d, "erin@example.org", "198.18.7.7", true, T0 + 5);
    for (unsigned i = 0; i < 20; i++) {
        char title[32];
        snprintf(title, sizeof title, "Trip note %c", 'a' + i);
        struct msg m = {.subject = "erin@example.org",
                        .ip = "198.18.7.7",
                        .from = "erin@example.org",
                        .title = title,
                        .n = 1};
        m.rcpts[0] = rcpt("known", i);
        assert_true(play(d, &m, T0 + 10 + i * 30) < DETECTOR_ALERT);
    }
    detector_free(d);
}

/* test_feedback - remote servers refuse a third as unknown users, and the
 * content repeats: held. */
static void test_feedback(void **state)
{
    struct detector *d = detector_new(&cfg);
    enum detector_level l = DETECTOR_NONE;
    for (unsigned i = 0; i < 12; i++) {
        struct msg m = {.subject = "fay@example.org",
                        .ip = "192.0.2.60",
                        .from = "fay@example.org",
                        .title = "Hello from the old list",
                        .n = 1};
        m.rcpts[0] = rcpt("old", i);
        play(d, &m, T0 + i * 30);
        detector_delivery(d, "fay@example.org",
                          detector_outcome_of(i % 2 ? 550 : 250, i % 2 ? "5.1.1" : ""),
                          T0 + i * 30 + 1);
        l = detector_evaluate(d, "fay@example.org", T0 + i * 30 + 1);
    }
    assert_true(l >= DETECTOR_HOLD);
    assert_int_equal(detector_outcome_of(550, "5.1.1"), DETECTOR_REJECT_UNKNOWN);
    assert_int_equal(detector_outcome_of(554, "5.7.1"), DETECTOR_REJECT_POLICY);
    assert_int_equal(detector_outcome_of(451, "4.7.1"), DETECTOR_REJECT_POLICY);
    assert_int_equal(detector_outcome_of(451, "4.4.1"), DETECTOR_OTHER_FAILURE);
    assert_int_equal(detector_outcome_of(250, "2.0.0"), DETECTOR_DELIVERED);
    detector_free(d);
}

/* test_far_network - what "far apart" means without GeoIP: another IPv4
 * /16 or IPv6 /32; the private ranges of a family are one place. */
static void test_far_network(void **state)
{
    int f4, f6, f;
    uint64_t a = detector_far_network("127.1.0.5", &f4);
    assert_int_equal(f4, 4);
    assert_true(a != 0);
    assert_true(a != detector_far_network("127.2.0.5", &f));
    assert_true(a == detector_far_network("127.1.200.9", &f));
    assert_true(detector_far_network("198.51.100.7", &f) ==
                detector_far_network("::ffff:198.51.100.7", &f6));
    assert_int_equal(f6, 4);
    /* an office LAN and its VPN, however cut: one place */
    assert_true(detector_far_network("10.1.2.3", &f) == detector_far_network("10.200.0.1", &f));
    assert_true(detector_far_network("10.1.2.3", &f) == detector_far_network("192.168.1.9", &f));
    assert_true(detector_far_network("172.16.0.1", &f) == detector_far_network("172.31.9.9", &f));
    assert_true(detector_far_network("172.32.0.1", &f) != detector_far_network("172.31.9.9", &f));
    assert_true(detector_far_network("2001:db8:1::1", &f6) ==
                detector_far_network("2001:db8:ffff::2", &f));
    assert_int_equal(f6, 6);
    assert_true(detector_far_network("2001:db8::1", &f) != detector_far_network("2001:db9::1", &f));
    assert_true(detector_far_network("fd00::1", &f) == detector_far_network("fd12:3456::3", &f));
    /* families apart: the private v4 place is not the private v6 one */
    assert_true(detector_far_network("10.0.0.1", &f) != detector_far_network("fd00::1", &f));
    assert_int_equal(detector_far_network("not an address", &f), 0);
    assert_int_equal(detector_far_network("", &f), 0);
}

/* login - USER logs in from IP on SESSION at NOW (as the daemon calls it). */
static void login(struct detector *d, const char *user, const char *ip, unsigned long session,
                  time_t now)
{
    detector_session_start(d, user, ip, session, now);
    detector_auth(d, user, ip, true, now);
}

/* hijack_beside_owner - the owner of USER works at the office (session 1,
 * 192.0.2.10, writing to people it knows) while a thief logged in from
 * another country (session 2) sends a text of its own, varied subjects,
 * three strangers each, one every 4 seconds.  The thief's messages sent
 * until containment (51: never). */
static unsigned hijack_beside_owner(const struct config_detector *c)
{
    struct detector *d = detector_new(c);
    const char *user = "hana@example.org";
    history(d, user, "192.0.2.10");
    login(d, user, "192.0.2.10", 1, T0);
    login(d, user, "203.0.113.9", 2, T0 + 1);
    unsigned sent = 0;
    enum detector_level l = DETECTOR_NONE;
    for (; sent < 50 && l < DETECTOR_CONTAIN; sent++) {
        time_t now = T0 + 2 + sent * 4;
        if (sent % 5 == 0) {
            struct msg own = {.subject = user,
                              .ip = "192.0.2.10",
                              .from = user,
                              .title = "Minutes of today",
                              .n = 1};
            own.rcpts[0] = rcpt("known", sent % 40);
            play_on(d, &own, 1, now);
        }
        char title[64];
        snprintf(title, sizeof title, "%c%c urgent", 'a' + sent % 26, 'a' + sent / 26);
        struct msg m = {.subject = user, .ip = "203.0.113.9", .from = user, .title = title, .n = 3};
        for (unsigned r = 0; r < 3; r++)
            m.rcpts[r] = rcpt("mark", sent * 3 + r);
        l = play_on(d, &m, 2, now);
    }
    detector_free(d);
    return l == DETECTOR_CONTAIN ? sent : 51;
}

/* test_concurrent_sessions - the thief beside the owner is contained
 * sooner for the sessions live at once from far-apart networks, which
 * the report names. */
static void test_concurrent_sessions(void **state)
{
    struct config_detector off = cfg;
    off.concurrent_networks = 0;
    unsigned with = hijack_beside_owner(&cfg), without = hijack_beside_owner(&off);
    printf("# thief beside the owner: contained after %u messages (%u without the signal)\n", with,
           without);
    assert_true(with <= 50);
    assert_true(with < without);

    struct detector *d = detector_new(&cfg);
    login(d, "ivan@example.org", "127.1.0.5", 7, T0);
    login(d, "ivan@example.org", "127.2.0.5", 8, T0 + 1);
    login(d, "ivan@example.org", "127.3.0.5", 9, T0 + 2);
    struct detector_report r;
    assert_int_equal(detector_report(d, "ivan@example.org", T0 + 3, &r), 0);
    bool found = false;
    for (size_t i = 0; i < r.n_figures; i++)
        if (r.figures[i].signal == SIG_CONCURRENT) {
            found = true;
            assert_true(r.figures[i].value == 3 && r.figures[i].threshold == 2);
        }
    assert_true(found);
    assert_string_equal(detector_signal_name(SIG_CONCURRENT), "concurrent_networks");
    /* identity alone: no incident, however many places */
    assert_true(detector_level(d, "ivan@example.org") < DETECTOR_ALERT);
    detector_free(d);
}

/* test_concurrent_not_sequential - the office, then the hotel (the
 * first session ended), or an idle session the end of which was lost: one
 * place at a time; a laptop and a phone on another network live at once,
 * writing to people they know: identity alone, no incident. */
static void test_concurrent_not_sequential(void **state)
{
    struct detector *d = detector_new(&cfg);
    struct detector_report r;
    login(d, "jo@example.org", "192.0.2.10", 1, T0);
    detector_session_end(d, "jo@example.org", 1);
    login(d, "jo@example.org", "198.18.7.7", 2, T0 + 600);
    login(d, "jo@example.org", "192.0.2.10", 3, T0 + 1300); /* 2 lost, idle 10 minutes */
    detector_report(d, "jo@example.org", T0 + 1301, &r);
    for (size_t i = 0; i < r.n_figures; i++)
        assert_int_not_equal(r.figures[i].signal, SIG_CONCURRENT);
    /* the same /16 is one place: a second device on the office Wi-Fi */
    login(d, "jo@example.org", "192.0.77.1", 4, T0 + 1302);
    detector_report(d, "jo@example.org", T0 + 1303, &r);
    for (size_t i = 0; i < r.n_figures; i++)
        assert_int_not_equal(r.figures[i].signal, SIG_CONCURRENT);
    detector_free(d);

    /* kim's laptop at the office and her phone on the carrier she
     * always uses, both logged in at once for minutes: two places, both
     * hers */
    d = detector_new(&cfg);
    history(d, "kim@example.org", "192.0.2.10");
    detector_auth(d, "kim@example.org", "198.18.7.7", true, T0 - 86400);
    login(d, "kim@example.org", "192.0.2.10", 1, T0);
    login(d, "kim@example.org", "198.18.7.7", 2, T0 + 5);
    for (unsigned i = 0; i < 40; i++) {
        bool phone = i % 3 == 0;
        char title[32];
        snprintf(title, sizeof title, "Re: topic %c%c", 'a' + i % 26, 'a' + i / 26);
        struct msg m = {.subject = "kim@example.org",
                        .ip = phone ? "198.18.7.7" : "192.0.2.10",
                        .from = "kim@example.org",
                        .title = title,
                        .n = 1};
        m.rcpts[0] = rcpt("known", i);
        assert_true(play_on(d, &m, phone ? 2 : 1, T0 + 10 + i * 10) < DETECTOR_ALERT);
    }
    detector_report(d, "kim@example.org", T0 + 500, &r);
    for (size_t i = 0; i < r.n_figures; i++)
        assert_int_not_equal(r.figures[i].signal, SIG_CONCURRENT);
    detector_free(d);
}

/* test_bounce_kinds - what counts as a bounce coming in. */
static void test_bounce_kinds(void **state)
{
    assert_true(detector_is_bounce("", "delivery-status", "auto-replied", false)); /* Postfix */
    assert_true(detector_is_bounce("mailer@x.example", "delivery-status", "", false));
    assert_true(detector_is_bounce("", "", "", false));            /* qmail, plain text */
    assert_true(detector_is_bounce("", "", "auto-replied", true)); /* Exim */
    assert_false(detector_is_bounce("", "disposition-notification", "", false)); /* MDN */
    assert_false(detector_is_bounce("", "", "auto-replied", false));             /* vacation */
    assert_false(detector_is_bounce("", "feedback-report", "", false));          /* ARF */
    assert_false(detector_is_bounce("bob@x.example", "", "", true));
    assert_true(detector_is_bounce("", "", "no", false));
}

/* send_strangers - USER sends N messages of its own to new people, a few
 * each, at a human pace: volume evidence only.  The level reached. */
static enum detector_level send_strangers(struct detector *d, const char *user, unsigned n,
                                          time_t start)
{
    enum detector_level l = DETECTOR_NONE;
    for (unsigned i = 0; i < n; i++) {
        char title[32];
        snprintf(title, sizeof title, "Hello %c%c", 'a' + i % 26, 'a' + i / 26);
        struct msg m = {.subject = user, .ip = "192.0.2.90", .from = user, .title = title, .n = 3};
        for (unsigned r = 0; r < 3; r++)
            m.rcpts[r] = rcpt("cold", i * 3 + r);
        l = play(d, &m, start + i * 15);
    }
    return l;
}

/* test_bounces_back - bounces coming back to an account that writes to
 * strangers are the second kind of evidence that opens an incident; to
 * one that sent nothing (backscatter of mail forged in its name) they
 * count for nothing. */
static void test_bounces_back(void **state)
{
    struct detector *d = detector_new(&cfg);
    assert_true(send_strangers(d, "lee@example.org", 40, T0) < DETECTOR_ALERT);
    detector_free(d);

    d = detector_new(&cfg);
    send_strangers(d, "lee@example.org", 40, T0);
    enum detector_level l = DETECTOR_NONE;
    unsigned bounces = 0;
    for (; bounces < 30 && l < DETECTOR_ALERT; bounces++) {
        detector_bounce(d, "lee@example.org", T0 + 600 + bounces);
        l = detector_evaluate(d, "lee@example.org", T0 + 600 + bounces);
    }
    printf("# bounces coming back: an incident after %u bounces\n", bounces);
    assert_true(l >= DETECTOR_ALERT);
    struct detector_report r;
    detector_report(d, "lee@example.org", T0 + 700, &r);
    bool found = false;
    for (size_t i = 0; i < r.n_figures; i++)
        found |= r.figures[i].signal == SIG_BOUNCES && r.figures[i].value >= 10;
    assert_true(found);
    /* backscatter to an account that sent nothing: not followed */
    size_t before = detector_subjects(d);
    detector_bounce(d, "quiet@example.org", T0 + 700);
    assert_int_equal(detector_subjects(d), before);
    assert_int_equal(detector_evaluate(d, "quiet@example.org", T0 + 700), DETECTOR_NONE);
    detector_free(d);
}

/* run_fast - 60 messages, one subject line, to strangers, from two IPs
 * of different networks, 2 a second; the level reached. */
static enum detector_level run_fast(struct detector *d, time_t start)
{
    enum detector_level l = DETECTOR_NONE;
    for (unsigned i = 0; i < 60; i++) {
        struct msg m = {.subject = "gus@example.org",
                        .ip = i % 2 ? "192.0.2.70" : "198.51.100.70",
                        .from = "gus@example.org",
                        .title = "Team event",
                        .n = 3};
        for (unsigned r = 0; r < 3; r++)
            m.rcpts[r] = rcpt("guest", i * 3 + r);
        l = play(d, &m, start + i / 2);
    }
    return l;
}

/* test_dismiss - a dismissed pattern does not fire again; a released one
 * starts from nothing but may. */
static void test_dismiss(void **state)
{
    struct detector *d = detector_new(&cfg);
    assert_true(run_fast(d, T0) >= DETECTOR_ALERT);
    detector_dismiss(d, "gus@example.org", T0 + 40);
    assert_int_equal(detector_level(d, "gus@example.org"), DETECTOR_NONE);
    assert_true(run_fast(d, T0 + 4000) < DETECTOR_ALERT);
    detector_free(d);
}

/* test_persistence - what detector_save wrote, detector_load reads: the
 * level, the windows (a restart is no fresh hour), the known networks. */
static char saved[1 << 20];
static size_t saved_len;
static int collect(const char *text, size_t len, void *arg)
{
    if (saved_len + len > sizeof saved)
        return -1;
    memcpy(saved + saved_len, text, len);
    saved_len += len;
    return 0;
}

static void test_persistence(void **state)
{
    struct detector *d = detector_new(&cfg);
    assert_true(run_fast(d, T0) >= DETECTOR_ALERT);
    enum detector_level was = detector_level(d, "gus@example.org");
    saved_len = 0;
    assert_int_equal(detector_save(d, T0 + 40, collect, NULL), 0);
    detector_free(d);
    d = detector_new(&cfg);
    assert_int_equal(detector_load(d, saved, saved_len, T0 + 60), 1);
    assert_int_equal(detector_level(d, "gus@example.org"), was);
    struct detector_report r;
    assert_int_equal(detector_report(d, "gus@example.org", T0 + 60, &r), 0);
    assert_int_equal(r.messages, 60);
    assert_int_equal(r.recipients, 180);
    /* garbage is skipped, not fatal */
    const char *junk = "S\tx\n\n\tW1\tq\nW60\tk\t1:x\n";
    assert_int_equal(detector_load(d, junk, strlen(junk), T0), 0);
    detector_free(d);
}

/* test_counters_persistence - counters_save / counters_load_line. */
static void test_counters_persistence(void **state)
{
    struct counters *c = counters_new(3600, 100);
    counters_add(c, "alice@example.org", 3, T0);
    counters_add(c, "alice@example.org", 2, T0 + 1000);
    counters_add(c, "ip:10.0.0.1", 7, T0 + 2000);
    saved_len = 0;
    assert_int_equal(counters_save(c, T0 + 2000, collect, NULL), 0);
    counters_free(c);
    c = counters_new(3600, 100);
    const char *p = saved, *end = saved + saved_len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        assert_int_equal(counters_load_line(c, p, (size_t)(nl - p + 1), T0 + 2100), 0);
        p = nl + 1;
    }
    assert_int_equal(counters_get(c, "alice@example.org", T0 + 2100), 5);
    assert_int_equal(counters_get(c, "ip:10.0.0.1", T0 + 2100), 7);
    /* later, the oldest leave the window as they would have */
    assert_int_equal(counters_get(c, "alice@example.org", T0 + 4000), 2);
    assert_int_equal(counters_load_line(c, "bad line", 8, T0), -1);
    assert_int_equal(counters_load_line(c, "k\t12:x", 6, T0), -1);
    counters_free(c);
}

/* test_bounded - more subjects than max_subjects: the table stays at its
 * cap and the newest are still followed once old ones went quiet. */
static void test_bounded(void **state)
{
    struct config_detector small = cfg;
    small.max_subjects = 100;
    struct detector *d = detector_new(&small);
    for (unsigned i = 0; i < 1000; i++) {
        char u[32];
        snprintf(u, sizeof u, "user%u@example.org", i);
        struct msg m = {.subject = u, .ip = "192.0.2.80", .title = "x", .n = 1};
        m.rcpts[0] = "a@b.example";
        play(d, &m, T0 + (i / 100) * 4000);
        assert_true(detector_subjects(d) <= 100);
    }
    assert_int_equal(detector_level(d, "user999@example.org"), DETECTOR_NONE);
    struct detector_report r;
    assert_int_equal(detector_report(d, "user999@example.org", T0 + 9 * 4000, &r), 0);
    detector_free(d);
}

/* test_disabled - enabled = false: nothing climbs. */
static void test_disabled(void **state)
{
    struct config_detector off = cfg;
    off.enabled = false;
    struct detector *d = detector_new(&off);
    assert_int_equal(run_fast(d, T0), DETECTOR_NONE);
    detector_free(d);
}

/* test_fingerprint - personalisation does not change it. */
static void test_fingerprint(void **state)
{
    assert_int_equal(detector_fingerprint("Invoice 1234 for you!", 21),
                     detector_fingerprint("INVOICE 99 for  you", 19));
    assert_int_not_equal(detector_fingerprint("Invoice overdue", 15),
                         detector_fingerprint("Receipt overdue", 15));
    assert_int_equal(detector_fingerprint("1234 !!", 7), 0);
    assert_int_equal(detector_fingerprint("Hello.", 6), 0); /* too short to tell */
    assert_string_equal(detector_level_name(DETECTOR_HOLD), "hold");
    assert_int_equal(detector_level_parse("contain"), DETECTOR_CONTAIN);
    assert_int_equal(detector_level_parse("x"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_botnet, setup),
        cmocka_unit_test_setup(test_botnet_one_network, setup),
        cmocka_unit_test_setup(test_lan_pc, setup),
        cmocka_unit_test_setup(test_slow_low, setup),
        cmocka_unit_test_setup(test_slower_low, setup),
        cmocka_unit_test_setup(test_steady_known, setup),
        cmocka_unit_test_setup(test_stuffing, setup),
        cmocka_unit_test_setup(test_rotating_from, setup),
        cmocka_unit_test_setup(test_newsletter, setup),
        cmocka_unit_test_setup(test_busy_sales, setup),
        cmocka_unit_test_setup(test_busy_sales_prospects, setup),
        cmocka_unit_test_setup(test_orders_to_supplier, setup),
        cmocka_unit_test_setup(test_list_expansion, setup),
        cmocka_unit_test_setup(test_travelling, setup),
        cmocka_unit_test_setup(test_feedback, setup),
        cmocka_unit_test_setup(test_far_network, setup),
        cmocka_unit_test_setup(test_concurrent_sessions, setup),
        cmocka_unit_test_setup(test_concurrent_not_sequential, setup),
        cmocka_unit_test_setup(test_bounce_kinds, setup),
        cmocka_unit_test_setup(test_bounces_back, setup),
        cmocka_unit_test_setup(test_dismiss, setup),
        cmocka_unit_test_setup(test_persistence, setup),
        cmocka_unit_test_setup(test_counters_persistence, setup),
        cmocka_unit_test_setup(test_bounded, setup),
        cmocka_unit_test_setup(test_disabled, setup),
        cmocka_unit_test_setup(test_fingerprint, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
