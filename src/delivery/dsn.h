/* delivery/dsn - queue a delivery status notification for the recipients of
 * a message that failed for good: built from the stored original's headers
 * and inserted as a new message, inside the caller's transaction, so the
 * failure and its notice are recorded together. */
#ifndef FLOODGATE_DELIVERY_DSN_H
#define FLOODGATE_DELIVERY_DSN_H

#include "store/store.h"
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "delivery/delivery_job.h"

struct dsn_original {
    const char *qid;
    const char *sender; /* "" (the null sender) gets no DSN, ever */
    time_t created;
    const char *remote_mta; /* NULL for local or admin failures */
    bool delayed;           /* a delay warning for the deferred recipients */
};

/* dsn_enqueue - insert the DSN for the OUTCOME_BOUNCED recipients of R
 * (the OUTCOME_DEFERRED ones for a delay warning) (N entries) of ORIG into DB; HOSTNAME names the
 * reporting MTA and SPOOL_DIR holds a spill file for large header sections.  Returns 1 when a DSN
 * was queued, 0 when none is due (null sender, nothing bounced), -1 with ERR. */
int dsn_enqueue(store_db *db, const char *hostname, const char *spool_dir,
                const struct dsn_original *orig, const struct delivery_rcpt *r, size_t n, char *err,
                size_t errlen);

#endif
