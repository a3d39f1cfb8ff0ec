/* control/control - the daemon's end of the UNIX control socket.
 *
 * Room: control.  floodctl (and later the web admin) sends one JSON object
 * per line; each line is parsed, dispatched by its "cmd" to the handler
 * the daemon registered, and answered with one JSON line.  The socket is
 * mode 0600 in the state dir: whoever can open it is the administrator,
 * so there is no further authentication here.  Limits: a request line is
 * at most CONTROL_LINE_MAX octets (a longer one is refused and the client
 * dropped), and a client that does not read its replies stops being read
 * once CONTROL_OUTPUT_MAX octets wait for it. */
#include "control/control.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "core/log.h"
#include "core/workers.h"

#define CONTROL_OUTPUT_MAX (64u * 1024 * 1024) /* replies queued for one client */
#define CONTROL_CMD_MAX 64                     /* longest command name */
#define CONTROL_READERS 2 /* store reads at once: a long listing leaves one for status */

struct control_cmd {
    char name[CONTROL_CMD_MAX];
    control_handler_fn fn;
    void *ctx;
    bool off_loop;            /* runs on the reader thread (control_server_register_reader) */
    control_finish_fn finish; /* then this, on the loop; may be NULL */
    control_async_fn async;   /* answers later (control_server_register_async) */
};

struct control_conn {
    struct control_server *srv;
    struct bufferevent *bev;
    struct control_conn *prev, *next;
    bool closing; /* flush the output, then free */
    bool busy;    /* a request is on the reader thread: read nothing more */
    bool gone;    /* the client left while busy: free when the answer comes */
};

/* A request handed to the reader thread, and its answer. */
struct control_job {
    struct control_conn *conn;
    struct control_cmd cmd; /* a copy: registrations may move the array */
    json_t *request;
    json_t *result; /* what the reader thread found; NULL with err set */
    char err[512];
    bool starting; /* an async handler runs: an answer now is sent by run_request */
    bool answered; /* control_answer came while starting */
};

struct control_server {
    struct event_base *base;
    struct evconnlistener *listener;
    struct sockaddr_un addr;
    struct control_cmd *cmds;
    size_t n_cmds, cap_cmds;
    struct control_conn *conns; /* every open client, to free them at exit */
    struct worker_pool *reader; /* threads for store reads; NULL until needed */
    bool stopping;              /* control_server_free: answer, start nothing new */
};

/* conn_free - close one client and forget it.  A client whose request is
 * still on the reader thread is only closed: the job's answer frees it. */
