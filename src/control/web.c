/* control/web - the embedded HTTP server: /metrics for Prometheus and the
 * JSON API under /api/v1/ (room: control).
 *
 * libmicrohttpd runs it on threads of its own, one per connection up to
 * WEB_CONNECTIONS_MAX, so a slow scrape of a big queue waits on its own
 * thread and never on the SMTP event loop.  Every answer is got through
 * the control socket, exactly as floodctl gets it: the loop-side figures
 * from the loop, the store reads from the control reader threads.  There
 * is one implementation of each command, in the control room.
 *
 * Access: /metrics asks for web.metrics_token when one is set; the API is
 * off unless web.api_token is set, and then asks for it (RFC 6750 bearer
 * tokens, compared in constant time), or an administrator's session of
 * the web admin (control/web_admin.c; a POST with its CSRF token in
 * X-CSRF-Token).  GET and HEAD read; POST under /api/v1/ acts
 * (control/web_api.c), through queue_act and control/admin_ops as
 * floodctl does.  Every other path is the web admin's: its login page,
 * its pages and /account. */
#include "control/web.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control/control.h"
#include "control/control_client.h"
#include "control/web_admin.h"
#include "control/web_internal.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "store/store.h"

#define WEB_CONNECTIONS_MAX 32 /* at once; a scraper needs one */
#define WEB_TIMEOUT_SEC 30     /* an idle or stalled connection is closed */
#define PEM_MAX (64 * 1024)    /* a certificate chain or key file */
#define QUERY_VALUE_MAX 512    /* one query parameter of the API */
#define TOKEN_BUF 260

struct web_server {
    int fd;
    bool tls;
    char *cert_pem, *key_pem;
    char control_path[256];
    struct MHD_Daemon *mhd;
    pthread_mutex_t lock; /* the tokens, swapped by a reload */
    char metrics_token[TOKEN_BUF];
    char api_token[TOKEN_BUF];
    struct web_admin *admin; /* the other settings, the login pages, the admin's pages, /account */
};

