/* cmd/ctl_monitor - floodctl monitor: a live view of the running daemon,
 * refreshed like top(1): messages in and out per second, the senders with
 * the highest rate now, the open incidents.  --once prints one frame,
 * --once --json one JSON object (the daemon's answer to "monitor", fields
 * in docs/floodctl.8.md).
 *
 * Room: cmd.  The figures live in the daemon's memory (control/monitor.c),
 * so it must run.  On a terminal the view takes the alternate screen and
 * reads keys without echo; q or Ctrl-C (or SIGTERM, SIGHUP) gives the
 * terminal back as it was.  Standard output or input not a terminal: one
 * frame, as --once. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cmd/ctl.h"
#include "core/config.h"
#include "core/util.h"

#define INTERVAL_MAX 60 /* seconds: the daemon keeps a minute of samples */
#define TOP_MAX 50

const char usage_monitor[] =
    "  floodctl monitor [--interval S] [--top N] [--once] [--json]\n"
    "                                            live view: messages per second, top senders,\n"
    "                                            open incidents; q or Ctrl-C quits\n";

static volatile sig_atomic_t quit_signal, resized;

static void on_quit(int sig)
{
    quit_signal = sig;
}

static void on_winch(int sig)
{
    resized = 1;
}

/* fetch - one answer of the daemon to "monitor", or NULL (said). */
static json_t *fetch(struct ctl *c, unsigned interval, unsigned top)
{
    int not_running;
    json_t *r = ctl_call(c,
                         json_pack("{s:s, s:I, s:I}", "cmd", "monitor", "window",
                                   (json_int_t)interval, "top", (json_int_t)top),
                         &not_running);
    if (r == NULL && not_running)
        fail("floodgated is not running: monitor shows a running daemon's figures (start it, "
             "or check the config's state_dir)");
    return r;
}

/* rate - a per-second figure with one decimal. */
static const char *rate(json_t *obj, const char *key, char *buf, size_t len)
{
    snprintf(buf, len, "%.1f", json_number_value(json_object_get(obj, key)));
    return buf;
}

/* print_rates - the per-second figures and the totals, as a table. */
static int print_rates(json_t *r)
{
    static const char *const head[] = {"Messages", "accepted", "delivered",
                                       "deferred", "bounced",  "rejected"};
    static const char *const keys[] = {"accepted", "delivered", "deferred", "bounced", "rejected"};
    json_t *per = json_object_get(r, "per_second"), *tot = json_object_get(r, "totals");
    char label[32], cells[5][32], totals[5][32];
    const char *row[6], *trow[6];
    struct table t = {.ncols = 6, .head = head};
    snprintf(label, sizeof label, "per second (%llds)",
             (long long)json_integer_value(json_object_get(r, "window")));
    row[0] = label;
    trow[0] = "since start";
    for (int i = 0; i < 5; i++) {
        row[i + 1] = rate(per, keys[i], cells[i], sizeof cells[i]);
        trow[i + 1] = fmt_count(tot, keys[i], totals[i], sizeof totals[i]);
    }
    if (table_add(&t, row, NULL) < 0 || table_add(&t, trow, NULL) < 0) {
        table_discard(&t);
        return fail("out of memory");
    }
    return table_print(&t);
}

static int sender_row(struct table *t, json_t *s, void *arg)
{
    char m[24], r[24], sc[24];
    json_t *score = json_object_get(s, "score");
    if (json_is_integer(score))
        snprintf(sc, sizeof sc, "%lld", (long long)json_integer_value(score));
    const char *row[] = {str_of(s, "sender"), fmt_count(s, "messages_per_minute", m, sizeof m),
                         fmt_count(s, "recipients_per_minute", r, sizeof r),
                         json_is_integer(score) ? sc : "-"};
    return table_add(t, row, NULL);
}

static int incident_row(struct table *t, json_t *i, void *arg)
{
    char id[24], opened[32], score[24];
    const char *row[] = {fmt_count(i, "id", id, sizeof id), str_of(i, "subject"),
                         str_of(i, "state"),
                         fmt_iso(json_object_get(i, "opened"), opened, sizeof opened),
                         fmt_count(i, "score", score, sizeof score)};
    return table_add(t, row, NULL);
}

