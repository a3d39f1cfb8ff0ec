/* tests/unit/test_destinations - the scheduler's choice of what goes next:
 * round-robin across destinations and across the senders of one
 * destination, slow start up to the per-destination limit, back-off after
 * failures (one attempt at a time, a cohort to die, rests that double up
 * to a cap, the retry delay of a recipient), a dead destination that
 * costs one probe per rest period, and its revival
 * (delivery/destinations, delivery/scheduler's scheduler_backoff). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "delivery/destinations.h"
#include "delivery/outcomes.h"
#include "delivery/scheduler.h"

/* A unit of work as the scheduler's delivery job embeds the entry. */
struct item {
    struct dest_entry link; /* first: an entry pointer is an item pointer */
    char label[32];
};

static const struct dest_limits LIMITS = {.initial = 2, .max = 4, .rest_min = 60, .rest_max = 600};

static void add(struct dest_table *t, const char *dest, const char *sender, const char *label)
{
    struct item *it = calloc(1, sizeof *it);
    assert_non_null(it);
    snprintf(it->label, sizeof it->label, "%s", label);
    assert_int_equal(dest_add(t, dest, sender, &it->link), 0);
}

/* next - start the next entry; its label is copied to BUF and the entry
 * freed (the destination stays in flight until done()). */
static struct dest *next(struct dest_table *t, time_t now, char *buf, size_t len)
{
    struct dest *d = NULL;
    struct item *it = (struct item *)dest_next(t, now, &d);
    if (it == NULL)
        return NULL;
    assert_non_null(d);
    snprintf(buf, len, "%s", it->label);
    free(it);
    return d;
}

static void free_item(struct dest_entry *e)
{
    free(e);
}

static void destinations_take_turns(void **state)
{
    (void)state;
    struct dest_table *t = dest_table_new(&LIMITS);
    char got[32];
    /* 300 messages to 300 slow domains, then one to a fast one */
    for (int i = 0; i < 300; i++) {
        char dom[32];
        snprintf(dom, sizeof dom, "slow%d.test", i);
        add(t, dom, "spammer", dom);
    }
    add(t, "fast.test", "alice", "fast");
    /* a few domains queued twice: the second message waits for its turn */
    add(t, "slow0.test", "spammer", "slow0-again");
    for (int i = 0; i < 300; i++)
        assert_non_null(next(t, 0, got, sizeof got));
    assert_non_null(next(t, 0, got, sizeof got));
    assert_string_equal(got, "fast"); /* 301st start: one turn per destination */
    assert_non_null(next(t, 0, got, sizeof got));
    assert_string_equal(got, "slow0-again");
    assert_null(next(t, 0, got, sizeof got));
    assert_int_equal(dest_queued(t), 0);
    dest_table_free(t, free_item);
}

static void a_busy_destination_does_not_hold_the_turn(void **state)
{
    (void)state;
    struct dest_table *t = dest_table_new(&LIMITS);
    char got[32];
    for (int i = 0; i < 10; i++)
        add(t, "tarpit.test", "spammer", "tarpit");
    assert_non_null(next(t, 0, got, sizeof got));
    assert_non_null(next(t, 0, got, sizeof got));
    /* the window (2) is full: nothing more to the tarpit ... */
    assert_null(next(t, 0, got, sizeof got));
    /* ... but a healthy domain goes at once */
    add(t, "healthy.test", "alice", "healthy");
    struct dest *d = next(t, 0, got, sizeof got);
    assert_non_null(d);
    assert_string_equal(got, "healthy");
    assert_string_equal(dest_name(d), "healthy.test");
    dest_table_free(t, free_item);
}

static void senders_take_turns_inside_a_destination(void **state)
{
    (void)state;
    struct dest_table *t = dest_table_new(
        &(struct dest_limits){.initial = 1, .max = 1, .rest_min = 60, .rest_max = 60});
    char got[32];
    for (int i = 0; i < 5000; i++)
        add(t, "provider.test", "flood@example.test", "flood");
    add(t, "provider.test", "colleague@example.test", "colleague");
    add(t, "provider.test", "127.0.0.3", "by-ip");
    /* one at a time (window 1): flood, then each other sender in turn */
    const char *want[] = {"flood", "colleague", "by-ip", "flood", "flood"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        struct dest *d = next(t, 0, got, sizeof got);
        assert_non_null(d);
        assert_string_equal(got, want[i]);
        assert_null(next(t, 0, got, sizeof got)); /* window full */
        dest_done(t, d, DEST_OK, 0, NULL);
    }
    assert_int_equal(dest_queued(t), 4997);
    dest_table_free(t, free_item);
}

