/* cmd/ctl_columns - the columns of "floodctl queue list".
 *
 * Room: cmd.  Any envelope field of the listing can be a column, chosen
 * by name with --columns; the rows print as an aligned table or as CSV
 * (RFC 4180: a header row, fields with a comma, quote or line break in
 * double quotes, quotes doubled, CR LF line ends). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/ctl.h"

#define COLUMNS_MAX 32

/* One column: its --columns name, table heading, cut width (0: none) and
 * how its text is made from a message of the listing. */
struct column {
    const char *name;
    const char *head;
    size_t maxw;
    int (*text)(json_t *m, const char *key, char **out);
    const char *key;
};

/* ---------------------------------------------------------------- cells */

/* Each text function sets *OUT to a fresh string, or NULL for "no value";
 * -1 when memory runs out. */

/* dup_out - *OUT = a copy of S (NULL stays NULL). */
static int dup_out(const char *s, char **out)
{
    *out = s ? strdup(s) : NULL;
    return s && *out == NULL ? -1 : 0;
}

/* text_value - a field as it is: text, number, yes/no, or none. */
static int text_value(json_t *m, const char *key, char **out)
{
    json_t *v = json_object_get(m, key);
    char num[32];
    if (v == NULL || json_is_null(v))
        return dup_out(NULL, out);
    if (json_is_string(v))
        return dup_out(json_string_value(v), out);
    if (json_is_boolean(v))
        return dup_out(json_is_true(v) ? "yes" : "no", out);
    if (json_is_integer(v)) {
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
        return dup_out(num, out);
    }
    *out = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    return *out ? 0 : -1;
}

/* text_time - a unix time as local time. */
static int text_time(json_t *m, const char *key, char **out)
{
    char buf[32];
    json_t *v = json_object_get(m, key);
    return dup_out(json_is_integer(v) ? fmt_time(v, buf, sizeof buf) : NULL, out);
}

/* text_sender - the envelope sender; "<>" for the null sender of DSNs. */
static int text_sender(json_t *m, const char *key, char **out)
{
    const char *s = str_of(m, key);
    return dup_out(s && *s ? s : "<>", out);
}

/* text_to - the first pending recipient, "+N" when there are more. */
static int text_to(json_t *m, const char *key, char **out)
{
    json_t *rcpts = json_object_get(m, "recipients");
    const char *first = str_of(json_array_get(rcpts, 0), "address");
    size_t more = json_array_size(rcpts) > 1 ? json_array_size(rcpts) - 1 : 0;
    if (first == NULL || more == 0)
        return dup_out(first, out);
    if (asprintf(out, "%s +%zu", first, more) < 0) {
        *out = NULL;
        return -1;
    }
    return 0;
}

/* text_recipients - every pending recipient, comma-separated. */
static int text_recipients(json_t *m, const char *key, char **out)
{
    json_t *rcpts = json_object_get(m, "recipients"), *r;
    size_t len = 1, i;
    json_array_foreach(rcpts, i, r) len +=
        strlen(str_of(r, "address") ? str_of(r, "address") : "") + 1;
    if (json_array_size(rcpts) == 0)
        return dup_out(NULL, out);
    char *s = *out = malloc(len);
    if (s == NULL)
        return -1;
    *s = '\0';
    json_array_foreach(rcpts, i, r)
    {
        const char *a = str_of(r, "address");
        s = stpcpy(s, i ? "," : "");
        s = stpcpy(s, a ? a : "");
    }
    return 0;
}

/* text_status - the message's status, else its first recipient's. */
static int text_status(json_t *m, const char *key, char **out)
{
    const char *s = str_of(m, key);
    return dup_out(s ? s : str_of(json_array_get(json_object_get(m, "recipients"), 0), key), out);
}

/* The columns, in the order "unknown column" lists them. */
static const struct column columns[] = {
    {"id", "ID", 0, text_value, "id"},
    {"created", "Created", 0, text_time, "created"},
    {"next_try", "Next try", 0, text_time, "next_try"},
    {"size", "Size", 0, text_value, "size"},
    {"sender", "From", CELL_MAX, text_sender, "sender"},
    {"from", "From", CELL_MAX, text_sender, "sender"},
    {"to", "To", CELL_MAX, text_to, NULL},
    {"recipients", "Recipients", 0, text_recipients, NULL},
    {"status", "Status", CELL_MAX, text_status, "status"},
    {"state", "State", 0, text_value, "state"},
    {"auth_user", "Authenticated sender", CELL_MAX, text_value, "auth_user"},
    {"client_ip", "Sender IP", 0, text_value, "client_ip"},
    {"client_port", "Sender port", 0, text_value, "client_port"},
    {"helo", "HELO", CELL_MAX, text_value, "helo"},
    {"tls", "TLS", CELL_MAX, text_value, "tls"},
    {"listener", "Listener", 0, text_value, "listener"},
    {"header_from", "Header From", CELL_MAX, text_value, "header_from"},
    {"subject", "Subject", CELL_MAX, text_value, "subject"},
    {"message_id", "Message-ID", CELL_MAX, text_value, "message_id"},
    {"app_password", "App password", CELL_MAX, text_value, "auth_app_password"},
};

