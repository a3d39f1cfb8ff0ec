/* cmd/ctl.h - what the floodctl command groups share.
 *
 * Room: cmd.  One run of floodctl is a struct ctl: the config, the store
 * (opened on first use) and the control socket of the daemon.  ctl.c
 * holds that context, the argument parser, the error exits and the
 * output helpers; each ctl_*.c file holds one group of commands and
 * exports its subcommand table and synopsis here; floodctl.c maps the
 * command words to the groups.  Exit codes: 0 done, 1 operational error
 * (the message says what to do next), 2 usage error. */
#ifndef FLOODGATE_CMD_CTL_H
#define FLOODGATE_CMD_CTL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>
#include "store/store.h"

#include "queue/queue_actions.h"
#include "queue/queue_filter.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

#define DEFAULT_CONFIG "/etc/floodgate/floodgate.conf"
#define CELL_MAX 40  /* display columns of a truncated table cell */
#define ADMIN_MAX 64 /* octets of the invoking admin's name */

/* Everything one run of floodctl needs. */
struct ctl {
    const char *config_path;
    struct config *cfg;
    bool json;
    char store_file[PATH_MAX];
    char socket_file[PATH_MAX];
    store_db *db; /* opened on first use */
    bool setup_done;
    int setup_rc;
    char admin[ADMIN_MAX]; /* who runs floodctl, taken before the switch of user */
    bool stay_root;        /* run as invoked: a file written for the admin (store backup) */
    long audit_count;      /* what an action changed, for the audit trail (-1: one thing) */
};

/* One option a subcommand accepts: a flag, or an option with a value.
 * An option whose value starts as OPT_MANY may be given many times; its
 * values are collected in struct args (one such option per subcommand). */
struct opt {
    const char *name;
    bool has_value;
    bool set;
    const char *value;
};
extern const char OPT_MANY[];

/* Parsed arguments of one subcommand: any number of positionals. */
struct args {
    int n;
    char **pos; /* lowercased (domains, addresses are stored so) */
    char **raw; /* as typed (file names, listener names) */
    int n_many;
    const char **many; /* the values of the OPT_MANY option */
};

/* One row of a group's subcommand table. */
struct subcommand {
    const char *name;
    int min, max; /* positional arguments */
    int (*run)(struct ctl *c, struct args *a, struct opt *opts);
    struct opt *(*options)(void); /* NULL: takes no options */
};

/* A table whose columns are as wide as their widest cell. */
struct table {
    size_t ncols, nrows, cap;
    const char *const *head;
    char **cells; /* nrows * ncols, owned */
};

/* ctl.c: context, errors, arguments, output */
bool ctl_ready(struct ctl *c);
store_db *ctl_store(struct ctl *c);
json_t *ctl_call(struct ctl *c, json_t *request, int *not_running);
/* ctl_state_reload - after a change in the store that the running daemon
 * keeps in memory too (bans, local domains): it reads them again.
 * EXIT_OK also when it is not running (it reads them when it starts). */
int ctl_state_reload(struct ctl *c);
bool ctl_ready(struct ctl *c);
bool ctl_kick(struct ctl *c);
void ctl_who(struct ctl *c);
void ctl_close(struct ctl *c);
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int usage_error(const char *group, const char *fmt, const char *arg);
int run_group(struct ctl *c, const char *group, const struct subcommand *subs, int argc,
              char **argv);
int parse_count(const char *group, const char *name, const char *value, unsigned *out);
int print_json(json_t *v);
int print_empty(const char *text);
/* A table_row_fn adds ENTRY's row to T (table_add's result). */
typedef int (*table_row_fn)(struct table *t, json_t *entry, void *arg);
int print_list(bool json, json_t *list, struct table *t, table_row_fn row, void *arg,
               const char *empty);
void print_kv(const char *prefix, json_t *v);
int table_add(struct table *t, const char *const *row, const size_t *maxw);
int table_print(struct table *t);
void table_discard(struct table *t);
/* fmt_time - a JSON unix time as "2026-12-06T14:00:00Z" (UTC, ISO 8601),
 * or "-"; fmt_iso - a JSON string that already is one, or "-".  Every
 * listing prints times in this one form. */
const char *fmt_time(json_t *v, char *buf, size_t len);
const char *fmt_iso(json_t *v, char *buf, size_t len);
const char *fmt_count(json_t *obj, const char *key, char *buf, size_t len);
const char *str_of(json_t *obj, const char *key);

/* floodctl.c: the command map */
void usage_all(FILE *fp);
const char *usage_of(const char *name);

/* ctl_accounts.c: domain, user, alias */
extern const char usage_domain[], usage_user[], usage_alias[];
extern const struct subcommand domain_subs[], user_subs[], alias_subs[];

/* ctl_select.c: selections of queued messages, and the actions on them.
 * The selection options come first in a subcommand's option table (in
 * this order: SELECT_OPTS), its own options follow from SEL_N on. */
