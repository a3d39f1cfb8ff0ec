/* control/control - the UNIX control socket of the daemon: one JSON object
 * per line in each direction.  Request {"cmd": NAME, ...}; reply
 * {"ok": true, "result": ...} or {"ok": false, "error": TEXT}. */
#ifndef FLOODGATE_CONTROL_CONTROL_H
#define FLOODGATE_CONTROL_CONTROL_H

#include <event2/event.h>
#include <jansson.h>

#define CONTROL_SOCKET "control.sock"
#define CONTROL_LINE_MAX 65536 /* request lines longer than this are refused */

struct control_server;

/* A handler returns the result (a new reference) or NULL with ERR set. */
typedef json_t *(*control_handler_fn)(void *ctx, json_t *request, char *err, size_t errlen);

/* control_server_start - listen on PATH (mode 0600; a stale socket is
 * replaced).  NULL with ERR set on failure. */
struct control_server *control_server_start(struct event_base *base, const char *path, char *err,
                                            size_t errlen);
void control_server_register(struct control_server *srv, const char *cmd, control_handler_fn fn,
                             void *ctx);
/* A finish function runs on the loop with what the reader thread found
 * (RESULT, taken) and returns the whole result, or NULL with ERR set. */
typedef json_t *(*control_finish_fn)(void *ctx, json_t *request, json_t *result, char *err,
                                     size_t errlen);

/* control_server_register_reader - like control_server_register, but FN
 * runs on the control room's own reader thread, for commands that read the
 * store (FN opens its own connection with store_thread_db, and touches no
 * loop-thread state); then FINISH, when not NULL, adds on the loop what
 * only the loop may read.  The client's next request waits for the answer. */
void control_server_register_reader(struct control_server *srv, const char *cmd,
                                    control_handler_fn fn, control_finish_fn finish, void *ctx);
/* control_finish_merge - for a finish function: READ's members added to
 * R (the loop's figures), both taken; R, or NULL with ERR set when either
 * is NULL or memory runs out. */
json_t *control_finish_merge(json_t *r, json_t *read, char *err, size_t errlen);

/* An answer given later: FN starts the work on the loop and keeps JOB;
 * whoever finishes it (on the loop; it may be FN itself) calls
 * control_answer(JOB, ...) exactly once.  The client's next request waits
 * for that answer.  Every job must be answered before
 * control_server_free. */
struct control_job;
typedef void (*control_async_fn)(void *ctx, json_t *request, struct control_job *job);
void control_server_register_async(struct control_server *srv, const char *cmd, control_async_fn fn,
                                   void *ctx);
/* control_answer - on the loop: JOB's result (RESULT, taken), or NULL and
 * ERR (copied).  JOB is freed. */
void control_answer(struct control_job *job, json_t *result, const char *err);

void control_server_free(struct control_server *srv);

#endif
