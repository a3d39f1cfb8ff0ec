/* cmd/ctl_logins - floodctl user expire, unlock and show.
 *
 * Room: cmd.  Like the rest of the user commands these change the store
 * directly; the daemon reads the login state at every AUTH, so an expired
 * password or a lifted lock counts from the next login on.  'user show'
 * gathers every fact of one account, the sending facts of ctl_sending.c
 * included. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "accounts/app_passwords.h"
#include "accounts/login_state.h"
#include "cmd/ctl.h"
#include "cmd/ctl_users.h"
#include "core/config.h"

/* opts_all - the options of expire and unlock. */
struct opt *opts_all(void)
{
    static struct opt opts[] = {{"--all", false, false, NULL}, {NULL, false, false, NULL}};
    return opts;
}

/* one_or_all - ADDRESS or --all, not both, not neither: the address, NULL
 * for all, or "" after a usage error (whose exit code goes to *RC). */
static const char *one_or_all(const char *cmd, struct args *a, struct opt *o, int *rc)
{
    if (a->n == 1 && !o[0].set) {
        *rc = check_address(a->pos[0]);
        return *rc == EXIT_OK ? a->pos[0] : "";
    }
    if (a->n == 0 && o[0].set)
        return NULL;
    *rc = usage_error("user", "%s takes one ADDRESS or --all", cmd);
    return "";
}

/* app_count - the number of app passwords of ADDRESS (0 on any error). */
static long long app_count(store_db *db, const char *address)
{
    char err[256];
    json_t *list = app_password_list(db, address, err, sizeof err);
    long long n = list ? (long long)json_array_size(list) : 0;
    json_decref(list);
    return n;
}

/* user_expire - floodctl user expire ADDRESS|--all */
int user_expire(struct ctl *c, struct args *a, struct opt *o)
{
    char err[512];
    int rc = EXIT_OK;
    long n = 0;
    const char *addr = one_or_all("expire", a, o, &rc);
    store_db *db = addr && !*addr ? NULL : ctl_store(c);
    if (db == NULL)
        return addr && !*addr ? rc : EXIT_FAIL;
    if (login_expire(db, addr, &n, err, sizeof err) < 0)
        return fail("%s", err);
    c->audit_count = n;
    if (addr == NULL) {
        printf("passwords of %ld user(s) expired: each logs in again once "
               "'floodctl user passwd ADDRESS' sets a new one.\n"
               "App passwords keep working: revoke those that may have leaked "
               "('floodctl user app-password list ADDRESS').\n",
               n);
        return EXIT_OK;
    }
    printf("password of %s expired: it logs in again once 'floodctl user passwd %s' sets a "
           "new one\n",
           addr, addr);
    long long apps = app_count(db, addr);
    if (apps > 0)
        printf("its %lld app password(s) keep working: revoke any that may have leaked with "
               "'floodctl user app-password revoke %s LABEL'\n",
               apps, addr);
    return EXIT_OK;
}

/* user_unlock - floodctl user unlock ADDRESS|--all */
int user_unlock(struct ctl *c, struct args *a, struct opt *o)
{
    char err[512];
    int rc = EXIT_OK;
    long n = 0;
    const char *addr = one_or_all("unlock", a, o, &rc);
    store_db *db = addr && !*addr ? NULL : ctl_store(c);
    if (db == NULL)
        return addr && !*addr ? rc : EXIT_FAIL;
    if (login_unlock(db, addr, &n, err, sizeof err) < 0)
        return fail("%s", err);
    if (addr == NULL)
        printf("%ld locked account(s) unlocked\n", n);
    else if (n == 0)
        printf("%s was not locked\n", addr);
    else
        printf("%s unlocked: its main password logs in again\n", addr);
    return EXIT_OK;
}

/* lockout_row - one line of 'user lockouts'. */
static int lockout_row(struct table *t, json_t *l, void *unused)
{
    char at[32], until[32], failures[24];
    const char *net = str_of(l, "network");
    const char *row[] = {str_of(l, "address"),
                         net && strcmp(net, "*") == 0 ? "* (all but known networks)" : net,
                         fmt_time(json_object_get(l, "locked_at"), at, sizeof at),
                         fmt_time(json_object_get(l, "locked_until"), until, sizeof until),
                         fmt_count(l, "failures", failures, sizeof failures)};
    return table_add(t, row, NULL);
}

/* user_lockouts - floodctl user lockouts [ADDRESS] [--json] */
int user_lockouts(struct ctl *c, struct args *a, struct opt *o)
{
    static const char *const head[] = {"Address", "Network", "Locked at", "Until", "Failures"};
    char err[512];
    if (a->n == 1 && check_address(a->pos[0]) != EXIT_OK)
        return EXIT_FAIL;
    store_db *db = ctl_store(c);
    if (db == NULL)
        return EXIT_FAIL;
    json_t *list =
        login_lockouts(db, a->n ? a->pos[0] : NULL, (long long)time(NULL), err, sizeof err);
    struct table t = {.ncols = 5, .head = head};
    if (list == NULL)
        return fail("%s", err);
    return print_list(c->json, list, &t, lockout_row, NULL,
                      "no lockouts: no account is locked from any network");
}

/* fmt_in - a duration as "3d", "5h", "12m" or "40s". */
static const char *fmt_in(long long secs, char *buf, size_t len)
{
    if (secs >= 2 * 86400)
        snprintf(buf, len, "%lldd", secs / 86400);
    else if (secs >= 2 * 3600)
        snprintf(buf, len, "%lldh", secs / 3600);
    else if (secs >= 60)
        snprintf(buf, len, "%lldm", secs / 60);
    else
        snprintf(buf, len, "%llds", secs > 0 ? secs : 0);
    return buf;
}