static void slow_start_grows_to_the_limit(void **state)
{
    (void)state;
    struct dest_table *t = dest_table_new(&LIMITS);
    char got[32];
    for (int i = 0; i < 50; i++)
        add(t, "big.test", "app", "m");
    struct dest *d = next(t, 0, got, sizeof got);
    assert_int_equal(dest_window(d), 2);
    assert_non_null(next(t, 0, got, sizeof got));
    assert_null(next(t, 0, got, sizeof got));
    /* each success lets one more run at once, up to max (4) */
    dest_done(t, d, DEST_OK, 0, NULL);
    assert_int_equal(dest_window(d), 3);
    assert_non_null(next(t, 0, got, sizeof got));
    assert_non_null(next(t, 0, got, sizeof got));
    assert_int_equal(dest_in_flight(d), 3);
    assert_null(next(t, 0, got, sizeof got));
    for (int i = 0; i < 5; i++)
        dest_done(t, d, DEST_OK, 0, NULL), assert_non_null(next(t, 0, got, sizeof got));
    assert_int_equal(dest_window(d), 4);
    assert_non_null(next(t, 0, got, sizeof got));
    assert_int_equal(dest_in_flight(d), 4);
    assert_null(next(t, 0, got, sizeof got));
    /* a reload with a smaller limit shrinks the window at once */
    dest_table_limits(
        t, &(struct dest_limits){.initial = 1, .max = 2, .rest_min = 60, .rest_max = 600});
    assert_int_equal(dest_window(d), 2);
    dest_table_free(t, free_item);
}

static void a_failure_below_the_cohort_keeps_the_destination_alive(void **state)
{
    (void)state;
    struct dest_table *t = dest_table_new(&LIMITS);
    char got[32];
    for (int i = 0; i < 5; i++)
        add(t, "flaky.test", "app", "m");
    struct dest *d = next(t, 0, got, sizeof got);
    assert_non_null(next(t, 0, got, sizeof got));
    dest_done(t, d, DEST_FAILED, 0, "connection refused");
    assert_false(dest_dead(d));
    assert_int_equal(dest_failures(d), 1);
    /* no attempt replaces the failed one while the other one runs */
    assert_null(next(t, 0, got, sizeof got));
    dest_done(t, d, DEST_OK, 0, NULL); /* the streak is broken */
    assert_int_equal(dest_failures(d), 0);
    d = next(t, 0, got, sizeof got);
    dest_done(t, d, DEST_OK, 0, NULL);
    dest_done(t, next(t, 0, got, sizeof got), DEST_NEUTRAL, 0, NULL);
    assert_false(dest_dead(d));
    dest_table_free(t, free_item);
}