#define DEFAULT_COLUMNS "id,created,next_try,size,sender,to,status,auth_user,client_ip"
#define COLUMN_NAMES                                                                               \
    "id, created, next_try, size, sender (or from), to, recipients, status, state, auth_user, "    \
    "client_ip, client_port, helo, tls, listener, header_from, subject, message_id, app_password"

/* ------------------------------------------------------------- choosing */

/* column_named - the column called NAME (LEN octets), or NULL. */
static const struct column *column_named(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof columns / sizeof columns[0]; i++)
        if (strlen(columns[i].name) == len && strncmp(columns[i].name, name, len) == 0)
            return &columns[i];
    return NULL;
}

/* columns_parse - the comma-separated column names of SPEC (NULL: the
 * default ones) into COLS (room for COLUMNS_MAX); the count, or -1 after
 * a usage error. */
static int columns_parse(const char *spec, const struct column **cols)
{
    char msg[512];
    int n = 0;
    for (const char *p = spec ? spec : DEFAULT_COLUMNS;; p++) {
        size_t len = strcspn(p, ",");
        const struct column *col = column_named(p, len);
        if (col == NULL || n == COLUMNS_MAX) {
            snprintf(msg, sizeof msg,
                     n == COLUMNS_MAX
                         ? "more than 32 columns in --columns"
                         : "unknown column '%.*s' in --columns; choose from " COLUMN_NAMES,
                     (int)(len > 64 ? 64 : len), p);
            usage_error("queue", "%s", msg);
            return -1;
        }
        cols[n++] = col;
        p += len;
        if (*p == '\0')
            return n;
    }
}

/* ------------------------------------------------------------- printing */

/* row_texts - the N cells of message M into CELLS (fresh strings or NULL). */
static int row_texts(json_t *m, const struct column **cols, int n, char **cells)
{
    for (int i = 0; i < n; i++)
        if (cols[i]->text(m, cols[i]->key, &cells[i]) < 0) {
            while (i-- > 0)
                free(cells[i]);
            return -1;
        }
    return 0;
}

/* csv_field - S as one RFC 4180 field. */
static void csv_field(const char *s, bool last)
{
    if (s && s[strcspn(s, ",\"\r\n")] != '\0') {
        putchar('"');
        for (; *s; s++) {
            if (*s == '"')
                putchar('"');
            putchar(*s);
        }
        putchar('"');
    } else if (s) {
        fputs(s, stdout);
    }
    fputs(last ? "\r\n" : ",", stdout);
}

/* print_csv - a header row of column names, then one row per message. */
static int print_csv(json_t *list, const struct column **cols, int n)
{
    char *cells[COLUMNS_MAX];
    size_t k;
    json_t *m;
    for (int i = 0; i < n; i++)
        csv_field(cols[i]->name, i + 1 == n);
    json_array_foreach(list, k, m)
    {
        if (row_texts(m, cols, n, cells) < 0)
            return fail("out of memory");
        for (int i = 0; i < n; i++) {
            csv_field(cells[i], i + 1 == n);
            free(cells[i]);
        }
    }
    return ferror(stdout) ? fail("cannot write to stdout") : EXIT_OK;
}

/* print_table - the messages as an aligned table. */
static int print_table(json_t *list, const struct column **cols, int n)
{
    const char *head[COLUMNS_MAX];
    size_t maxw[COLUMNS_MAX], k;
    char *cells[COLUMNS_MAX];
    json_t *m;
    for (int i = 0; i < n; i++) {
        head[i] = cols[i]->head;
        maxw[i] = cols[i]->maxw;
    }
    struct table t = {.ncols = (size_t)n, .head = head};
    json_array_foreach(list, k, m)
    {
        int rc = row_texts(m, cols, n, cells);
        if (rc == 0) {
            rc = table_add(&t, (const char *const *)cells, maxw);
            for (int i = 0; i < n; i++)
                free(cells[i]);
        }
        if (rc < 0) {
            table_discard(&t);
            return fail("out of memory");
        }
    }
    return table_print(&t);
}

/* columns_check - a usage error unless SPEC names known columns. */
int columns_check(const char *spec)
{
    const struct column *cols[COLUMNS_MAX];
    return columns_parse(spec, cols) < 0 ? EXIT_USAGE : EXIT_OK;
}

/* columns_print - LIST (queue_list's array) with the columns named in
 * SPEC (NULL: the default ones), as CSV or a table; EMPTY is the line an
 * empty table prints instead. */
int columns_print(json_t *list, const char *spec, bool csv, const char *empty)
{
    const struct column *cols[COLUMNS_MAX];
    int n = columns_parse(spec, cols);
    if (n < 0)
        return EXIT_USAGE;
    if (csv)
        return print_csv(list, cols, n);
    if (json_array_size(list) == 0)
        return print_empty(empty);
    return print_table(list, cols, n);
}
