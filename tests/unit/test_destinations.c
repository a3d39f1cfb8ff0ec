/* tests/unit/test_destinations - the scheduler's choice of what goes next:
 * round-robin across destinations and across the senders of one
 * destination, slow start up to the per-destination limit, and a dead
 * destination that costs one probe per rest period (delivery/destinations). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "delivery/destinations.h"

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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
