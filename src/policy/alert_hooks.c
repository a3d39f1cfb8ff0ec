/* policy/alert_hooks - the webhook and the command hook of the outbreak
 * detector's alerts (see alert_hooks.h; docs/detector.md "Alerts").
 *
 * One runner per hook: a thread, a queue of at most QUEUE_MAX events, and
 * the function that delivers one event.  The loop takes the mutex only to
 * put an event into a queue; a thread holds it only to take one out and
 * to copy the settings, never across I/O.  A webhook is tried ATTEMPTS
 * times at most (a 4xx other than 408 and 429 is not tried again: the
 * same request would get the same answer); a command once (it may have
 * effects: a second run could page someone twice). */
#include "policy/alert_hooks.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "store/incidents.h"
#include "store/store.h"

#define QUEUE_MAX 32 /* events waiting per hook; more are dropped, logged */
#define ATTEMPTS 3   /* per webhook event */
#define COMMAND_POLL_MS 20
#define CONNECT_TIMEOUT_MAX 10 /* seconds, inside webhook_timeout */

static const unsigned backoff_seconds[ATTEMPTS - 1] = {1, 4};

/* One incident change waiting for a hook; or another alert (a blocklist
 * listing: id 0) whose document DOC is made already (the runner's copy,
 * freed once delivered), with its STATE. */
struct hook_event {
    long long id;
    char subject[300];
    char event[16];
    time_t at;
    char *doc;
    char state[16];
};

/* The settings a thread uses for one event: a copy, so that a reload on
 * the loop never frees them under the thread. */
struct settings {
    char *url, *token, *command;
    unsigned webhook_timeout, command_timeout;
    char hostname[256];
};

struct runner;
typedef void (*deliver_fn)(struct runner *r, const struct hook_event *e, const char *doc,
                           const char *state, const struct settings *s);

struct runner {
    struct alert_hooks *h;
    const char *name; /* "webhook", "command": the hook= of the log */
    deliver_fn deliver;
    pthread_t thread;
    bool started;
    struct hook_event q[QUEUE_MAX];
    size_t head, n;
};

struct alert_hooks {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* an event queued, or stopping */
    atomic_bool stopping;
    struct settings cfg; /* under MU */
    struct runner web, cmd;
};

/* ---- settings ---- */

static void settings_clear(struct settings *s)
{
    free(s->url);
    free(s->token);
    free(s->command);
    s->url = s->token = s->command = NULL;
}

/* dup_or_null - a copy of S (NULL stays NULL); false when out of memory. */
static bool dup_or_null(const char *s, char **out)
{
    *out = s ? strdup(s) : NULL;
    return s == NULL || *out != NULL;
}

/* settings_copy - FROM's strings duplicated into TO; -1 when out of memory
 * (TO is then cleared). */
static int settings_copy(struct settings *to, const struct settings *from)
{
    *to = (struct settings){.webhook_timeout = from->webhook_timeout,
                            .command_timeout = from->command_timeout};
    str_copy(to->hostname, from->hostname, sizeof to->hostname);
    if (dup_or_null(from->url, &to->url) && dup_or_null(from->token, &to->token) &&
        dup_or_null(from->command, &to->command))
        return 0;
    settings_clear(to);
    return -1;
}

/* settings_of - CFG's alerts as settings (the strings borrowed). */
static struct settings settings_of(const struct config *cfg)
{
    struct settings s = {.url = cfg->alerts.webhook_url,
                         .token = cfg->alerts.webhook_token,
                         .command = cfg->alerts.command,
                         .webhook_timeout = cfg->alerts.webhook_timeout,
                         .command_timeout = cfg->alerts.command_timeout};
    str_copy(s.hostname, cfg->hostname ? cfg->hostname : "", sizeof s.hostname);
    return s;
}

/* ---- waiting ---- */

/* nap - sleep MS milliseconds, or less when stopping; true when stopping. */
static bool nap(struct alert_hooks *h, long ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&h->mu);
    while (!atomic_load(&h->stopping) && pthread_cond_timedwait(&h->cv, &h->mu, &until) == 0)
        ;
    pthread_mutex_unlock(&h->mu);
    return atomic_load(&h->stopping);
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ---- the document ---- */

/* document - what a hook gets for E: {"event", "id", "subject", "at",
 * "hostname", "incident"}, the incident as floodctl incident show --json
 * prints it (null when the store could not be read).  Its state into
 * STATE.  NULL when out of memory. */