static void conn_free(struct control_conn *c)
{
    if (c->busy) {
        c->gone = true;
        bufferevent_disable(c->bev, EV_READ | EV_WRITE);
        return;
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        c->srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    bufferevent_free(c->bev);
    free(c);
}

/* conn_send - queue REPLY as one compact JSON line; -1 when it cannot be
 * encoded or queued (the caller then drops the client). */
static int conn_send(struct control_conn *c, json_t *reply)
{
    char *s = json_dumps(reply, JSON_COMPACT);
    if (s == NULL)
        return -1;
    int rc = bufferevent_write(c->bev, s, strlen(s));
    if (rc == 0)
        rc = bufferevent_write(c->bev, "\n", 1);
    free(s);
    return rc;
}

/* conn_send_error - queue {"ok":false,"error":MSG}. */
static int conn_send_error(struct control_conn *c, const char *msg)
{
    json_t *reply = json_pack("{s:b, s:s}", "ok", 0, "error", msg);
    if (reply == NULL)
        return -1;
    int rc = conn_send(c, reply);
    json_decref(reply);
    return rc;
}

/* find_cmd - the registered command called NAME, or NULL. */
static struct control_cmd *find_cmd(struct control_server *srv, const char *name)
{
    for (size_t i = 0; i < srv->n_cmds; i++)
        if (strcmp(srv->cmds[i].name, name) == 0)
            return &srv->cmds[i];
    return NULL;
}

/* reply_of - the reply to command NAME: its RESULT (taken), or its error. */
static json_t *reply_of(const char *name, json_t *result, char *err, size_t errlen)
{
    if (result == NULL) {
        if (err[0] == '\0')
            snprintf(err, errlen, "command %s failed", name);
        log_warnx("event=control_error cmd=%s error=%s", log_quote(name), log_quote(err));
        return json_pack("{s:b, s:s}", "ok", 0, "error", err);
    }
    return json_pack("{s:b, s:o}", "ok", 1, "result", result);
}

/* reader_work - on the reader thread: run a command that reads the store,
 * so that however long it takes, no SMTP session waits for it. */
static void reader_work(void *arg)
{
    struct control_job *j = arg;
    j->result = j->cmd.fn(j->cmd.ctx, j->request, j->err, sizeof j->err);
}

static void process_lines(struct control_conn *c);

/* reader_done - on the loop: send the answer and go on with the client's
 * next request. */
static void reader_done(void *arg)
{
    struct control_job *j = arg;
    struct control_conn *c = j->conn;
    json_t *reply = NULL;
    c->busy = false;
    if (c->gone) {
        json_decref(j->result);
        conn_free(c);
    } else {
        /* The loop's own facts are added here, where they may be read. */
        if (j->result && j->cmd.finish)
            j->result = j->cmd.finish(j->cmd.ctx, j->request, j->result, j->err, sizeof j->err);
        reply = reply_of(j->cmd.name, j->result, j->err, sizeof j->err);
        if (reply == NULL || conn_send(c, reply) < 0 || c->srv->stopping)
            c->closing = true;
        bufferevent_enable(c->bev, EV_READ);
        process_lines(c);
        if (c->closing && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
            conn_free(c);
    }
    json_decref(j->request);
    json_decref(reply);
    free(j);
}

/* hand_to_reader - queue REQUEST for CMD on the reader thread; the client
 * is not read until the answer is sent.  -1 when memory runs out. */
static int hand_to_reader(struct control_conn *c, struct control_cmd *cmd, json_t *request)
{
    struct control_job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return -1;
    j->conn = c;
    j->cmd = *cmd;
    j->request = json_incref(request);
    c->busy = true;
    bufferevent_disable(c->bev, EV_READ);
    worker_pool_submit(c->srv->reader, reader_work, reader_done, j);
    return 0;
}

/* start_async - hand REQUEST to CMD's async handler; the client is not
 * read until control_answer.  An answer given before the handler returns
 * is the reply (returned here, the job freed); NULL with *QUEUED set when
 * the answer comes later. */
static json_t *start_async(struct control_conn *c, struct control_cmd *cmd, json_t *request,
                           bool *queued)
{
    struct control_job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return json_pack("{s:b, s:s}", "ok", 0, "error", "out of memory");
    j->conn = c;
    j->cmd = *cmd;
    j->request = json_incref(request);
    j->starting = true;
    c->busy = true;
    bufferevent_disable(c->bev, EV_READ);
    cmd->async(cmd->ctx, j->request, j);
    j->starting = false;
    if (!j->answered) {
        *queued = true;
        return NULL;
    }
    c->busy = false;
    bufferevent_enable(c->bev, EV_READ);
    json_t *reply = reply_of(j->cmd.name, j->result, j->err, sizeof j->err);
    json_decref(j->request);
    free(j);
    return reply;
}

void control_answer(struct control_job *j, json_t *result, const char *err)
{
    j->result = result;
    if (result == NULL)
        snprintf(j->err, sizeof j->err, "%s", err ? err : "");
    if (j->starting) {
        j->answered = true;
        return;
    }
    j->cmd.finish = NULL;
    reader_done(j);
}

/* run_request - dispatch one parsed REQUEST and build its reply; NULL with
 * *QUEUED set when it went to the reader thread or waits for an answer. */
static json_t *run_request(struct control_conn *c, json_t *request, bool *queued)
{
    char err[512] = "";
    const char *name = json_string_value(json_object_get(request, "cmd"));
    if (!json_is_object(request) || name == NULL)
        return json_pack("{s:b, s:s}", "ok", 0, "error",
                         "request must be a JSON object with a string \"cmd\"");
    struct control_cmd *cmd = find_cmd(c->srv, name);
    if (cmd == NULL) {
        snprintf(err, sizeof err, "unknown command %s", name);
        return json_pack("{s:b, s:s}", "ok", 0, "error", err);
    }
    if (cmd->async)
        return start_async(c, cmd, request, queued);
    if (cmd->off_loop) {
        if (hand_to_reader(c, cmd, request) == 0) {
            *queued = true;
            return NULL;
        }
        return json_pack("{s:b, s:s}", "ok", 0, "error", "out of memory");
    }
    json_t *result = cmd->fn(cmd->ctx, request, err, sizeof err);
    return reply_of(name, result, err, sizeof err);
}

/* handle_line - parse LINE (LEN octets) and queue the reply. */
static int handle_line(struct control_conn *c, const char *line, size_t len)
{
    json_error_t jerr;
    json_t *request = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (request == NULL) {
        char msg[256];
        snprintf(msg, sizeof msg, "invalid JSON at column %d: %s", jerr.column, jerr.text);
        return conn_send_error(c, msg);
    }
    bool queued = false;
    json_t *reply = run_request(c, request, &queued);
    json_decref(request);
    if (queued)
        return 0;
    if (reply == NULL) /* json_pack only fails when memory runs out */
        return conn_send_error(c, "out of memory");
    int rc = conn_send(c, reply);
    json_decref(reply);
    return rc;
}

/* refuse_long_line - answer a request line over CONTROL_LINE_MAX and drop
 * the client: skipping to the next newline could take forever, and a
 * control client that sends such a line is broken anyway. */
static void refuse_long_line(struct control_conn *c)
{
    char msg[128];
    snprintf(msg, sizeof msg, "request line longer than %d octets refused", CONTROL_LINE_MAX);
    log_warnx("event=control_error error=line_too_long");
    conn_send_error(c, msg);
    c->closing = true;
    bufferevent_disable(c->bev, EV_READ);
}

/* process_lines - answer every complete request waiting in the input,
 * pausing while too much output waits for the client. */
static void process_lines(struct control_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    struct evbuffer *out = bufferevent_get_output(c->bev);
    while (!c->closing && !c->busy) {
        if (evbuffer_get_length(out) > CONTROL_OUTPUT_MAX) {
            bufferevent_disable(c->bev, EV_READ); /* resumed by write_cb */
            return;
        }
        size_t len;
        char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);
        if (line == NULL) {
            if (evbuffer_get_length(in) > CONTROL_LINE_MAX)
                refuse_long_line(c);
            return;
        }
        if (len > CONTROL_LINE_MAX)
            refuse_long_line(c);
        else if (handle_line(c, line, len > 0 && line[len - 1] == '\r' ? len - 1 : len) < 0)
            c->closing = true;
        free(line);
    }
}

/* read_cb - requests arrived. */
static void read_cb(struct bufferevent *bev, void *arg)
{
    struct control_conn *c = arg;
    process_lines(c);
    if (c->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        conn_free(c);
}

/* write_cb - the output drained: close a finished client, or go on
 * reading one that was paused for not reading its replies. */
static void write_cb(struct bufferevent *bev, void *arg)
{
    struct control_conn *c = arg;
    if (c->closing) {
        conn_free(c);
        return;
    }
    if (!c->busy && !(bufferevent_get_enabled(bev) & EV_READ)) {
        bufferevent_enable(bev, EV_READ);
        process_lines(c);
    }
}

/* event_cb - the client went away or the socket failed. */
static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct control_conn *c = arg;
    /* A client that half-closes after its request still gets the reply. */
    if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
        evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
        c->closing = true;
        bufferevent_disable(bev, EV_READ);
        return;
    }
    conn_free(c);
}

