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
#include <sqlite3.h>

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

#define DEFAULT_CONFIG "/etc/floodgate/floodgate.conf"
#define CELL_MAX 40 /* display columns of a truncated table cell */
#define ARGS_MAX 8  /* positional arguments of any subcommand */

/* Everything one run of floodctl needs. */
struct ctl {
    const char *config_path;
    struct config *cfg;
    bool json;
    char store_file[PATH_MAX];
    char socket_file[PATH_MAX];
    sqlite3 *db; /* opened on first use */
    bool setup_done;
    int setup_rc;
};

/* One option a subcommand accepts: a flag, or an option with a value. */
struct opt {
    const char *name;
    bool has_value;
    bool set;
    const char *value;
};

/* Parsed arguments of one subcommand. */
struct args {
    int n;
    char *pos[ARGS_MAX];
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
sqlite3 *ctl_store(struct ctl *c);
json_t *ctl_call(struct ctl *c, json_t *request, int *not_running);
void ctl_close(struct ctl *c);
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int usage_error(const char *group, const char *fmt, const char *arg);
int run_group(struct ctl *c, const char *group, const struct subcommand *subs, int argc,
              char **argv);
int print_json(json_t *v);
int print_empty(const char *text);
void print_kv(const char *prefix, json_t *v);
int table_add(struct table *t, const char *const *row, const size_t *maxw);
int table_print(struct table *t);
void table_discard(struct table *t);
const char *fmt_time(json_t *v, char *buf, size_t len);
const char *str_of(json_t *obj, const char *key);

/* floodctl.c: the command map */
void usage_all(FILE *fp);
const char *usage_of(const char *name);

/* ctl_accounts.c: domain, user, alias */
extern const char usage_domain[], usage_user[], usage_alias[];
extern const struct subcommand domain_subs[], user_subs[], alias_subs[];

/* ctl_queue.c: status, queue */
extern const char usage_status[], usage_queue[];
extern const struct subcommand queue_subs[];
int status_cmd(struct ctl *c, struct args *a, struct opt *o);

/* ctl_dkim.c: dkim */
extern const char usage_dkim[];
extern const struct subcommand dkim_subs[];

#endif