static void dead_destination_costs_one_probe(void **state)
{
    (void)state;
    struct dest_table *t = dest_table_new(&LIMITS);
    char got[32];
    for (int i = 0; i < 100; i++)
        add(t, "tarpit.test", "spammer", "tarpit");
    /* the first cohort: as many attempts as the window (2), both fail */
    struct dest *d = next(t, 1000, got, sizeof got);
    assert_non_null(next(t, 1000, got, sizeof got));
    dest_done(t, d, DEST_FAILED, 1010, "timeout talking to mx.tarpit.test");
    assert_false(dest_dead(d));
    dest_done(t, d, DEST_FAILED, 1010, "timeout talking to mx.tarpit.test");
    assert_true(dest_dead(d));
    assert_int_equal(dest_probe_at(d), 1070);
    assert_string_equal(dest_last_error(d), "timeout talking to mx.tarpit.test");
    /* dead: no connection; every queued message is handed back to defer */
    assert_null(next(t, 1010, got, sizeof got));
    struct dest *sd = NULL;
    struct dest_entry *e;
    size_t suspended = 0;
    while ((e = dest_next_suspended(t, 1010, &sd)) != NULL) {
        assert_ptr_equal(sd, d);
        free(e);
        suspended++;
    }
    assert_int_equal(suspended, 98);
    assert_int_equal(dest_queued(t), 0);
    dest_table_free(t, free_item);

    /* the probe: one attempt once rested, the rest deferred meanwhile */
    t = dest_table_new(&LIMITS);
    for (int i = 0; i < 2; i++)
        add(t, "tarpit.test", "spammer", "tarpit");
    d = next(t, 1000, got, sizeof got);
    dest_done(t, d, DEST_FAILED, 1000, "refused");
    d = next(t, 1000, got, sizeof got);
    dest_done(t, d, DEST_FAILED, 1000, "refused");
    assert_true(dest_dead(d));
    for (int i = 0; i < 3; i++)
        add(t, "tarpit.test", "spammer", "later");
    assert_null(next(t, 1059, got, sizeof got));
    d = next(t, 1060, got, sizeof got); /* rested: one probe */
    assert_non_null(d);
    assert_null(next(t, 1060, got, sizeof got)); /* and only one */
    e = dest_next_suspended(t, 1060, &sd);
    assert_non_null(e); /* the others are deferred while it runs */
    free(e);
    /* the probe fails: a longer rest (doubled) */
    dest_done(t, d, DEST_FAILED, 1070, "refused");
    assert_true(dest_dead(d));
    assert_int_equal(dest_probe_at(d), 1070 + 120);
    /* the next probe gets through: alive, with a fresh slow start */
    d = next(t, 1190, got, sizeof got);
    assert_non_null(d);
    add(t, "tarpit.test", "spammer", "after"); /* keeps its state alive to look at */
    dest_done(t, d, DEST_OK, 1191, NULL);
    assert_false(dest_dead(d));
    assert_int_equal(dest_window(d), 2);
    assert_null(dest_next_suspended(t, 1191, &sd));
    dest_table_free(t, free_item);
}

static void dead_destination_does_not_block_others(void **state)
{
    (void)state;
    struct dest_table *t = dest_table_new(
        &(struct dest_limits){.initial = 1, .max = 4, .rest_min = 60, .rest_max = 600});
    char got[32];
    add(t, "dead.test", "a", "dead");
    struct dest *d = next(t, 0, got, sizeof got);
    dest_done(t, d, DEST_FAILED, 0, "refused");
    assert_true(dest_dead(d));
    add(t, "dead.test", "a", "dead2");
    add(t, "live.test", "b", "live");
    struct dest *sd;
    struct dest_entry *e = dest_next_suspended(t, 1, &sd);
    assert_non_null(e);
    assert_string_equal(((struct item *)e)->label, "dead2");
    free(e);
    assert_non_null(next(t, 1, got, sizeof got));
    assert_string_equal(got, "live");
    /* long after its probe time, with nothing queued, it is forgotten */
    dest_expire(t, 10000);
    assert_null(dest_find(t, "dead.test"));
    dest_table_free(t, free_item);
}

static void drain_keeps_what_is_in_flight(void **state)
{
    (void)state;
    struct dest_table *t = dest_table_new(&LIMITS);
    char got[32];
    for (int i = 0; i < 3; i++)
        add(t, "a.test", "x", "a");
    add(t, "b.test", "x", "b");
    struct dest *d = next(t, 0, got, sizeof got);
    dest_drain(t, free_item);
    assert_int_equal(dest_queued(t), 0);
    assert_null(next(t, 0, got, sizeof got));
    assert_ptr_equal(dest_find(t, dest_name(d)), d);
    dest_done(t, d, DEST_OK, 0, NULL);
    add(t, "b.test", "x", "b");
    assert_non_null(next(t, 0, got, sizeof got));
    assert_string_equal(got, "b");
    dest_table_free(t, free_item);
}

/* expect_order - start N entries one at a time (each done at once, OK)
 * and compare their labels with WANT. */
static void expect_order(struct dest_table *t, const char *const *want, size_t n)
{
    char got[32];
    for (size_t i = 0; i < n; i++) {
        struct dest *d = next(t, 0, got, sizeof got);
        assert_non_null(d);
        assert_string_equal(got, want[i]);
        dest_done(t, d, DEST_OK, 0, NULL);
    }
}

