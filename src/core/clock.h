/* core/clock - the time the detector and the policy engine's windows
 * count in (room: core).
 *
 * In production it is the wall clock.  A daemon started with the test
 * option (floodgated -T, floodgated(8)) may be moved forward by a test
 * through the control command "clock.advance": the sliding windows
 * (1 minute, 10 minutes, 1 hour), the hourly sending limits and the
 * detector's baselines then see hours pass in seconds, for real.  The
 * offset only grows: no window ever sees time go back. */
#ifndef FLOODGATE_CORE_CLOCK_H
#define FLOODGATE_CORE_CLOCK_H

#include <stdbool.h>
#include <time.h>

/* clock_now - the wall clock plus the test offset (0 unless enabled). */
time_t clock_now(void);
/* clock_test_enable - allow clock_advance (floodgated -T only). */
void clock_test_enable(void);
/* clock_test_enabled - was the daemon started with the test clock? */
bool clock_test_enabled(void);
/* clock_advance - move the clock SECONDS (1 to 30 days) forward; the
 * offset afterwards in *OFFSET.  -1 when the test clock is off or
 * SECONDS is out of range. */
int clock_advance(long seconds, long *offset);

#endif