/* accept_cb - a new client: give it a bufferevent and start reading. */
static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    struct control_server *srv = arg;
    struct control_conn *c = calloc(1, sizeof *c);
    struct bufferevent *bev =
        c ? bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE) : NULL;
    if (bev == NULL) {
        log_warnx("event=control_error error=\"out of memory accepting a client\"");
        free(c);
        evutil_closesocket(fd);
        return;
    }
    c->srv = srv;
    c->bev = bev;
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    /* Stop reading once a too-long line is certain; read_cb refuses it. */
    bufferevent_setwatermark(bev, EV_READ, 0, CONTROL_LINE_MAX + 2);
    bufferevent_setcb(bev, read_cb, write_cb, event_cb, c);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* clear_stale_socket - remove a socket left by a daemon that died, but
 * never a live one (a second daemon would steal the first one's admin
 * channel) and never a file that is not a socket. */
static int clear_stale_socket(const struct sockaddr_un *addr, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(addr->sun_path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: %s", addr->sun_path, strerror(errno));
        return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "%s exists and is not a socket: move it away", addr->sun_path);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int live = connect(fd, (const struct sockaddr *)addr, sizeof *addr) == 0;
    close(fd);
    if (live) {
        snprintf(err, errlen, "%s is in use: is another floodgated running?", addr->sun_path);
        return -1;
    }
    if (unlink(addr->sun_path) < 0 && errno != ENOENT) {
        snprintf(err, errlen, "%s: cannot remove stale socket: %s", addr->sun_path,
                 strerror(errno));
        return -1;
    }
    return 0;
}

/* bind_socket - a listening AF_UNIX socket at ADDR, mode 0600.  The umask
 * makes the socket private from the moment it exists; the chmod states
 * the intent even if the umask is ignored. */