static void a_destination_with_new_work_waits_for_its_turn(void **state)
{
    (void)state;
    struct dest_table *t = dest_table_new(&LIMITS);
    char got[32];
    add(t, "a.test", "x", "a1");
    add(t, "b.test", "x", "b1");
    add(t, "c.test", "x", "c1");
    struct dest *d = next(t, 0, got, sizeof got);
    assert_string_equal(got, "a1");
    dest_done(t, d, DEST_OK, 0, NULL);
    /* a.test had nothing left and left the turn; new work puts it last,
     * behind the destinations that waited meanwhile */
    add(t, "a.test", "x", "a2");
    add(t, "d.test", "x", "d1");
    const char *want[] = {"b1", "c1", "a2", "d1"};
    expect_order(t, want, sizeof want / sizeof *want);
    assert_null(next(t, 0, got, sizeof got));
    dest_table_free(t, free_item);
}

static void senders_take_turns_and_a_returning_sender_goes_last(void **state)
{
    (void)state;
    struct dest_table *t = dest_table_new(
        &(struct dest_limits){.initial = 1, .max = 1, .rest_min = 60, .rest_max = 60});
    for (int i = 0; i < 3; i++)
        add(t, "provider.test", "jack@example.test", "jack");
    add(t, "provider.test", "alice@example.test", "alice");
    add(t, "provider.test", "203.0.113.7", "ip");
    const char *first[] = {"jack", "alice"};
    expect_order(t, first, 2); /* alice's line is now empty */
    add(t, "provider.test", "alice@example.test", "alice2");
    /* alice comes back behind the senders that still had work */
    const char *rest[] = {"ip", "jack", "alice2", "jack"};
    expect_order(t, rest, sizeof rest / sizeof *rest);
    assert_int_equal(dest_queued(t), 0);
    dest_table_free(t, free_item);
}

static void one_failure_holds_the_window_at_one_until_a_success(void **state)
{
    (void)state;
    struct dest_table *t = dest_table_new(
        &(struct dest_limits){.initial = 4, .max = 4, .rest_min = 60, .rest_max = 600});
    char got[32];
    for (int i = 0; i < 20; i++)
        add(t, "slow.test", "app", "m");
    struct dest *d = NULL;
    for (int i = 0; i < 4; i++)
        d = next(t, 0, got, sizeof got);
    assert_int_equal(dest_in_flight(d), 4);
    /* a cohort is the window: four attempts failing together are one
     * event; three of them do not kill the destination */
    for (int i = 0; i < 3; i++) {
        dest_done(t, d, DEST_FAILED, 0, "timeout");
        assert_false(dest_dead(d));
        assert_null(next(t, 0, got, sizeof got)); /* none replaces a failed one */
    }
    assert_int_equal(dest_failures(d), 3);
    /* the last one gets through: the streak ends, the window is whole */
    dest_done(t, d, DEST_OK, 0, NULL);
    assert_int_equal(dest_failures(d), 0);
    for (int i = 0; i < 4; i++)
        assert_non_null(next(t, 0, got, sizeof got));
    assert_null(next(t, 0, got, sizeof got));
    /* after one failure with nothing else running, one attempt (not the
     * window) goes next */
    for (int i = 0; i < 4; i++)
        dest_done(t, d, i == 0 ? DEST_FAILED : DEST_NEUTRAL, 0, "timeout");
    assert_false(dest_dead(d));
    assert_non_null(next(t, 0, got, sizeof got));
    assert_null(next(t, 0, got, sizeof got));
    assert_int_equal(dest_in_flight(d), 1);
    dest_table_free(t, free_item);
}

static void rests_double_up_to_the_cap(void **state)
{
    (void)state;
    struct dest_table *t = dest_table_new(
        &(struct dest_limits){.initial = 1, .max = 4, .rest_min = 60, .rest_max = 200});
    char got[32];
    for (int i = 0; i < 10; i++)
        add(t, "dead.test", "app", "m");
    struct dest *d = next(t, 0, got, sizeof got);
    dest_done(t, d, DEST_FAILED, 0, "refused");
    assert_true(dest_dead(d));
    /* each failed probe rests longer: 60, 120, then capped at 200 */
    const time_t rests[] = {60, 120, 200, 200};
    time_t now = 0;
    for (size_t i = 0; i < sizeof rests / sizeof *rests; i++) {
        assert_int_equal(dest_probe_at(d), now + rests[i]);
        assert_null(next(t, dest_probe_at(d) - 1, got, sizeof got));
        now = dest_probe_at(d);
        assert_ptr_equal(next(t, now, got, sizeof got), d);
        dest_done(t, d, DEST_FAILED, now, "refused");
        assert_true(dest_dead(d));
    }
    dest_table_free(t, free_item);
}