/* print_queue - "Queue: N messages; recipients queued 3, deferred 1". */
static void print_queue(json_t *q)
{
    const char *k;
    json_t *v;
    int n = 0;
    printf("Queue: %lld messages", (long long)json_integer_value(json_object_get(q, "messages")));
    json_object_foreach(json_object_get(q, "recipients"), k, v)
        printf("%s%s %lld", n++ ? ", " : "; recipients ", k, (long long)json_integer_value(v));
    putchar('\n');
}

/* print_frame - one frame of the view, for a reader. */
static int print_frame(struct ctl *c, json_t *r, unsigned interval, bool live)
{
    static const char *const shead[] = {"Top senders (last minute)", "msgs/min", "rcpts/min",
                                        "score"};
    static const char *const ihead[] = {"Incident", "Subject", "State", "Opened (UTC)", "Score"};
    char at[32];
    printf("Floodgate %s  %s  connections %lld%s\n",
           c->cfg && c->cfg->hostname ? c->cfg->hostname : "",
           fmt_iso(json_object_get(r, "at"), at, sizeof at),
           (long long)json_integer_value(json_object_get(r, "connections")),
           live ? "   (q quits)" : "");
    print_queue(json_object_get(r, "queue"));
    putchar('\n');
    int rc = print_rates(r);
    putchar('\n');
    struct table st = {.ncols = 4, .head = shead}, it = {.ncols = 5, .head = ihead};
    if (rc == EXIT_OK)
        rc = print_list(false, json_incref(json_object_get(r, "top_senders")), &st, sender_row,
                        NULL, "No sender in the last minute.");
    putchar('\n');
    if (rc == EXIT_OK)
        rc = print_list(false, json_incref(json_object_get(r, "incidents")), &it, incident_row,
                        NULL, "No open incident.");
    long long open = json_integer_value(json_object_get(r, "incidents_open"));
    if (rc == EXIT_OK && open > (long long)json_array_size(json_object_get(r, "incidents")))
        printf("... %lld open in all: floodctl incident list\n", open);
    return rc;
}

/* once - one frame, or one JSON object. */
static int once(struct ctl *c, unsigned interval, unsigned top)
{
    json_t *r = fetch(c, interval, top);
    if (r == NULL)
        return EXIT_FAIL;
    int rc = c->json ? print_json(r) : print_frame(c, r, interval, false);
    json_decref(r);
    return rc;
}

/* The terminal as it was, to give back; and standard error while the
 * view has the screen (a message there would vanish with the alternate
 * screen: it is kept and said once the terminal is back). */
static struct termios saved;
static int saved_stderr = -1;
static FILE *held_stderr;

static void terminal_restore(void)
{
    fputs("\033[?25h\033[?1049l", stdout); /* cursor back, main screen back */
    fflush(stdout);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    if (saved_stderr < 0)
        return;
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    char buf[4096];
    size_t n;
    rewind(held_stderr);
    while ((n = fread(buf, 1, sizeof buf, held_stderr)) > 0)
        fwrite(buf, 1, n, stderr);
    fclose(held_stderr);
}

/* hold_stderr - standard error into a temporary file until the restore. */
static void hold_stderr(void)
{
    fflush(stderr);
    if ((held_stderr = tmpfile()) == NULL)
        return;
    if ((saved_stderr = dup(STDERR_FILENO)) < 0 || dup2(fileno(held_stderr), STDERR_FILENO) < 0) {
        if (saved_stderr >= 0)
            close(saved_stderr);
        saved_stderr = -1;
        fclose(held_stderr);
    }
}

/* terminal_take - keys without echo or line editing (Ctrl-C still a
 * signal), the alternate screen, no cursor; -1 when not possible. */
static int terminal_take(void)
{
    struct termios raw;
    if (tcgetattr(STDIN_FILENO, &saved) < 0)
        return -1;
    raw = saved;
    raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) < 0)
        return -1;
    fputs("\033[?1049h\033[?25l", stdout);
    hold_stderr();
    return 0;
}