static char *document(const struct hook_event *e, const struct settings *s, char *state, size_t len)
{
    store_db *db = store_thread_db(STORE_FILE);
    int found = 0;
    json_t *inc = db ? incident_get(db, e->id, &found) : NULL;
    char at[32];
    if (inc == NULL)
        log_warnx("event=store_error op=alert_hook id=%lld error=%s", e->id,
                  found || db == NULL ? "cannot read the incident" : "no such incident");
    str_copy(state, inc ? json_string_value(json_object_get(inc, "state")) : NULL, len);
    if (state[0] == '\0')
        str_copy(state, "unknown", len);
    json_t *doc =
        json_pack("{s:s, s:I, s:s, s:s, s:s, s:o}", "event", e->event, "id", (json_int_t)e->id,
                  "subject", e->subject, "at", iso8601_utc(e->at, at, sizeof at), "hostname",
                  s->hostname, "incident", inc ? inc : json_null());
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    return text;
}

/* count - one outcome of HOOK for /metrics. */
static void count(const char *hook, const char *result)
{
    metrics_add("floodgate_alert_hooks_total", 1, "hook", hook, "result", result, NULL);
}

/* ---- the webhook ---- */

/* discard - the answer's body is not kept (its status is the answer). */
static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    return size * n;
}

/* cut_short - libcurl's progress callback: a nonzero return ends the
 * transfer, so that a stalled receiver does not hold the shutdown. */
static int cut_short(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    struct alert_hooks *h = arg;
    return atomic_load(&h->stopping) ? 1 : 0;
}

/* post - one POST of DOC to S's URL; 0 with the HTTP status in *STATUS
 * (any status), -1 with ERR when no answer came (refused, timeout...). */
static int post(struct alert_hooks *h, const struct settings *s, const char *doc, long *status,
                char *err, size_t errlen)
{
    char curl_err[CURL_ERROR_SIZE] = "", auth[1100];
    CURL *c = curl_easy_init();
    struct curl_slist *hdr = NULL;
    *status = 0;
    if (c == NULL) {
        str_copy(err, "out of memory", errlen);
        return -1;
    }
    bool ok = (hdr = curl_slist_append(NULL, "Content-Type: application/json")) != NULL &&
              curl_slist_append(hdr, "Expect:") != NULL; /* no 100-continue wait */
    if (ok && s->token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", s->token);
        ok = curl_slist_append(hdr, auth) != NULL;
    }
    unsigned connect =
        s->webhook_timeout < CONNECT_TIMEOUT_MAX ? s->webhook_timeout : CONNECT_TIMEOUT_MAX;
    CURLcode rc = CURLE_OUT_OF_MEMORY;
    if (ok && curl_easy_setopt(c, CURLOPT_URL, s->url) == CURLE_OK &&
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr) == CURLE_OK &&
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, doc) == CURLE_OK &&
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(doc)) == CURLE_OK &&
        curl_easy_setopt(c, CURLOPT_USERAGENT, "Floodgate alert hook") == CURLE_OK &&
        curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)s->webhook_timeout) == CURLE_OK &&
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)connect) == CURLE_OK &&
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard) == CURLE_OK &&
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L) == CURLE_OK &&
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, cut_short) == CURLE_OK &&
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, h) == CURLE_OK &&
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err) == CURLE_OK)
        rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    else
        snprintf(err, errlen, "%s", curl_err[0] ? curl_err : curl_easy_strerror(rc));
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    return rc == CURLE_OK ? 0 : -1;
}

/* deliver_webhook - POST DOC, tried again after a refusal, a timeout or
 * a 5xx; each failure logged. */
static void deliver_webhook(struct runner *r, const struct hook_event *e, const char *doc,
                            const char *state, const struct settings *s)
{
    for (int attempt = 1; attempt <= ATTEMPTS; attempt++) {
        char err[CURL_ERROR_SIZE + 32];
        long status;
        if (post(r->h, s, doc, &status, err, sizeof err) == 0) {
            if (status >= 200 && status < 300) {
                log_info("event=alert_hook hook=webhook id=%lld alert=%s status=%ld attempt=%d",
                         e->id, e->event, status, attempt);
                count("webhook", "ok");
                return;
            }
            snprintf(err, sizeof err, "HTTP status %ld", status);
        }
        bool again = attempt < ATTEMPTS && !atomic_load(&r->h->stopping) &&
                     !(status >= 400 && status < 500 && status != 408 && status != 429);
        log_warnx("event=alert_failed hook=webhook id=%lld alert=%s attempt=%d error=%s "
                  "retry=%s",
                  e->id, e->event, attempt, log_quote(err), again ? "yes" : "no");
        count("webhook", "failed");
        if (!again || nap(r->h, 1000L * backoff_seconds[attempt - 1]))
            return;
    }
}