static void retry_delay_doubles_up_to_retry_max(void **state)
{
    (void)state;
    struct config_queue q = {.retry_initial = 300, .retry_max = 3600};
    const unsigned want[] = {300, 300, 600, 1200, 2400, 3600, 3600};
    for (unsigned attempts = 0; attempts < sizeof want / sizeof *want; attempts++)
        assert_int_equal(scheduler_backoff(&q, attempts), want[attempts]);
    assert_int_equal(scheduler_backoff(&q, 1000), 3600); /* no overflow */
    q = (struct config_queue){.retry_initial = 1, .retry_max = 2};
    assert_int_equal(scheduler_backoff(&q, 1), 1);
    assert_int_equal(scheduler_backoff(&q, 2), 2);
    assert_int_equal(scheduler_backoff(&q, 3), 2);
}

static void a_dead_destination_probes_once_for_every_sender(void **state)
{
    (void)state;
    struct dest_table *t = dest_table_new(&LIMITS);
    char got[32];
    add(t, "tarpit.test", "spammer", "first");
    add(t, "tarpit.test", "spammer", "second");
    struct dest *d = next(t, 0, got, sizeof got);
    assert_ptr_equal(next(t, 0, got, sizeof got), d);
    dest_done(t, d, DEST_FAILED, 0, "timeout");
    dest_done(t, d, DEST_FAILED, 0, "timeout");
    assert_true(dest_dead(d));
    /* three senders queue ten messages each while it rests */
    const char *senders[] = {"spammer", "alice@example.test", "192.0.2.1"};
    for (int i = 0; i < 30; i++)
        add(t, "tarpit.test", senders[i % 3], senders[i % 3]);
    /* at probe time: one connection, whoever's turn it is; nothing else */
    assert_ptr_equal(next(t, 60, got, sizeof got), d);
    assert_null(next(t, 60, got, sizeof got));
    assert_null(next(t, 1000, got, sizeof got));
    struct dest *sd;
    struct dest_entry *e;
    size_t deferred = 0;
    while ((e = dest_next_suspended(t, 60, &sd)) != NULL) {
        assert_ptr_equal(sd, d);
        free(e);
        deferred++;
    }
    assert_int_equal(deferred, 29);
    assert_int_equal(dest_in_flight(d), 1);
    dest_table_free(t, free_item);
}

static void a_late_attempt_that_gets_through_revives(void **state)
{
    (void)state;
    struct dest_table *t = dest_table_new(&LIMITS);
    char got[32];
    for (int i = 0; i < 10; i++)
        add(t, "mx.test", "app", "m");
    struct dest *d = next(t, 0, got, sizeof got);
    dest_done(t, d, DEST_OK, 0, NULL);
    dest_done(t, next(t, 0, got, sizeof got), DEST_OK, 0, NULL);
    for (int i = 0; i < 4; i++)
        assert_ptr_equal(next(t, 0, got, sizeof got), d);
    assert_int_equal(dest_window(d), 4);
    /* a reload narrows the window to 2 with 4 attempts running: two
     * failures are a cohort, the two still running are late */
    dest_table_limits(
        t, &(struct dest_limits){.initial = 2, .max = 2, .rest_min = 60, .rest_max = 600});
    dest_done(t, d, DEST_FAILED, 5, "timeout");
    dest_done(t, d, DEST_FAILED, 5, "timeout");
    assert_true(dest_dead(d));
    /* no probe while earlier attempts still run, even once rested */
    assert_null(next(t, 100, got, sizeof got));
    /* one of them gets through: alive again, no probe needed */
    dest_done(t, d, DEST_OK, 100, NULL);
    assert_false(dest_dead(d));
    assert_int_equal(dest_failures(d), 0);
    assert_non_null(next(t, 100, got, sizeof got));
    dest_table_free(t, free_item);
}

