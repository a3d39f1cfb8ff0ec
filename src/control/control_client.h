/* control/control_client - floodctl's side of the control socket. */
#ifndef FLOODGATE_CONTROL_CONTROL_CLIENT_H
#define FLOODGATE_CONTROL_CONTROL_CLIENT_H

#include <jansson.h>
#include <stddef.h>

/* control_call - send REQUEST to the daemon at PATH and return its reply
 * object (new reference).  Returns NULL with ERR set; *NOT_RUNNING is set
 * when nothing listens there (so the caller may work on the store itself). */
json_t *control_call(const char *path, json_t *request, int *not_running, char *err, size_t errlen);
/* control_ask - control_call with REQUEST (taken) and the reply
 * unwrapped: its "result" (new reference), or NULL with ERR set to the
 * daemon's error or why it could not be asked. */
json_t *control_ask(const char *path, json_t *request, char *err, size_t errlen);

#endif
