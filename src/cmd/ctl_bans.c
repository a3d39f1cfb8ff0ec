/* cmd/ctl_bans - floodctl ban: list, add and lift anti-hammering bans.
 *
 * Room: cmd.  Bans live in the store (store/ban_state.h), so these work
 * with the daemon stopped too; a running daemon is told to read them
 * again, and a new ban shuts the IP out from its next connection. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cmd/ctl.h"
#include "core/log.h"
#include "core/util.h"
#include "store/ban_state.h"

#define DEFAULT_BAN (24 * 3600)
#define BAN_MAX (10LL * 365 * 86400)

const char usage_ban[] =
    "  floodctl ban list [--all] [--json]    bans in force (--all: with a day of history)\n"
    "  floodctl ban add IP|CIDR [--duration DUR] [--reason TEXT]   (default 1d)\n"
    "  floodctl ban del IP|CIDR|--all        lift a ban\n";

/* canonical_network - "ADDR/PREFIX" with the host bits cleared and the
 * address as inet_ntop writes it, so one network has one spelling (and
 * "ban del" finds what "ban add" stored). */
static int canonical_network(const char *text, char *buf, size_t len)
{
    char addr_text[INET6_ADDRSTRLEN];
    unsigned char addr[16];
    const char *slash = strchr(text, '/');
    uint64_t prefix;
    if (slash == NULL || (size_t)(slash - text) >= sizeof addr_text ||
        parse_u64(slash + 1, strlen(slash + 1), &prefix) < 0)
        return -1;
    memcpy(addr_text, text, (size_t)(slash - text));
    addr_text[slash - text] = '\0';
    int family = strchr(addr_text, ':') ? AF_INET6 : AF_INET;
    unsigned bits = family == AF_INET ? 32 : 128;
    if (prefix > bits || inet_pton(family, addr_text, addr) != 1)
        return -1;
    for (unsigned i = 0; i < bits / 8; i++) {
        unsigned keep = prefix > i * 8 ? (unsigned)prefix - i * 8 : 0;
        addr[i] &= keep >= 8 ? 0xff : (unsigned char)(0xff << (8 - keep));
    }
    if (inet_ntop(family, addr, addr_text, sizeof addr_text) == NULL)
        return -1;
    int n = snprintf(buf, len, "%s/%u", addr_text, (unsigned)prefix);
    return n > 0 && (size_t)n < len ? 0 : -1;
}

/* canonical_ip - IP as the daemon writes client addresses (inet_ntop), or
 * a CIDR network; into BUF (64). */
static int canonical_ip(const char *ip, char *buf, size_t len)
{
    unsigned char addr[16];
    if (inet_pton(AF_INET, ip, addr) == 1)
        return inet_ntop(AF_INET, addr, buf, (socklen_t)len) ? 0 : -1;
    if (inet_pton(AF_INET6, ip, addr) == 1)
        return inet_ntop(AF_INET6, addr, buf, (socklen_t)len) ? 0 : -1;
    return canonical_network(ip, buf, len);
}

/* tell_daemon - a running daemon reads the bans again. */
static int tell_daemon(struct ctl *c)
{
    int not_running;
    json_t *res = ctl_call(c, json_pack("{s:s}", "cmd", "state.reload"), &not_running);
    json_decref(res);
    if (res == NULL && !not_running)
        return fail("the change is stored, but floodgated did not read it: restart it, or run "
                    "this command again");
    if (not_running && !c->json)
        puts("(floodgated is not running: it applies this when it starts)");
    return EXIT_OK;
}

/* print_json_new - print V (NULL: out of memory, said on stderr) and drop it. */
static void print_json_new(json_t *v)
{
    if (v == NULL)
        fail("out of memory");
    else
        print_json(v);
    json_decref(v);
}

static const char *remaining(json_t *until, time_t now, char *buf, size_t len)
{
    long long left = json_integer_value(until) - now;
    if (left <= 0)
        return "ended";
    if (left < 3600)
        snprintf(buf, len, "%lldm%02llds", left / 60, left % 60);
    else if (left < 86400)
        snprintf(buf, len, "%lldh%02lldm", left / 3600, left % 3600 / 60);
    else
        snprintf(buf, len, "%lldd%02lldh", left / 86400, left % 86400 / 3600);
    return buf;
}

static struct opt *opts_list(void)
{
    static struct opt opts[] = {{"--all", false, false, NULL}, {NULL, false, false, NULL}};
    return opts;
}

static int ban_row(struct table *t, json_t *b, void *now)
{
    char until[32], left[32], offenses[24];
    const char *row[] = {str_of(b, "ip"),
                         fmt_time(json_object_get(b, "until"), until, sizeof until),
                         remaining(json_object_get(b, "until"), *(time_t *)now, left, sizeof left),
                         str_of(b, "reason"),
                         fmt_count(b, "offenses", offenses, sizeof offenses),
                         str_of(b, "created_by")};
    return table_add(t, row, NULL);
}