/* read_pem - the whole of PATH (at most PEM_MAX), NUL-terminated. */
static char *read_pem(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char *buf = fd < 0 ? NULL : malloc(PEM_MAX + 1);
    size_t len = 0;
    ssize_t n = 1;
    while (buf && n > 0 && len < PEM_MAX)
        if ((n = read(fd, buf + len, PEM_MAX - len)) > 0)
            len += (size_t)n;
    if (fd >= 0)
        close(fd);
    if (buf == NULL || n < 0 || len == PEM_MAX) {
        snprintf(err, errlen, "web: cannot read %s: %s", path,
                 len == PEM_MAX ? "larger than 64 KiB" : strerror(errno));
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

/* take_tokens - CFG's tokens into W ("" when unset). */
static void take_tokens(struct web_server *w, const struct config *cfg)
{
    pthread_mutex_lock(&w->lock);
    str_copy(w->metrics_token, cfg->web.metrics_token ? cfg->web.metrics_token : "",
             sizeof w->metrics_token);
    str_copy(w->api_token, cfg->web.api_token ? cfg->web.api_token : "", sizeof w->api_token);
    pthread_mutex_unlock(&w->lock);
}

struct web_server *web_prepare(const struct config *cfg, char *err, size_t errlen)
{
    err[0] = '\0';
    if (!cfg->web.enabled)
        return NULL;
    struct web_server *w = calloc(1, sizeof *w);
    if (w == NULL) {
        snprintf(err, errlen, "web: out of memory");
        return NULL;
    }
    pthread_mutex_init(&w->lock, NULL);
    w->fd = -1;
    w->tls = cfg->web.tls == WEB_TLS_IMPLICIT;
    take_tokens(w, cfg);
    if ((w->admin = web_admin_new(CONTROL_SOCKET, cfg)) == NULL) {
        snprintf(err, errlen, "web: out of memory");
        web_stop(w);
        return NULL;
    }
    if (w->tls && ((w->cert_pem = read_pem(cfg->tls_certificate, err, errlen)) == NULL ||
                   (w->key_pem = read_pem(cfg->tls_key, err, errlen)) == NULL)) {
        web_stop(w);
        return NULL;
    }
    const struct sockaddr *sa = (const struct sockaddr *)&cfg->web.addr;
    int one = 1;
    w->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (w->fd < 0 || setsockopt(w->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(w->fd, sa, cfg->web.addrlen) < 0 || listen(w->fd, 64) < 0) {
        snprintf(err, errlen, "web: cannot listen on %s: %s", cfg->web.address, strerror(errno));
        web_stop(w);
        return NULL;
    }
    return w;
}

/* token_ok - does the Authorization header carry "Bearer WANT"?  The
 * comparison takes the same time wherever the first difference is. */
static bool token_ok(struct MHD_Connection *c, const char *want)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (h == NULL || strncmp(h, "Bearer ", 7) != 0)
        return false;
    const char *got = h + 7;
    size_t n = strlen(want), m = strlen(got);
    unsigned char diff = (unsigned char)(n != m);
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(want[i] ^ (i < m ? got[i] : 0));
    return diff == 0;
}

/* respond - send STATUS with BODY (copied) of TYPE; a 401 also says how
 * to authenticate (RFC 6750 3). */
static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *type,
                               const char *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"floodgate\"");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

enum MHD_Result web_respond_json(struct MHD_Connection *c, unsigned status, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (text == NULL)
        return respond(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", "out of memory\n", 14);
    size_t n = strlen(text);
    text[n] = '\n'; /* json_dumps' NUL becomes the final newline */
    enum MHD_Result rc = respond(c, status, "application/json", text, n + 1);
    free(text);
    return rc;
}

enum MHD_Result web_respond_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
    return web_respond_json(c, status, json_pack("{s:s}", "error", msg));
}

/* ask - one control request (REQ, stolen); the result (new reference), or
 * NULL with ERR set. */
static json_t *ask(struct web_server *w, json_t *req, char *err, size_t errlen)
{
    return control_ask(w->control_path, req, err, errlen);
}

/* ---- /metrics ---- */

/* sample - one line "NAME{LABELS} VALUE" with its HELP and TYPE when
 * HELP is given (the first sample of a family). */
static void sample(FILE *out, const char *name, const char *type, const char *help,
                   const char *labels, double v)
{
    if (help)
        fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    fprintf(out, "%s%s %.17g\n", name, labels ? labels : "", v);
}

static double num(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : 0;
}

/* by_state - one gauge sample per member of the object O ({"queued": n,
 * ...}), labelled state. */
static void by_state(FILE *out, const char *name, const char *help, json_t *o)
{
    const char *state;
    json_t *v;
    bool first = true;
    json_object_foreach(o, state, v)
    {
        if (!json_is_integer(v))
            continue;
        char labels[128], esc[64];
        snprintf(labels, sizeof labels, "{state=\"%s\"}",
                 metrics_label_escape(state, esc, sizeof esc));
        sample(out, name, "gauge", first ? help : NULL, labels, (double)json_integer_value(v));
        first = false;
    }
}

/* blocklisted - floodgate_blocklisted{address,zone}: 1 listed, 0 not, of
 * the reputation watch's last round (status "blocklists"); an answer that
 * did not come (unknown) gives no sample rather than a guess. */
static void blocklisted(FILE *out, json_t *bl)
{
    size_t i;
    json_t *r;
    bool first = true;
    json_array_foreach(json_object_get(bl, "results"), i, r)
    {
        const char *address = json_string_value(json_object_get(r, "address"));
        const char *zone = json_string_value(json_object_get(r, "list"));
        const char *state = json_string_value(json_object_get(r, "state"));
        if (address == NULL || zone == NULL || state == NULL || strcmp(state, "unknown") == 0)
            continue;
        char labels[600], ea[128], ez[300];
        snprintf(labels, sizeof labels, "{address=\"%s\",zone=\"%s\"}",
                 metrics_label_escape(address, ea, sizeof ea),
                 metrics_label_escape(zone, ez, sizeof ez));
        sample(out, "floodgate_blocklisted", "gauge",
               first ? "1 when the public address is listed on the DNS blocklist zone in the "
                       "last check (reputation), 0 when not."
                     : NULL,
               labels, strcmp(state, "listed") == 0);
        first = false;
    }
}

/* status_metrics - the figures of the status command as Prometheus text
 * (the counters of the SMTP room are in core/metrics' registry). */
static void status_metrics(FILE *out, json_t *st)
{
    json_t *gate = json_object_get(st, "gate"), *store = json_object_get(st, "store");
    sample(out, "floodgate_up", "gauge", "1 when the daemon answers.", NULL, 1);
    sample(out, "floodgate_uptime_seconds", "gauge", "Seconds since the daemon started.", NULL,
           num(st, "uptime"));
    sample(out, "floodgate_bans_active", "gauge", "Client IPs and networks banned now.", NULL,
           num(gate, "bans_active"));
    sample(out, "floodgate_store_commits_total", "counter",
           "Store transactions committed (group commits) since the start.", NULL,
           num(st, "store_commits"));
    sample(out, "floodgate_store_up", "gauge",
           "1 while the store accepts writes, 0 while it fails.", NULL,
           strcmp(json_string_value(json_object_get(store, "state"))
                      ? json_string_value(json_object_get(store, "state"))
                      : "",
                  "ok") == 0);
    by_state(out, "floodgate_queue_messages",
             "Messages in the queue with a recipient in the state (a message with recipients "
             "in two states counts in both).",
             json_object_get(st, "messages_by_state"));
    by_state(out, "floodgate_queue_recipients", "Queued recipients by state.",
             json_object_get(json_object_get(st, "queue"), "recipients"));
    blocklisted(out, json_object_get(st, "blocklists"));
}

static enum MHD_Result serve_metrics(struct web_server *w, struct MHD_Connection *c)
{
    char err[512] = "";
    json_t *st =
        ask(w, json_pack("{s:s, s:b}", "cmd", "status", "messages_by_state", 1), err, sizeof err);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (out == NULL) {
        json_decref(st);
        return respond(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", "out of memory\n", 14);
    }
    if (st)
        status_metrics(out, st);
    else
        sample(out, "floodgate_up", "gauge", "1 when the daemon answers.", NULL, 0);
    char *own = metrics_render();
    if (own)
        fputs(own, out);
    free(own);
    json_decref(st);
    enum MHD_Result rc;
    if (fclose(out) != 0)
        rc = respond(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", "out of memory\n", 14);
    else
        rc = respond(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
    return rc;
}

/* ---- /api/v1/ ---- */

/* The API's resources: a path and the control command that answers it.
 * Query parameters become the request's members (queue filters: state,
 * ip, auth_user, from, rcpt, rcpt_domain, subject, listener, sort, limit,
 * older_than, newer_than, by, top). */
static const struct {
    const char *path, *cmd;
} resources[] = {
    {"/api/v1/status", "status"},
    {"/api/v1/queue", "queue.list"},
    {"/api/v1/queue/top", "queue.top"},
};

/* Parameters that are numbers or booleans in a control request. */
static const char *const int_params[] = {"limit", "older_than", "newer_than", "top", NULL};
static const char *const bool_params[] = {"unauthenticated", "descending", NULL};

static bool listed(const char *const *names, const char *key)
{
    for (; *names; names++)
        if (strcmp(*names, key) == 0)
            return true;
    return false;
}

struct query {
    json_t *req;
    char err[128];
};

/* add_param - one query parameter into the request; the first bad one is
 * kept in ERR and the rest ignored. */
static enum MHD_Result add_param(void *arg, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    struct query *q = arg;
    if (q->err[0])
        return MHD_NO;
    if (value == NULL || strlen(value) > QUERY_VALUE_MAX || strcmp(key, "cmd") == 0 ||
        strcmp(key, "admin") == 0) { /* who acts is the token's or the session's */
        snprintf(q->err, sizeof q->err, "bad parameter: %.64s", key);
        return MHD_NO;
    }
    json_t *v;
    if (listed(int_params, key)) {
        uint64_t n;
        if (parse_u64(value, strlen(value), &n) < 0 || n > (1ull << 40)) {
            snprintf(q->err, sizeof q->err, "%.64s: a whole number is needed", key);
            return MHD_NO;
        }
        v = json_integer((json_int_t)n);
    } else if (listed(bool_params, key)) {
        v = json_boolean(strcmp(value, "1") == 0 || strcmp(value, "true") == 0);
    } else {
        v = json_string(value);
    }
    if (v == NULL || json_object_set_new(q->req, key, v) < 0)
        snprintf(q->err, sizeof q->err, "bad parameter: %.64s", key);
    return q->err[0] ? MHD_NO : MHD_YES;
}

json_t *web_query(struct MHD_Connection *c, json_t *req, enum MHD_Result *rc)
{
    struct query q = {.req = req};
    if (q.req == NULL) {
        *rc = web_respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return NULL;
    }
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_param, &q);
    if (q.err[0]) {
        json_decref(q.req);
        *rc = web_respond_error(c, MHD_HTTP_BAD_REQUEST, q.err);
        return NULL;
    }
    return q.req;
}

static enum MHD_Result serve_api(struct web_server *w, struct MHD_Connection *c, const char *url,
                                 bool post, const char *admin)
{
    enum MHD_Result handled;
    if (web_api_serve(w->admin, c, url, post, admin, &handled))
        return handled;
    const char *cmd = NULL;
    for (size_t i = 0; i < sizeof resources / sizeof resources[0]; i++)
        if (strcmp(url, resources[i].path) == 0)
            cmd = resources[i].cmd;
    if (cmd == NULL)
        return web_respond_error(c, MHD_HTTP_NOT_FOUND, "no such resource");
    enum MHD_Result rc;
    json_t *req = web_query(c, json_pack("{s:s, s:s}", "cmd", cmd, "admin", admin), &rc);
    if (req == NULL)
        return rc;
    char err[512] = "";
    json_t *result = ask(w, req, err, sizeof err);
    if (result == NULL)
        return web_respond_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, err[0] ? err : "no answer");
    return web_respond_json(c, MHD_HTTP_OK, json_pack("{s:o}", "result", result));
}

/* ---- the server ---- */

/* The state of an API POST once its headers were seen (no body is read). */
static const char seen_headers;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **state)
{
    struct web_server *w = cls;
    if (strcmp(url, "/metrics") != 0 && strncmp(url, "/api/", 5) != 0)
        return web_admin_request(w->admin, c, url, method, upload, upload_size, state);
    bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    if (!post && strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return web_respond_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET, HEAD and POST");
    if (post) {
        /* libmicrohttpd calls once with the headers, then with each piece
         * of the body, then once more with none: answer on that last. */
        if (*state == NULL) {
            /* the selection goes in the query: a body is refused before
             * it is read (libmicrohttpd answers only now or at its end) */
            const char *len =
                MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
            if ((len && strcmp(len, "0") != 0) ||
                MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING))
                return web_respond_error(c, MHD_HTTP_CONTENT_TOO_LARGE,
                                         "send no body: the selection goes in the query");
            *state = (void *)&seen_headers;
            return MHD_YES;
        }
        if (*upload_size > 0) /* not announced, so not expected: drop it */
            return MHD_NO;
    }
    char metrics_token[TOKEN_BUF], api_token[TOKEN_BUF];
    pthread_mutex_lock(&w->lock);
    memcpy(metrics_token, w->metrics_token, sizeof metrics_token);
    memcpy(api_token, w->api_token, sizeof api_token);
    pthread_mutex_unlock(&w->lock);
    if (post && strncmp(url, "/api/", 5) != 0)
        return web_respond_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "POST is for /api/v1/ actions");
    if (strcmp(url, "/metrics") == 0) {
        if (metrics_token[0] && !token_ok(c, metrics_token))
            return web_respond_error(c, MHD_HTTP_UNAUTHORIZED, "a bearer token is needed");
        return serve_metrics(w, c);
    }
    if (strncmp(url, "/api/", 5) == 0) {
        /* an administrator logged in to the pages may use the API with
         * the session's cookie (and its CSRF token on a POST) */
        char admin[WEB_ADMIN_WHO] = "api";
        bool csrf_bad = false;
        if (api_token[0] && token_ok(c, api_token))
            return serve_api(w, c, url, post, admin);
        if (web_admin_api_session(w->admin, c, post, admin, sizeof admin, &csrf_bad))
            return serve_api(w, c, url, post, admin);
        if (csrf_bad)
            return web_respond_error(c, MHD_HTTP_FORBIDDEN, "an X-CSRF-Token header is needed");
        return web_respond_error(c, MHD_HTTP_UNAUTHORIZED,
                                 api_token[0] ? "a bearer token or an admin session is needed"
                                              : "log in at / (the API without a session needs "
                                                "web.api_token)");
    }
    return web_respond_error(c, MHD_HTTP_NOT_FOUND, "no such page");
}

