/* control/control_client - floodctl's side of the control socket.
 *
 * Room: control.  A plain blocking exchange: connect, send one request
 * line, read one reply line.  Timeouts keep a wedged daemon from hanging
 * the admin's shell, and the reply is bounded so a confused peer cannot
 * make floodctl eat all memory. */
#include "control/control_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define CONTROL_REPLY_MAX (256u * 1024 * 1024) /* a big queue listing fits */
#define CONTROL_TIMEOUT_SEC 120                /* a queue listing may take a while */

/* client_connect - a connected socket to PATH, or -1 with ERR set and
 * *NOT_RUNNING when nobody listens there. */
static int client_connect(const char *path, int *not_running, char *err, size_t errlen)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int n = snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    if (n < 0 || (size_t)n >= sizeof addr.sun_path) {
        snprintf(err, errlen, "%s: control socket path too long", path);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    struct timeval tv = {.tv_sec = CONTROL_TIMEOUT_SEC};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0 ||
        connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        int e = errno;
        /* ENOENT: no socket file; ECONNREFUSED: a file left by a daemon
         * that is gone.  Either way the store is free to use directly. */
        if (e == ENOENT || e == ECONNREFUSED)
            *not_running = 1;
        snprintf(err, errlen, "%s: cannot connect: %s", path, strerror(e));
        close(fd);
        return -1;
    }
    return fd;
}

/* send_all - write LEN octets of BUF, resuming after signals. */
static int send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

/* send_request - REQUEST as one compact JSON line. */
static int send_request(int fd, json_t *request, char *err, size_t errlen)
{
    char *s = json_dumps(request, JSON_COMPACT);
    if (s == NULL) {
        snprintf(err, errlen, "cannot encode the request");
        return -1;
    }
    int rc = send_all(fd, s, strlen(s));
    if (rc == 0)
        rc = send_all(fd, "\n", 1);
    free(s);
    if (rc < 0)
        snprintf(err, errlen, "cannot send to floodgated: %s", strerror(errno));
    return rc;
}

/* grow - make room for at least NEED more octets in *BUF. */
static int grow(char **buf, size_t *cap, size_t used, size_t need)
{
    if (used + need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 4096;
    while (ncap < used + need)
        ncap *= 2;
    char *p = realloc(*buf, ncap);
    if (p == NULL)
        return -1;
    *buf = p;
    *cap = ncap;
    return 0;
}

/* read_reply - read up to and without the first '\n' into a fresh
 * buffer; *LEN gets its length.  NULL with ERR set on error. */
static char *read_reply(int fd, size_t *len, char *err, size_t errlen)
{
    char *buf = NULL;
    size_t cap = 0, used = 0;
    for (;;) {
        if (used > CONTROL_REPLY_MAX || grow(&buf, &cap, used, 65536) < 0) {
            snprintf(err, errlen, "reply from floodgated too large");
            break;
        }
        ssize_t r = recv(fd, buf + used, cap - used, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            snprintf(err, errlen, "no reply from floodgated: %s",
                     r == 0 ? "connection closed" : strerror(errno));
            break;
        }
        char *nl = memchr(buf + used, '\n', (size_t)r);
        used += (size_t)r;
        if (nl != NULL) {
            *len = (size_t)(nl - buf);
            return buf;
        }
    }
    free(buf);
    return NULL;
}

/* control_call - send REQUEST to the daemon at PATH and return its reply
 * object (new reference). */
json_t *control_call(const char *path, json_t *request, int *not_running, char *err, size_t errlen)
{
    size_t len = 0;
    *not_running = 0;
    int fd = client_connect(path, not_running, err, errlen);
    if (fd < 0)
        return NULL;
    char *line =
        send_request(fd, request, err, errlen) < 0 ? NULL : read_reply(fd, &len, err, errlen);
    close(fd);
    if (line == NULL)
        return NULL;
    json_error_t jerr;
    json_t *reply = json_loadb(line, len, 0, &jerr);
    free(line);
    if (!json_is_object(reply)) {
        snprintf(err, errlen, "bad reply from floodgated: %s",
                 reply ? "not a JSON object" : jerr.text);
        json_decref(reply);
        return NULL;
    }
    return reply;
}

json_t *control_ask(const char *path, json_t *request, char *err, size_t errlen)
{
    int not_running = 0;
    json_t *reply = request ? control_call(path, request, &not_running, err, errlen) : NULL;
    json_decref(request);
    if (reply == NULL)
        return NULL;
    json_t *result = NULL;
    if (json_is_true(json_object_get(reply, "ok")))
        result = json_incref(json_object_get(reply, "result"));
    else
        snprintf(err, errlen, "%s", json_string_value(json_object_get(reply, "error")));
    json_decref(reply);
    return result;
}
