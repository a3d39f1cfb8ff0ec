/* control/monitor - the figures of floodctl monitor, answered from memory
 * by the control command "monitor" (docs/floodctl.8.md): messages in and
 * out per second, the senders with the highest rate now, the open
 * incidents.
 *
 * The daemon keeps, on the loop, one sample of its totals a second (the
 * SMTP server's accepted count; the refusals and the deliveries of the
 * metrics registry) and, as an observer of the policy engine, each
 * sender's messages and recipients of the last minute.  The incidents and
 * the queue counts come from the store, read on the control room's reader
 * thread (never on the loop).
 *
 * Room: control. */
#ifndef FLOODGATE_CONTROL_MONITOR_H
#define FLOODGATE_CONTROL_MONITOR_H

#include <event2/event.h>

#include "control/control.h"

struct policy;
struct outbreak;
struct monitor;

/* Where the figures are: pointers into the daemon, read on the loop. */
struct monitor_env {
    struct event_base *base;
    struct policy *policy;         /* observed: who sends */
    struct outbreak *outbreak;     /* the detector's score of a sender; may be NULL */
    const unsigned long *accepted; /* messages, since the start */
    const unsigned *connections;   /* sessions open now */
};

/* monitor_start - start counting and answer "monitor" on CTL; NULL when
 * out of memory or when the engine has no room for another observer. */
struct monitor *monitor_start(struct control_server *ctl, const struct monitor_env *env);
/* monitor_free - after the policy engine stopped calling observers. */
void monitor_free(struct monitor *m);

#endif