/* on_completed - a request is done: free what the pages kept for it (the
 * API's POSTs keep only the static marker seen_headers). */
static void on_completed(void *cls, struct MHD_Connection *c, void **state,
                         enum MHD_RequestTerminationCode why)
{
    if (*state != NULL && *state != (void *)&seen_headers)
        web_admin_completed(*state);
    *state = NULL;
}

/* on_mhd_log - libmicrohttpd's own complaints, into the log. */
static void on_mhd_log(void *arg, const char *fmt, va_list ap)
{
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    buf[strcspn(buf, "\n")] = '\0';
    log_warnx("event=web_error error=%s", log_quote(buf));
}

int web_start(struct web_server *w, const char *control_path, char *err, size_t errlen)
{
    str_copy(w->control_path, control_path, sizeof w->control_path);
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (w->tls)
        flags |= MHD_USE_TLS;
    struct MHD_OptionItem tls_opts[] = {
        {w->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, w->cert_pem},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, w->key_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    w->mhd =
        MHD_start_daemon(flags, 0, NULL, NULL, on_request, w, MHD_OPTION_LISTEN_SOCKET, w->fd,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned)WEB_CONNECTIONS_MAX,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)WEB_TIMEOUT_SEC,
                         MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_NOTIFY_COMPLETED,
                         on_completed, NULL, MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
    if (w->mhd == NULL) {
        snprintf(err, errlen, "web: cannot start the HTTP server%s",
                 w->tls ? " (is the TLS certificate and key usable?)" : "");
        return -1;
    }
    w->fd = -1; /* libmicrohttpd's now */
    return 0;
}

void web_reload(struct web_server *w, const struct config *cfg)
{
    if (w == NULL)
        return;
    take_tokens(w, cfg);
    web_admin_config(w->admin, cfg);
}

void web_stop(struct web_server *w)
{
    if (w == NULL)
        return;
    if (w->mhd)
        MHD_stop_daemon(w->mhd); /* closes the listening socket too */
    if (w->fd >= 0)
        close(w->fd);
    web_admin_free(w->admin);
    free(w->cert_pem);
    if (w->key_pem) {
        explicit_bzero(w->key_pem, strlen(w->key_pem));
        free(w->key_pem);
    }
    pthread_mutex_destroy(&w->lock);
    free(w);
}