/* login_summary - the state of a user's login in a few words. */
const char *login_summary(json_t *u, char *buf, size_t len)
{
    char when[32], in[32];
    const char *state = str_of(u, "password_state");
    json_t *expires = json_object_get(u, "password_expires");
    size_t o = 0;
    buf[0] = '\0';
    if (state && strcmp(state, "expired") == 0)
        o += (size_t)snprintf(buf, len, "expired");
    else if (json_is_integer(expires))
        o += (size_t)snprintf(
            buf, len, "expires in %s",
            fmt_in(json_integer_value(expires) - (long long)time(NULL), in, sizeof in));
    json_int_t nets = json_integer_value(json_object_get(u, "locked_networks"));
    if (o < len && json_is_true(json_object_get(u, "locked_account")))
        o += (size_t)snprintf(buf + o, len - o, "%slocked until %s", o ? ", " : "",
                              fmt_time(json_object_get(u, "locked_until"), when, sizeof when));
    if (o < len && nets > 0)
        snprintf(buf + o, len - o, "%slocked from %lld network%s", o ? ", " : "", (long long)nets,
                 nets == 1 ? "" : "s");
    return buf[0] ? buf : "ok";
}

/* show_apps - the app password lines of 'user show'. */
static void show_apps(json_t *apps)
{
    size_t i;
    json_t *ap;
    printf("app passwords:    %zu%s\n", json_array_size(apps),
           json_array_size(apps) ? "" : " (make one with 'floodctl user app-password add')");
    json_array_foreach(apps, i, ap)
    {
        char made[32], used[32];
        printf("  %-20s created %s, last used %s%s%s\n", str_of(ap, "label"),
               fmt_time(json_object_get(ap, "created"), made, sizeof made),
               fmt_time(json_object_get(ap, "last_used"), used, sizeof used),
               str_of(ap, "last_ip") ? " from " : "",
               str_of(ap, "last_ip") ? str_of(ap, "last_ip") : "");
    }
}

/* show_password - the password lines of 'user show'. */
static void show_password(json_t *u)
{
    char when[32], buf[96];
    const char *state = str_of(u, "password_state");
    printf("password changed: %s\n",
           fmt_time(json_object_get(u, "password_changed"), when, sizeof when));
    if (json_is_true(json_object_get(u, "password_expired")))
        printf("password:         expired by an admin: 'floodctl user passwd' sets a new one\n");
    else if (state && strcmp(state, "expired") == 0)
        printf("password:         expired on %s (passwords.max_age)\n",
               fmt_time(json_object_get(u, "password_expires"), when, sizeof when));
    else if (json_is_integer(json_object_get(u, "password_expires")))
        printf("password:         %s, on %s\n", login_summary(u, buf, sizeof buf),
               fmt_time(json_object_get(u, "password_expires"), when, sizeof when));
    else
        printf("password:         ok, does not expire\n");
    json_int_t nets = json_integer_value(json_object_get(u, "locked_networks"));
    if (json_is_true(json_object_get(u, "locked_account")))
        printf("locked until:     %s (main password, from every network it did not log in from"
               " lately; 'floodctl user unlock' lifts it)\n",
               fmt_time(json_object_get(u, "locked_until"), when, sizeof when));
    if (nets > 0)
        printf("locked from:      %lld network%s (main password; 'floodctl user lockouts %s'"
               " lists them, 'floodctl user unlock' lifts them)\n",
               (long long)nets, nets == 1 ? "" : "s", str_of(u, "address"));
    if (!json_is_true(json_object_get(u, "locked")))
        printf("locked:           no\n");
}

/* show_text - 'user show' for a person. */
static void show_text(json_t *u, json_t *apps, json_t *sending)
{
    char when[32];
    bool totp = json_is_true(json_object_get(u, "totp_enabled"));
    bool pending = json_is_true(json_object_get(u, "totp_pending"));
    printf("address:          %s\n", str_of(u, "address"));
    printf("created:          %s\n", fmt_time(json_object_get(u, "created"), when, sizeof when));
    printf("suspended:        %s\n", json_is_true(json_object_get(u, "suspended")) ? "yes" : "no");
    show_password(u);
    if (pending && !totp)
        printf("2FA:              off (enrolment pending: 'floodctl user 2fa enable %s --code "
               "CODE')\n",
               str_of(u, "address"));
    else
        printf("2FA:              %s\n", totp ? "on (SMTP accepts app passwords only)" : "off");
    show_apps(apps);
    if (json_is_object(sending))
        sending_print(sending);
}

/* user_show - floodctl user show ADDRESS */
int user_show(struct ctl *c, struct args *a, struct opt *o)
{
    char err[512];
    const char *addr = a->pos[0];
    store_db *db = user_store(c, addr);
    if (db == NULL)
        return EXIT_FAIL;
    json_t *u = login_facts(db, &c->cfg->passwords, addr, err, sizeof err);
    json_t *apps = u ? app_password_list(db, addr, err, sizeof err) : NULL;
    if (u == NULL || apps == NULL) {
        json_decref(u);
        return fail("%s", err);
    }
    json_t *sending = sending_facts(c, addr);
    int rc = EXIT_OK;
    if (c->json) {
        json_object_set(u, "app_passwords", apps);
        if (json_is_object(sending))
            json_object_update_missing(u, sending);
        rc = print_json(u);
    } else {
        show_text(u, apps, sending);
    }
    json_decref(sending);
    json_decref(apps);
    json_decref(u);
    return rc;
}