/* ---- the command ---- */

/* feed - write DOC to FD (non-blocking) until done, the command stops
 * reading, or DEADLINE (seconds since T0) passes. */
static void feed(int fd, const char *doc, const struct timespec *t0, double deadline)
{
    size_t len = strlen(doc), off = 0;
    while (off < len) {
        ssize_t k = write(fd, doc + off, len - off);
        if (k > 0) {
            off += (size_t)k;
            continue;
        }
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && errno != EAGAIN)
            return; /* EPIPE: it did not want it all; its exit says the rest */
        double left = deadline - seconds_since(t0);
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (left <= 0 || poll(&p, 1, left > 1 ? 1000 : (int)(left * 1000) + 1) < 0)
            return;
    }
}

/* spawn - S's command with DOC's pipe as stdin, /dev/null as stdout and
 * stderr, no other descriptor of ours, default signals, its own process
 * group (killed as a whole), and ENV; its pid, or -1 with errno. */
static pid_t spawn(const char *command, int in, char *const env[])
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;
    pid_t pid = -1;
    char *const argv[] = {(char *)command, NULL};
    sigemptyset(&none);
    sigfillset(&all);
    if (posix_spawn_file_actions_init(&fa) != 0)
        return -1;
    if (posix_spawnattr_init(&attr) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        return -1;
    }
    int rc = posix_spawn_file_actions_adddup2(&fa, in, 0);
    if (rc == 0)
        rc = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&fa, 1, 2);
    if (rc == 0)
        rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    if (rc == 0)
        rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                                 POSIX_SPAWN_SETPGROUP);
    if (rc == 0)
        rc = posix_spawnattr_setsigmask(&attr, &none);
    if (rc == 0)
        rc = posix_spawnattr_setsigdefault(&attr, &all);
    if (rc == 0)
        rc = posix_spawnattr_setpgroup(&attr, 0);
    if (rc == 0)
        rc = posix_spawn(&pid, command, &fa, &attr, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    return pid;
}

/* reap - wait for PID until DEADLINE (seconds since T0), then kill its
 * group; true when it was killed.  Its status into *STATUS. */
static bool reap(struct alert_hooks *h, pid_t pid, int *status, const struct timespec *t0,
                 double deadline)
{
    for (;;) {
        pid_t w = waitpid(pid, status, WNOHANG);
        if (w == pid || (w < 0 && errno != EINTR))
            return false;
        if (seconds_since(t0) >= deadline || nap(h, COMMAND_POLL_MS)) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            while (waitpid(pid, status, 0) < 0 && errno == EINTR)
                ;
            return true;
        }
    }
}

/* deliver_command - run S's command with DOC on its stdin and the
 * FLOODGATE_* variables; its exit status logged. */