/* signals - quit on SIGINT, SIGTERM, SIGHUP; redraw on SIGWINCH.  No
 * SA_RESTART: the wait for a key ends at once. */
static void signals(void)
{
    struct sigaction q = {.sa_handler = on_quit}, w = {.sa_handler = on_winch};
    sigemptyset(&q.sa_mask);
    sigemptyset(&w.sa_mask);
    sigaction(SIGINT, &q, NULL);
    sigaction(SIGTERM, &q, NULL);
    sigaction(SIGHUP, &q, NULL);
    sigaction(SIGWINCH, &w, NULL);
}

/* wait_key - up to MS milliseconds for a key; true when it asks to quit. */
static bool wait_key(int ms)
{
    struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
    int n = poll(&p, 1, ms);
    if (n <= 0)
        return false; /* timeout, or a signal (looked at by the caller) */
    char buf[64];
    ssize_t k = read(STDIN_FILENO, buf, sizeof buf);
    if (k == 0)
        return true; /* the terminal went away */
    for (ssize_t i = 0; i < k; i++)
        if (buf[i] == 'q' || buf[i] == 'Q')
            return true;
    return false;
}

/* live - a frame every INTERVAL seconds until q or a signal. */
static int live(struct ctl *c, unsigned interval, unsigned top)
{
    /* a frame in one write: no flicker (set before anything is written;
     * static: stdout uses it until the exit) */
    static char frame[1 << 16];
    setvbuf(stdout, frame, _IOFBF, sizeof frame);
    json_t *r = fetch(c, interval, top); /* a daemon that is not there: said before the screen */
    if (r == NULL)
        return EXIT_FAIL;
    if (terminal_take() < 0) {
        json_decref(r);
        return once(c, interval, top);
    }
    signals();
    int rc = EXIT_OK;
    while (!quit_signal && rc == EXIT_OK) {
        if (r == NULL && (r = fetch(c, interval, top)) == NULL) {
            rc = EXIT_FAIL; /* the daemon stopped: said after the screen is back */
            break;
        }
        fputs("\033[H\033[J", stdout); /* home, clear */
        rc = print_frame(c, r, interval, true);
        fflush(stdout);
        json_decref(r);
        r = NULL;
        /* wait out the interval, but not after a resize or q */
        for (int waited = 0; rc == EXIT_OK && waited < (int)interval * 10 && !quit_signal;
             waited++) {
            if (wait_key(100)) {
                quit_signal = -1;
                break;
            }
            if (resized) {
                resized = 0;
                break;
            }
        }
    }
    json_decref(r);
    terminal_restore();
    return rc;
}

/* monitor_cmd - floodctl monitor [--interval S] [--top N] [--once] */
int monitor_cmd(struct ctl *c, int argc, char **argv)
{
    unsigned interval = 1, top = 10;
    const char *interval_text = "1", *top_text = "10";
    bool one = false;
    for (int i = 0; i < argc; i++) {
        bool has_value = strcmp(argv[i], "--interval") == 0 || strcmp(argv[i], "--top") == 0;
        if (has_value && i + 1 == argc)
            return usage_error("monitor", "%s needs a value", argv[i]);
        if (strcmp(argv[i], "--once") == 0)
            one = true;
        else if (strcmp(argv[i], "--interval") == 0 &&
                 parse_count("monitor", "--interval", interval_text = argv[++i], &interval) !=
                     EXIT_OK)
            return EXIT_USAGE;
        else if (strcmp(argv[i], "--top") == 0 &&
                 parse_count("monitor", "--top", top_text = argv[++i], &top) != EXIT_OK)
            return EXIT_USAGE;
        else if (!has_value && strcmp(argv[i], "--once") != 0)
            return usage_error("monitor", "unknown argument '%s'", argv[i]);
    }
    if (interval > INTERVAL_MAX)
        return usage_error("monitor", "--interval is at most 60 seconds, not '%s'", interval_text);
    if (top > TOP_MAX)
        return usage_error("monitor", "--top is at most 50, not '%s'", top_text);
    /* a script (or a pipe) gets one frame; --json is for scripts */
    if (one || c->json || !isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO))
        return once(c, interval, top);
    return live(c, interval, top);
}
