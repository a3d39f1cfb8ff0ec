/* queue/inject - put a message saved elsewhere (an .eml file) into the
 * queue, as the admin, with the envelope the admin names. */
#ifndef FLOODGATE_QUEUE_INJECT_H
#define FLOODGATE_QUEUE_INJECT_H

#include "store/store.h"
#include <stddef.h>
#include <stdio.h>

struct inject_request {
    const char *path;     /* the message, RFC 5322; LF or CR LF line ends */
    FILE *in;             /* PATH already open (floodctl opens it before it gives
                           * up root), or NULL: open PATH; not closed */
    const char *sender;   /* envelope sender; "" for <> */
    const char *const *rcpts;
    size_t n_rcpts;
    const char *admin;    /* recorded as the envelope's listener "inject" and in the log */
    const char *hostname; /* for the Received: header */
    const char *spool_dir;
    size_t max_size;
};

/* queue_inject - store the message durably; QID (17 octets) receives its
 * queue id.  -1 with ERR set (unreadable file, too big, unknown local
 * recipient, store error). */
int queue_inject(store_db *db, const struct inject_request *req, char *qid, char *err,
                 size_t errlen);

#endif
