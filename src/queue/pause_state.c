/* queue/pause_state - pauses as flags in the store's meta table
 * ("pause:WHAT"), so that they survive a restart. */
#include "queue/pause_state.h"

#include <stdio.h>
#include <string.h>

#include "store/queue.h"
#include "store/store.h"

#define PAUSE_PREFIX "pause:"

/* key_of - the meta key of WHAT. */
static void key_of(const char *what, char *buf, size_t len)
{
    snprintf(buf, len, PAUSE_PREFIX "%s", what);
}

/* pause_set - the flag of WHAT on or off. */
int pause_set(store_db *db, const char *what, bool on)
{
    char key[300];
    key_of(what, key, sizeof key);
    return store_meta_flag_set(db, key, on);
}

/* pause_get - is the flag of WHAT there? */
bool pause_get(store_db *db, const char *what)
{
    char key[300];
    key_of(what, key, sizeof key);
    return store_meta_flag(db, key);
}

/* pause_list - every WHAT paused, sorted. */
json_t *pause_list(store_db *db)
{
    return store_meta_flags(db, PAUSE_PREFIX);
}