static void deliver_command(struct runner *r, const struct hook_event *e, const char *doc,
                            const char *state, const struct settings *s)
{
    char v_event[48], v_id[48], v_subject[340], v_state[48], v_host[300];
    snprintf(v_event, sizeof v_event, "FLOODGATE_EVENT=%s", e->event);
    snprintf(v_id, sizeof v_id, "FLOODGATE_INCIDENT_ID=%lld", e->id);
    snprintf(v_subject, sizeof v_subject, "FLOODGATE_SUBJECT=%s", e->subject);
    snprintf(v_state, sizeof v_state, "FLOODGATE_STATE=%s", state);
    snprintf(v_host, sizeof v_host, "FLOODGATE_HOSTNAME=%s", s->hostname);
    char *const env[] = {
        v_event, v_id, v_subject, v_state, v_host, "PATH=/usr/local/bin:/usr/bin:/bin", NULL};
    int p[2], status = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (pipe2(p, O_CLOEXEC) < 0) {
        log_warnx("event=alert_failed hook=command id=%lld alert=%s error=%s", e->id, e->event,
                  log_quote(strerror(errno)));
        count("command", "failed");
        return;
    }
    pid_t pid = spawn(s->command, p[0], env);
    int spawn_errno = errno;
    close(p[0]);
    if (pid < 0) {
        close(p[1]);
        log_warnx("event=alert_failed hook=command id=%lld alert=%s command=%s error=%s", e->id,
                  e->event, log_quote(s->command), log_quote(strerror(spawn_errno)));
        count("command", "failed");
        return;
    }
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    feed(p[1], doc, &t0, s->command_timeout);
    close(p[1]); /* its stdin ends */
    if (reap(r->h, pid, &status, &t0, s->command_timeout)) {
        log_warnx("event=alert_failed hook=command id=%lld alert=%s command=%s error=%s "
                  "timeout=%u",
                  e->id, e->event, log_quote(s->command),
                  atomic_load(&r->h->stopping) ? "shutdown" : "timeout_killed", s->command_timeout);
        count("command", "failed");
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        log_info("event=alert_hook hook=command id=%lld alert=%s exit=0", e->id, e->event);
        count("command", "ok");
    } else {
        if (WIFEXITED(status))
            log_warnx("event=alert_failed hook=command id=%lld alert=%s command=%s exit=%d", e->id,
                      e->event, log_quote(s->command), WEXITSTATUS(status));
        else
            log_warnx("event=alert_failed hook=command id=%lld alert=%s command=%s signal=%d",
                      e->id, e->event, log_quote(s->command),
                      WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        count("command", "failed");
    }
}

/* ---- the runners ---- */

/* configured - is R's hook set in S? */
static bool configured(const struct runner *r, const struct settings *s)
{
    return r->deliver == deliver_webhook ? s->url != NULL : s->command != NULL;
}

/* runner_main - take events one by one until stopping; what is left
 * then is logged as not sent. */
static void *runner_main(void *arg)
{
    struct runner *r = arg;
    struct alert_hooks *h = r->h;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals are the loop's */
    for (;;) {
        struct hook_event e;
        struct settings s;
        pthread_mutex_lock(&h->mu);
        while (!atomic_load(&h->stopping) && r->n == 0)
            pthread_cond_wait(&h->cv, &h->mu);
        if (atomic_load(&h->stopping)) {
            for (; r->n > 0; r->n--, r->head = (r->head + 1) % QUEUE_MAX) {
                log_warnx("event=alert_failed hook=%s id=%lld alert=%s error=shutdown", r->name,
                          r->q[r->head].id, r->q[r->head].event);
                free(r->q[r->head].doc);
            }
            pthread_mutex_unlock(&h->mu);
            return NULL;
        }
        e = r->q[r->head];
        r->head = (r->head + 1) % QUEUE_MAX;
        r->n--;
        int copied = settings_copy(&s, &h->cfg);
        pthread_mutex_unlock(&h->mu);
        if (copied < 0) {
            log_warnx("event=alert_failed hook=%s id=%lld alert=%s error=out_of_memory", r->name,
                      e.id, e.event);
            free(e.doc);
            continue;
        }
        char state[16];
        str_copy(state, e.state, sizeof state);
        char *doc = !configured(r, &s) ? NULL
                    : e.doc            ? e.doc
                                       : document(&e, &s, state, sizeof state);
        if (doc != e.doc)
            free(e.doc); /* made for a hook no longer configured */
        if (doc != NULL)
            r->deliver(r, &e, doc, state, &s);
        else if (configured(r, &s))
            log_warnx("event=alert_failed hook=%s id=%lld alert=%s error=out_of_memory", r->name,
                      e.id, e.event);
        free(doc);
        settings_clear(&s);
    }
}

/* runner_push - E into R's queue (under MU); false when it is full. */
static bool runner_push(struct runner *r, const struct hook_event *e)
{
    if (r->n == QUEUE_MAX)
        return false;
    r->q[(r->head + r->n) % QUEUE_MAX] = *e;
    r->n++;
    return true;
}

/* ---- the interface ---- */

struct alert_hooks *alert_hooks_new(const struct config *cfg)
{
    static bool curl_ready;
    if (!curl_ready) { /* once, on the loop's thread, before any hook thread */
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
            return NULL;
        curl_ready = true;
    }
    struct alert_hooks *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    atomic_init(&h->stopping, false);
    h->web = (struct runner){.h = h, .name = "webhook", .deliver = deliver_webhook};
    h->cmd = (struct runner){.h = h, .name = "command", .deliver = deliver_command};
    metrics_declare("floodgate_alert_hooks_total", METRIC_COUNTER,
                    "Incident alerts sent by the webhook and the command hook, by result.");
    if (alert_hooks_set_config(h, cfg) < 0 ||
        pthread_create(&h->web.thread, NULL, runner_main, &h->web) != 0) {
        alert_hooks_free(h);
        return NULL;
    }
    h->web.started = true;
    if (pthread_create(&h->cmd.thread, NULL, runner_main, &h->cmd) != 0) {
        alert_hooks_free(h);
        return NULL;
    }
    h->cmd.started = true;
    return h;
}

int alert_hooks_set_config(struct alert_hooks *h, const struct config *cfg)
{
    struct settings borrowed = settings_of(cfg), mine;
    if (settings_copy(&mine, &borrowed) < 0)
        return -1;
    pthread_mutex_lock(&h->mu);
    settings_clear(&h->cfg);
    h->cfg = mine;
    pthread_mutex_unlock(&h->mu);
    return 0;
}

bool alert_hooks_enabled(const struct alert_hooks *h)
{
    /* read on the loop, the only writer of the settings */
    return h != NULL && (h->cfg.url != NULL || h->cfg.command != NULL);
}

/* fire - E to every configured hook, each with its own copy of DOC (NULL:
 * the incident E->id is read from the store when it is sent).  Any
 * thread: the settings are read under MU. */
static void fire(struct alert_hooks *h, const struct hook_event *e, const char *doc)
{
    struct runner *runners[] = {&h->web, &h->cmd};
    bool full[2] = {false, false};
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < 2; i++) {
        if (!configured(runners[i], &h->cfg))
            continue;
        struct hook_event mine = *e;
        mine.doc = doc ? strdup(doc) : NULL;
        full[i] = (doc != NULL && mine.doc == NULL) || !runner_push(runners[i], &mine);
        if (full[i])
            free(mine.doc);
    }
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    for (size_t i = 0; i < 2; i++) {
        if (!full[i])
            continue;
        log_warnx("event=alert_failed hook=%s id=%lld alert=%s error=queue_full queued=%d",
                  runners[i]->name, e->id, e->event, QUEUE_MAX);
        count(runners[i]->name, "dropped");
    }
}