static int bind_socket(const struct sockaddr_un *addr, char *err, size_t errlen)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    mode_t old = umask(077);
    int rc = bind(fd, (const struct sockaddr *)addr, sizeof *addr);
    int saved = errno;
    umask(old);
    if (rc < 0) {
        snprintf(err, errlen, "%s: cannot bind: %s", addr->sun_path, strerror(saved));
        close(fd);
        return -1;
    }
    if (chmod(addr->sun_path, 0600) < 0 || listen(fd, 16) < 0) {
        snprintf(err, errlen, "%s: %s", addr->sun_path, strerror(errno));
        close(fd);
        unlink(addr->sun_path);
        return -1;
    }
    return fd;
}

/* control_server_start - listen on PATH (mode 0600; a stale socket is
 * replaced).  NULL with ERR set on failure. */
struct control_server *control_server_start(struct event_base *base, const char *path, char *err,
                                            size_t errlen)
{
    struct control_server *srv = calloc(1, sizeof *srv);
    if (srv == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    srv->base = base;
    srv->addr.sun_family = AF_UNIX;
    int n = snprintf(srv->addr.sun_path, sizeof srv->addr.sun_path, "%s", path);
    if (n < 0 || (size_t)n >= sizeof srv->addr.sun_path) {
        snprintf(err, errlen, "%s: control socket path longer than %zu octets", path,
                 sizeof srv->addr.sun_path - 1);
        free(srv);
        return NULL;
    }
    int fd = -1;
    if (clear_stale_socket(&srv->addr, err, errlen) == 0)
        fd = bind_socket(&srv->addr, err, errlen);
    if (fd < 0) {
        free(srv);
        return NULL;
    }
    srv->listener = evconnlistener_new(base, accept_cb, srv,
                                       LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
    if (srv->listener == NULL) {
        snprintf(err, errlen, "%s: cannot listen (libevent)", path);
        close(fd);
        unlink(srv->addr.sun_path);
        free(srv);
        return NULL;
    }
    log_info("event=control_listening path=%s", log_quote(path));
    return srv;
}

/* add_cmd - route CMD to FN; a second registration of the same name
 * replaces the first. */
static void add_cmd(struct control_server *srv, const char *cmd, control_handler_fn fn, void *ctx,
                    bool off_loop, control_finish_fn finish)
{
    struct control_cmd *c = find_cmd(srv, cmd);
    if (c == NULL) {
        if (strlen(cmd) >= CONTROL_CMD_MAX)
            fatal("control: command name too long: %s", cmd);
        if (srv->n_cmds == srv->cap_cmds) {
            size_t cap = srv->cap_cmds ? srv->cap_cmds * 2 : 16;
            struct control_cmd *p = realloc(srv->cmds, cap * sizeof *p);
            if (p == NULL)
                fatal("control: out of memory registering %s", cmd);
            srv->cmds = p;
            srv->cap_cmds = cap;
        }
        c = &srv->cmds[srv->n_cmds++];
        snprintf(c->name, sizeof c->name, "%s", cmd); /* length checked above */
    }
    c->fn = fn;
    c->ctx = ctx;
    c->off_loop = off_loop;
    c->finish = finish;
    c->async = NULL;
}

void control_server_register(struct control_server *srv, const char *cmd, control_handler_fn fn,
                             void *ctx)
{
    add_cmd(srv, cmd, fn, ctx, false, NULL);
}

json_t *control_finish_merge(json_t *r, json_t *read, char *err, size_t errlen)
{
    if (r == NULL || read == NULL || json_object_update(r, read) < 0) {
        json_decref(r);
        json_decref(read);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    json_decref(read);
    return r;
}

void control_server_register_reader(struct control_server *srv, const char *cmd,
                                    control_handler_fn fn, control_finish_fn finish, void *ctx)
{
    if (srv->reader == NULL && (srv->reader = worker_pool_new(srv->base, CONTROL_READERS, "fg-ctl-reader")) == NULL)
        fatal("control: out of memory starting the reader thread");
    add_cmd(srv, cmd, fn, ctx, true, finish);
}

void control_server_register_async(struct control_server *srv, const char *cmd, control_async_fn fn,
                                   void *ctx)
{
    add_cmd(srv, cmd, NULL, ctx, false, NULL);
    find_cmd(srv, cmd)->async = fn;
}

/* control_server_free - stop listening, drop clients, remove the socket. */
void control_server_free(struct control_server *srv)
{
    if (srv == NULL)
        return;
    /* Finish the requests on the reader thread first: their answers refer
     * to clients, which are freed next. */
    srv->stopping = true;
    worker_pool_free(srv->reader);
    srv->reader = NULL;
    while (srv->conns) {
        if (srv->conns->busy) /* an async handler's owner stopped without answering */
            fatal("control: a request is still unanswered at shutdown");
        conn_free(srv->conns);
    }
    evconnlistener_free(srv->listener);
    unlink(srv->addr.sun_path);
    free(srv->cmds);
    free(srv);
}
