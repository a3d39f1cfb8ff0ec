/* store/queue - the rows of queued messages: a message with its
 * recipients and body stored in one transaction of the committer (the
 * body is read back through store/body), the admin's actions on one
 * message (hold, release, retry, return, purge, quarantine, restore), the
 * meta flags the pauses are kept in.  The queue room decides what to do and in which batches;
 * these are its typed reads and writes. */
#ifndef FLOODGATE_STORE_QUEUE_H
#define FLOODGATE_STORE_QUEUE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "store/store.h"

/* The row of one message (NULL strings are stored as NULL). */
struct store_message {
    const char *id;
    long long created;
    long long size; /* of the stored octets: trace header and body */
    const char *sender;
    const char *auth_user;
    const char *client_ip;
    int client_port;
    const char *helo;
    const char *tls;
    const char *listener;
    const char *header_from;
    const char *subject;
    const char *message_id;
    const char *auth_app_password;
};

/* store_queue_insert_message - the row of M.  -1 with ERR. */
int store_queue_insert_message(store_db *db, const struct store_message *m, char *err,
                               size_t errlen);
/* store_queue_insert_recipient - recipient ADDRESS (as written ORIG,
 * LOCAL or not) of message QID, due at CREATED, "held" when HELD else
 * "queued"; or, with DEFERRED_WHY, "deferred" until DEFERRED_UNTIL after
 * one attempt, DEFERRED_WHY its last error (the row a deferral would
 * leave).  -1 with ERR. */
int store_queue_insert_recipient(store_db *db, const char *qid, const char *address,
                                 const char *orig, bool local, long long created, bool held,
                                 long long deferred_until, const char *deferred_why, char *err,
                                 size_t errlen);

/* store_queue_fill - copy up to N octets from offset OFF of a body into
 * BUF: the count, 0 at the end, -1 on an I/O error (the shape of
 * spool_read and store_body_read). */
typedef long (*store_queue_fill)(void *arg, size_t off, char *buf, size_t n);

/* store_queue_insert_body - the body of QID, SIZE octets: HEAD (HEAD_LEN
 * octets, may be 0) then what FILL gives (when FILL is not NULL), written
 * into a blob of the final size in chunks, never whole in memory.  -1
 * with ERR.  (Reading it back: store/body.h.) */
int store_queue_insert_body(store_db *db, const char *qid, size_t size, const char *head,
                            size_t head_len, store_queue_fill fill, void *arg, char *err,
                            size_t errlen);

/* The actions on message QID, inside the caller's transaction: each
 * returns the recipients changed (0: none was in a state for it), or -1. */
/* store_queue_hold - queued or deferred -> held. */
int store_queue_hold(store_db *db, const char *qid);
/* store_queue_release - held -> queued, due now. */
int store_queue_release(store_db *db, const char *qid);
/* store_queue_retry - queued or deferred: due now. */
int store_queue_retry(store_db *db, const char *qid);
/* store_queue_return - every pending recipient -> returning, with the
 * reply TEXT for the DSN the scheduler will send. */
int store_queue_return(store_db *db, const char *qid, const char *text);
/* store_queue_delete - the message and all its rows; the messages removed. */
int store_queue_delete(store_db *db, const char *qid);

/* store_quarantine_commit - QID's pending recipients -> quarantined, the
 * quarantine record (ADMIN, REASON), the body out of the store.  The
 * recipients changed, 0 when none was pending (nothing else changes), -1. */
int store_quarantine_commit(store_db *db, const char *qid, const char *admin, const char *reason);
/* store_quarantine_restore - QID's quarantined recipients -> queued and
 * due now, the record marked released by ADMIN (its body is back in the
 * store already: store_queue_insert_body).  The recipients changed, or -1. */
int store_quarantine_restore(store_db *db, const char *qid, const char *admin);
/* store_quarantine_expired - the ids quarantined before BEFORE and not
 * released, malloc'd, *N of them (NULL and 0 when none or on error). */
char (*store_quarantine_expired(store_db *db, time_t before, size_t *n))[17];
/* store_quarantine_attach - to the message objects of BY_ID (id ->
 * message, each with a "recipients" array), among the ids IDS (a JSON
 * array text): their quarantine record ("reason", "quarantined_at",
 * "quarantined_by", "file_missing", and the "state", "status" and
 * "next_try" these mean) and their quarantined recipients.  -1 on a
 * store error. */
int store_quarantine_attach(store_db *db, const char *ids, json_t *by_id);

/* store_meta_flag_set - the meta row KEY present (ON) or gone. */
int store_meta_flag_set(store_db *db, const char *key, bool on);
/* store_meta_flag - is the meta row KEY there? (false when the store
 * cannot say) */
bool store_meta_flag(store_db *db, const char *key);
/* store_meta_flags - the meta keys starting with PREFIX, the prefix cut
 * off, sorted; NULL on a store error. */
json_t *store_meta_flags(store_db *db, const char *prefix);

#endif