void alert_hooks_fire(struct alert_hooks *h, long long id, const char *subject, const char *event)
{
    if (h == NULL)
        return;
    struct hook_event e = {.id = id, .at = time(NULL)};
    str_copy(e.subject, subject, sizeof e.subject);
    str_copy(e.event, event, sizeof e.event);
    fire(h, &e, NULL);
}

void alert_hooks_fire_blocklist(struct alert_hooks *h, const char *hostname, bool listed,
                                const char *address, const char *list, const char *code,
                                const char *meaning, const char *reason)
{
    if (h == NULL)
        return;
    struct hook_event e = {.id = 0, .at = time(NULL)};
    char at[32];
    str_copy(e.subject, address, sizeof e.subject);
    str_copy(e.event, listed ? "blocklisted" : "delisted", sizeof e.event);
    str_copy(e.state, listed ? "listed" : "clean", sizeof e.state);
    json_t *doc =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:s, s:s?}", "event", e.event, "at",
                  iso8601_utc(e.at, at, sizeof at), "hostname", hostname ? hostname : "", "address",
                  address, "list", list, "state", e.state, "code", code && *code ? code : NULL,
                  "meaning", meaning ? meaning : "", "reason", reason && *reason ? reason : NULL);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (text == NULL) {
        log_warnx("event=alert_failed hook=all alert=%s error=out_of_memory", e.event);
        return;
    }
    fire(h, &e, text);
    free(text);
}

void alert_hooks_free(struct alert_hooks *h)
{
    if (h == NULL)
        return;
    pthread_mutex_lock(&h->mu);
    atomic_store(&h->stopping, true);
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    if (h->web.started)
        pthread_join(h->web.thread, NULL);
    if (h->cmd.started)
        pthread_join(h->cmd.thread, NULL);
    settings_clear(&h->cfg);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    free(h);
}
