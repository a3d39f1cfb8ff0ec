/* store/ban_state - anti-hammering bans kept in the store, so that a ban
 * survives a restart and floodctl can list, add and lift bans with the
 * daemon running or stopped.  An ended ban's row stays a day longer: it
 * tells the next ban that the IP is a repeat offender. */
#ifndef FLOODGATE_STORE_BAN_STATE_H
#define FLOODGATE_STORE_BAN_STATE_H

#include <jansson.h>
#include "store/store.h"
#include <time.h>

/* ban_state_save - insert or replace the ban of IP (and drop rows a day
 * past their end). */
int ban_state_save(store_db *db, const char *ip, time_t until, unsigned offenses, const char *reason,
                   const char *by);
/* A ban to save through the committer (store/committer.h). */
struct ban_state_job {
    char ip[64];
    time_t until;
    unsigned offenses;
    char reason[64];
    char by[32];
};
/* ban_state_save_job - committer apply function for a struct
 * ban_state_job: ban_state_save with SQLite's words in ERR on failure. */
int ban_state_save_job(store_db *db, void *arg, char *err, size_t errlen);

/* ban_state_delete - lift the ban of IP; 1 deleted, 0 none, -1 store error. */
int ban_state_delete(store_db *db, const char *ip);
/* ban_state_list - [{ip, until, reason, offenses, created, created_by}],
 * the bans still in force at NOW (with ALL also those ended in the last
 * day), soonest end first.  NULL on a store error. */
json_t *ban_state_list(store_db *db, time_t now, int all);

#endif
