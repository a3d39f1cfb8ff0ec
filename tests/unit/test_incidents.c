/* tests/unit/test_incidents - the incidents and saved_state tables
 * (store/incidents.c) on a real store: open, update, actions, list, show,
 * close; saved state put and got back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include <sqlite3.h>

#include "store/incidents.h"
#include "tmp_store.h"

#define T0 1800000000

static void test_incident_life(void **state)
{
    char dir[64], path[128];
    sqlite3 *db = tmp_store_open("incidents", dir, sizeof dir, path, sizeof path);
    assert_non_null(db);
    json_t *signals = json_pack("[{s:s, s:f, s:f, s:i}]", "name", "client_ips_per_hour", "value",
                                5.0, "threshold", 4.0, "points", 31);
    json_t *ips = json_pack("[{s:s, s:i, s:i}]", "ip", "198.51.100.7", "messages", 12, "logins", 1);
    json_t *samples = json_pack("[{s:s, s:s, s:s}]", "queue_id", "0123456789ABCDEF", "subject",
                                "Your invoice", "recipients", "a@b.example,c@d.example");
    struct incident_row r = {.subject = "alice@example.org",
                             .state = "open",
                             .opened = T0,
                             .updated = T0,
                             .score = 45,
                             .app_password = "phone",
                             .accepted = 3,
                             .signals = signals,
                             .ips = ips,
                             .samples = samples};
    assert_int_equal(incident_insert(db, &r), 0);
    assert_true(r.id > 0);
    r.state = "contained";
    r.score = 120;
    r.updated = T0 + 4;
    r.accepted = 9;
    r.signals = r.ips = r.samples = NULL; /* kept as they were */
    assert_int_equal(incident_update(db, &r), 1);
    assert_int_equal(incident_add_counts(db, r.id, 0, 2, 0), 0);
    assert_int_equal(
        incident_action(db, r.id, T0 + 4, "suspend", "alice@example.org", "floodgated"), 0);
    assert_int_equal(incident_action(db, r.id, T0 + 4, "ban", "198.51.100.7", "floodgated"), 0);

    json_t *list = incident_list(db, false);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    int found;
    json_t *o = incident_get(db, r.id, &found);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "state")), "contained");
    assert_string_equal(json_string_value(json_object_get(o, "opened")), "2027-01-15T08:00:00Z");
    assert_int_equal(json_integer_value(json_object_get(o, "score")), 120);
    json_t *counts = json_object_get(o, "counts");
    assert_int_equal(json_integer_value(json_object_get(counts, "accepted")), 9);
    assert_int_equal(json_integer_value(json_object_get(counts, "held")), 2);
    assert_int_equal(json_array_size(json_object_get(o, "signals")), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(o, "ips"), 0), "ip")),
        "198.51.100.7");
    assert_int_equal(json_array_size(json_object_get(o, "actions")), 2);
    assert_string_equal(json_string_value(json_object_get(o, "app_password")), "phone");
    json_decref(o);
    json_t *open = incident_open_subjects(db);
    assert_non_null(json_object_get(open, "alice@example.org"));
    json_decref(open);

    assert_int_equal(incident_close(db, r.id, "dismissed", "admin", T0 + 60), 1);
    assert_int_equal(incident_close(db, r.id, "released", "admin", T0 + 61), 0);
    r.state = "held";
    assert_int_equal(incident_update(db, &r), 0); /* closed: left alone */
    list = incident_list(db, false);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    list = incident_list(db, true);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    assert_null(incident_get(db, 999, &found));
    assert_int_equal(found, 0);
    assert_true(incident_state_valid("held"));
    assert_false(incident_state_valid("gone"));
    json_decref(signals);
    json_decref(ips);
    json_decref(samples);
    store_close(db);
    tmp_store_remove(dir);
}

static void test_saved_state(void **state)
{
    char dir[64], path[128];
    sqlite3 *db = tmp_store_open("saved_state", dir, sizeof dir, path, sizeof path);
    size_t len;
    time_t saved;
    assert_null(saved_state_get(db, "detector", &len, &saved));
    assert_int_equal(len, 0);
    assert_int_equal(saved_state_put(db, "detector", "S\tx\n", 4, T0), 0);
    assert_int_equal(saved_state_put(db, "detector", "W1\tk\t1:2\n", 9, T0 + 5), 0);
    char *p = saved_state_get(db, "detector", &len, &saved);
    assert_non_null(p);
    assert_int_equal(len, 9);
    assert_int_equal(saved, T0 + 5);
    assert_memory_equal(p, "W1\tk\t1:2\n", 9);
    free(p);
    store_close(db);
    tmp_store_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_incident_life),
        cmocka_unit_test(test_saved_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