enum {
    SEL_AUTH_USER,
    SEL_IP,
    SEL_FROM,
    SEL_HEADER_FROM,
    SEL_RCPT,
    SEL_RCPT_DOMAIN,
    SEL_SUBJECT,
    SEL_STATE,
    SEL_OLDER,
    SEL_NEWER,
    SEL_LISTENER,
    SEL_UNAUTH,
    SEL_ALL,
    SEL_N
};
/* clang-format off */
#define SELECT_OPTS                                                                              \
    {"--auth-user", true, false, NULL},     {"--ip", true, false, NULL},                         \
    {"--from", true, false, NULL},          {"--header-from", true, false, NULL},                \
    {"--rcpt", true, false, NULL},          {"--rcpt-domain", true, false, NULL},                \
    {"--subject", true, false, NULL},       {"--state", true, false, NULL},                      \
    {"--older-than", true, false, NULL},    {"--newer-than", true, false, NULL},                 \
    {"--listener", true, false, NULL},      {"--unauthenticated", false, false, NULL},           \
    {"--all", false, false, NULL}
/* clang-format on */
#define USAGE_SELECTION                                                                            \
    "    SELECTION: [ID ...] [--all] [--auth-user USER] [--ip ADDR|CIDR] [--from ADDR]\n"          \
    "      [--header-from ADDR] [--rcpt ADDR] [--rcpt-domain DOMAIN] [--subject TEXT]\n"           \
    "      [--state queued|deferred|held] [--older-than DUR] [--newer-than DUR]\n"                 \
    "      [--listener NAME] [--unauthenticated]   (DUR: 90s, 15m, 2h, 3d, 1w or seconds)\n"
int select_parse(const char *group, struct args *a, struct opt *o, const char *state,
                 struct queue_filter *f);
int select_check(const char *group, const struct queue_filter *f);
bool select_chosen(const struct args *a, const struct opt *o);
int select_act(struct ctl *c, const char *group, enum queue_action act,
               const struct queue_filter *f, const char *reason);

/* ctl_queue.c: status, queue */
extern const char usage_status[], usage_queue[];
extern const struct subcommand queue_subs[];
int status_cmd(struct ctl *c, struct args *a, struct opt *o);

/* ctl_doctor.c */
/* ctl_dovecot.c: dovecot config, dovecot checkpassword */
extern const char usage_dovecot[];
extern const struct subcommand dovecot_subs[];
extern const char usage_doctor[];
int doctor_cmd(struct ctl *c, int argc, char **argv);

/* ctl_columns.c: the columns of queue list */
int columns_check(const char *spec);
int columns_print(json_t *list, const char *spec, bool csv, const char *empty);

/* ctl_message.c: one message, queued or quarantined */
int message_show(struct ctl *c, const char *group, const char *id);
int message_export(struct ctl *c, const char *group, const char *id);

/* ctl_quarantine.c: quarantine */
extern const char usage_quarantine[];
extern const struct subcommand quarantine_subs[];

/* ctl_flow.c: pause, resume */
extern const char usage_pause[], usage_resume[], usage_reload[];
extern const struct subcommand pause_subs[], resume_subs[];
int reload_cmd(struct ctl *c, struct args *a, struct opt *o);
void print_paused(const char *label, json_t *paused);

/* ctl_sending.c: what a user may send (user subcommands grant-send-as,
 * revoke-send-as, limits), and the part of "user show" about it */
int user_grant_send_as(struct ctl *c, struct args *a, struct opt *o);
int user_revoke_send_as(struct ctl *c, struct args *a, struct opt *o);
int user_limits(struct ctl *c, struct args *a, struct opt *o);
struct opt *user_limits_options(void);
/* sending_facts - {"send_as": [...], "limits": {...}, "counters": {...}}
 * of ADDRESS (counters only while the daemon runs), or NULL. */
json_t *sending_facts(struct ctl *c, const char *address);
/* sending_print - FACTS from sending_facts as lines for "user show". */
void sending_print(json_t *facts);

/* ctl_bans.c: ban */
extern const char usage_ban[];
extern const struct subcommand ban_subs[];
/* ctl_sessions.c: session, and the end of an account's live sessions */
extern const char usage_session[];
/* ctl_admin.c: the web admin's administrators */
extern const char usage_admin[];
extern const struct subcommand admin_subs[];
extern const struct subcommand session_subs[];
void ctl_end_sessions(struct ctl *c, const char *user, const char *label, const char *reason);

/* ctl_incident.c: incident */
extern const char usage_incident[];
extern const struct subcommand incident_subs[];
extern const char usage_audit[];
extern const struct subcommand audit_subs[];

/* ctl_monitor.c: monitor */
extern const char usage_monitor[];
int monitor_cmd(struct ctl *c, int argc, char **argv);

/* ctl_store.c: store */
extern const char usage_store[];
extern const struct subcommand store_subs[];

/* ctl_dkim.c: dkim */
extern const char usage_dkim[];
extern const struct subcommand dkim_subs[];

#endif