/* ban_list - floodctl ban list [--all] */
static int ban_list(struct ctl *c, struct args *a, struct opt *o)
{
    static const char *const head[] = {"IP", "Until", "Left", "Reason", "Offenses", "By"};
    store_db *db = ctl_store(c);
    time_t now = time(NULL);
    json_t *list = db ? ban_state_list(db, now, o[0].set) : NULL;
    struct table t = {.ncols = 6, .head = head};
    if (list == NULL)
        return db ? fail("cannot read the bans from the store (details in the log)") : EXIT_FAIL;
    return print_list(c->json, list, &t, ban_row, &now, "no IP is banned");
}

static struct opt *opts_add(void)
{
    static struct opt opts[] = {{"--duration", true, false, NULL},
                                {"--reason", true, false, NULL},
                                {NULL, false, false, NULL}};
    return opts;
}

/* ban_add - floodctl ban add IP|CIDR [--duration DUR] [--reason TEXT] */
static int ban_add(struct ctl *c, struct args *a, struct opt *o)
{
    char ip[64];
    long long seconds = DEFAULT_BAN;
    if (canonical_ip(a->raw[0], ip, sizeof ip) < 0)
        return usage_error("ban",
                           "'%s' is not an IP address or a CIDR network "
                           "(e.g. 203.0.113.7, 203.0.113.0/24, 2001:db8::/48)",
                           a->raw[0]);
    if (o[0].set && (parse_duration(o[0].value, &seconds) < 0 || seconds <= 0 || seconds > BAN_MAX))
        return usage_error("ban",
                           "--duration '%s': give a duration such as 30m, 12h, 7d "
                           "(at most ten years)",
                           o[0].value);
    const char *reason = o[1].set ? o[1].value : "banned by the administrator";
    store_db *db = ctl_store(c);
    if (db == NULL)
        return EXIT_FAIL;
    time_t until = time(NULL) + (time_t)seconds;
    if (ban_state_save(db, ip, until, 1, reason, c->admin) < 0)
        return fail("cannot write the ban to the store (details in the log)");
    log_info("event=ban ip=%s reason=%s seconds=%lld admin=%s", ip, log_quote(reason), seconds,
             log_quote(c->admin));
    if (c->json)
        print_json_new(
            json_pack("{s:s, s:I, s:s}", "ip", ip, "until", (json_int_t)until, "reason", reason));
    else
        printf("%s banned for %llds: connections from it get 421 4.7.0\n", ip, seconds);
    return tell_daemon(c);
}

static struct opt *opts_del(void)
{
    static struct opt opts[] = {{"--all", false, false, NULL}, {NULL, false, false, NULL}};
    return opts;
}

/* ban_del_all - lift every ban in force. */
static int ban_del_all(struct ctl *c, store_db *db)
{
    json_t *list = ban_state_list(db, time(NULL), 0), *b;
    size_t i, n = 0;
    if (list == NULL)
        return fail("cannot read the bans from the store (details in the log)");
    json_t *lifted = json_array();
    json_array_foreach(list, i, b)
    {
        if (ban_state_delete(db, str_of(b, "ip")) == 1) {
            log_info("event=unban ip=%s reason=admin admin=%s", str_of(b, "ip"),
                     log_quote(c->admin));
            json_array_append(lifted, json_object_get(b, "ip"));
            n++;
        }
    }
    json_decref(list);
    c->audit_count = (long)n;
    if (c->json)
        print_json_new(json_pack("{s:o}", "lifted", lifted));
    else
        printf("%zu ban(s) lifted\n", n);
    if (!c->json)
        json_decref(lifted);
    return tell_daemon(c);
}

/* ban_del - floodctl ban del IP|CIDR|--all */
static int ban_del(struct ctl *c, struct args *a, struct opt *o)
{
    char ip[64];
    store_db *db;
    if (o[0].set != (a->n == 0))
        return usage_error("ban", "give one IP or network, or --all%s", "");
    if ((db = ctl_store(c)) == NULL)
        return EXIT_FAIL;
    if (o[0].set)
        return ban_del_all(c, db);
    if (canonical_ip(a->raw[0], ip, sizeof ip) < 0)
        return usage_error("ban", "'%s' is not an IP address or a CIDR network", a->raw[0]);
    int rc = ban_state_delete(db, ip);
    if (rc < 0)
        return fail("cannot write to the store (details in the log)");
    if (rc == 0)
        return fail("%s is not banned: see 'floodctl ban list'", ip);
    log_info("event=unban ip=%s reason=admin admin=%s", ip, log_quote(c->admin));
    if (c->json)
        print_json_new(json_pack("{s:[s]}", "lifted", ip));
    else
        printf("ban of %s lifted\n", ip);
    return tell_daemon(c);
}

const struct subcommand ban_subs[] = {
    {"list", 0, 0, ban_list, opts_list},
    {"add", 1, 1, ban_add, opts_add},
    {"del", 0, 1, ban_del, opts_del},
    {NULL, 0, 0, NULL, NULL},
};
