/* core/clock - the wall clock, and a test offset that only a daemon
 * started with the test option may move (see clock.h). */
#include "core/clock.h"

#include <stdatomic.h>

#define ADVANCE_MAX (30L * 86400)

static atomic_bool test_enabled;
static atomic_long offset_seconds;

/* clock_now - time(NULL), plus the offset a test asked for. */
time_t clock_now(void)
{
    return time(NULL) + (time_t)atomic_load_explicit(&offset_seconds, memory_order_relaxed);
}

/* clock_test_enable - from here on clock_advance works. */
void clock_test_enable(void)
{
    atomic_store(&test_enabled, true);
}

/* clock_test_enabled - whether the test clock is on. */
bool clock_test_enabled(void)
{
    return atomic_load(&test_enabled);
}

/* clock_advance - forward only, by a bounded step. */
int clock_advance(long seconds, long *offset)
{
    if (!atomic_load(&test_enabled) || seconds < 1 || seconds > ADVANCE_MAX)
        return -1;
    long now = atomic_fetch_add(&offset_seconds, seconds) + seconds;
    if (offset)
        *offset = now;
    return 0;
}
