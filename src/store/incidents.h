/* store/incidents - the outbreak detector's incidents in the store: who,
 * when, how bad, the evidence (signals with their figures, client IPs,
 * sample messages) and every action taken, for floodctl incident and for
 * the daemon, which writes them through the committer.  Also the saved
 * in-memory state (saved_state): counters and the detector's windows, so
 * that a restart hands no sender a fresh hour. */
#ifndef FLOODGATE_STORE_INCIDENTS_H
#define FLOODGATE_STORE_INCIDENTS_H

#include <jansson.h>
#include "store/store.h"
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* One incident as written.  SIGNALS, IPS and SAMPLES are JSON arrays
 * (see docs/floodctl.8.md, incident show --json); NULL leaves them. */
struct incident_row {
    long long id;
    const char *subject; /* account or "ip:ADDR" */
    const char *state;   /* open held contained released dismissed */
    time_t opened, updated;
    unsigned score;
    const char *app_password; /* label, or NULL */
    long long accepted, held, delivered;
    json_t *signals, *ips, *samples;
};

/* incident_state_valid - is STATE one of the five? */
bool incident_state_valid(const char *state);

/* incident_insert - a new incident; its id into R->id.  -1 on error. */
int incident_insert(store_db *db, struct incident_row *r);
/* incident_update - state, score, counts, evidence of R->id; 1 updated,
 * 0 no such incident, -1 error.  A closed incident (released, dismissed)
 * is left alone. */
int incident_update(store_db *db, const struct incident_row *r);
/* incident_action - one action taken on incident ID. */
int incident_action(store_db *db, long long id, time_t at, const char *action, const char *detail,
                    const char *by);
/* incident_close - ID becomes STATE (released or dismissed) by BY; 1
 * done, 0 no such incident or already closed, -1 error. */
int incident_close(store_db *db, long long id, const char *state, const char *by, time_t now);
/* incident_add_counts - ID accepted, held and delivered so many more. */
int incident_add_counts(store_db *db, long long id, long long accepted, long long held,
                        long long delivered);

/* incident_list - [{id, subject, state, opened, updated, score, counts}]
 * newest first; with ALL also the closed ones.  NULL on error. */
json_t *incident_list(store_db *db, bool all);
/* incident_get - the whole incident ID with its actions (the --json
 * fields of floodctl incident show); NULL with *FOUND 0 when there is
 * none, NULL with *FOUND 1 on a store error. */
json_t *incident_get(store_db *db, long long id, int *found);
/* incident_open_subjects - {subject: {"id": n, "state": s}} of the
 * incidents not closed, for the daemon's start. */
json_t *incident_open_subjects(store_db *db);

/* saved_state_put - NAME's saved state is DATA (LEN octets). */
int saved_state_put(store_db *db, const char *name, const void *data, size_t len, time_t now);
/* saved_state_get - NAME's saved state, malloc'd, with its length and
 * when it was saved; NULL with *LEN 0 when none, NULL with *LEN 1 on a
 * store error. */
char *saved_state_get(store_db *db, const char *name, size_t *len, time_t *saved);

#endif