static void revival_starts_over(void **state)
{
    (void)state;
    struct dest_table *t = dest_table_new(&LIMITS);
    char got[32];
    for (int i = 0; i < 2; i++)
        add(t, "back.test", "app", "m");
    struct dest *d = next(t, 0, got, sizeof got);
    assert_ptr_equal(next(t, 0, got, sizeof got), d);
    dest_done(t, d, DEST_FAILED, 0, "refused");
    dest_done(t, d, DEST_FAILED, 0, "refused");
    assert_true(dest_dead(d));
    for (int i = 0; i < 20; i++)
        add(t, "back.test", i % 2 ? "alice@example.test" : "app", "m");
    /* a failed probe (rest doubles to 120), then one that gets through */
    assert_ptr_equal(next(t, 60, got, sizeof got), d);
    dest_done(t, d, DEST_FAILED, 60, "refused");
    assert_int_equal(dest_probe_at(d), 180);
    assert_ptr_equal(next(t, 180, got, sizeof got), d);
    dest_done(t, d, DEST_OK, 181, NULL);
    /* alive: nothing is deferred any more, the queue goes at the initial
     * window and grows again with each success */
    assert_false(dest_dead(d));
    assert_int_equal(dest_failures(d), 0);
    struct dest *sd;
    assert_null(dest_next_suspended(t, 181, &sd));
    assert_int_equal(dest_window(d), 2);
    assert_ptr_equal(next(t, 181, got, sizeof got), d);
    assert_ptr_equal(next(t, 181, got, sizeof got), d);
    assert_null(next(t, 181, got, sizeof got));
    dest_done(t, d, DEST_OK, 182, NULL);
    assert_int_equal(dest_window(d), 3);
    /* and the next death rests the shortest time again, not 240 s */
    assert_ptr_equal(next(t, 182, got, sizeof got), d);
    assert_ptr_equal(next(t, 182, got, sizeof got), d);
    for (int i = 0; i < 3; i++)
        dest_done(t, d, DEST_FAILED, 200, "refused");
    assert_true(dest_dead(d));
    assert_int_equal(dest_probe_at(d), 260);
    dest_table_free(t, free_item);
}

/* a reply to a recipient, SMTP's or LMTP's, decides its outcome by class;
 * no reply at all is tried again */
static void a_reply_decides_the_outcome_by_its_class(void **state)
{
    (void)state;
    assert_int_equal(outcome_of_reply(250), OUTCOME_DELIVERED);
    assert_int_equal(outcome_of_reply(251), OUTCOME_DELIVERED);
    assert_int_equal(outcome_of_reply(550), OUTCOME_BOUNCED);
    assert_int_equal(outcome_of_reply(552), OUTCOME_BOUNCED);
    assert_int_equal(outcome_of_reply(451), OUTCOME_DEFERRED);
    assert_int_equal(outcome_of_reply(0), OUTCOME_DEFERRED);
    assert_int_equal(outcome_of_reply(354), OUTCOME_DEFERRED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(destinations_take_turns),
        cmocka_unit_test(a_busy_destination_does_not_hold_the_turn),
        cmocka_unit_test(senders_take_turns_inside_a_destination),
        cmocka_unit_test(slow_start_grows_to_the_limit),
        cmocka_unit_test(a_failure_below_the_cohort_keeps_the_destination_alive),
        cmocka_unit_test(dead_destination_costs_one_probe),
        cmocka_unit_test(dead_destination_does_not_block_others),
        cmocka_unit_test(drain_keeps_what_is_in_flight),
        cmocka_unit_test(a_destination_with_new_work_waits_for_its_turn),
        cmocka_unit_test(senders_take_turns_and_a_returning_sender_goes_last),
        cmocka_unit_test(one_failure_holds_the_window_at_one_until_a_success),
        cmocka_unit_test(rests_double_up_to_the_cap),
        cmocka_unit_test(retry_delay_doubles_up_to_retry_max),
        cmocka_unit_test(a_dead_destination_probes_once_for_every_sender),
        cmocka_unit_test(a_late_attempt_that_gets_through_revives),
        cmocka_unit_test(revival_starts_over),
        cmocka_unit_test(a_reply_decides_the_outcome_by_its_class),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
