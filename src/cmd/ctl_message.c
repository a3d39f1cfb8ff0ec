/* cmd/ctl_message - one message: floodctl queue|quarantine show and export.
 *
 * Room: cmd.  A message is looked up in the store: in the queue first,
 * then in quarantine, whose body is the file quarantine/XY/ID.eml instead of
 * a row of the bodies table.  "show" prints the envelope, the recipients
 * and the header section; "export" writes the stored octets unchanged, so
 * that the file can be read, kept as evidence or injected again. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/ctl.h"
#include "control/admin_ops.h"
#include "core/config.h"
#include "queue/quarantine_files.h"
#include "queue/queue_actions.h"
#include "store/queue_query.h"
#include "store/body.h"
#include "store/queue.h"
#include "store/store.h"

#define HEADERS_MAX (1024 * 1024) /* octets of a header section shown */

/* The envelope fields in the order "show" prints them. */
static const char *const show_keys[] = {
    "id",       "state",       "status",    "created",     "next_try", "size",
    "sender",   "auth_user",   "client_ip", "client_port", "helo",     "tls",
    "listener", "header_from", "subject",   "message_id",
};

/* ------------------------------------------------------------- finding */

/* not_found - the error for an ID in neither place. */
static int not_found(const char *group, const char *id)
{
    return fail("no message %s in %s: see 'floodctl %s list'", id,
                strcmp(group, "queue") == 0 ? "the queue" : "quarantine", group);
}

/* ------------------------------------------------------------- headers */

/* read_prefix - the first HEADERS_MAX octets of QID's stored message (the
 * bodies table, else STATE_DIR/quarantine/XY/ID.eml) into BUF; their count,
 * or -1 when there is no body. */
static long read_prefix(store_db *db, const char *state_dir, const char *qid, char *buf)
{
    struct store_body *body = store_body_get(db, qid);
    if (body != NULL) {
        size_t size = store_body_size(body);
        long n = size < HEADERS_MAX ? (long)size : HEADERS_MAX;
        long k = store_body_read(body, 0, buf, (size_t)n);
        store_body_close(body);
        return k == n ? n : -1;
    }
    FILE *in = quarantine_file_open(state_dir, qid);
    if (in == NULL)
        return -1;
    size_t n = fread(buf, 1, HEADERS_MAX, in);
    fclose(in);
    return (long)n;
}

/* header_text - the header section of QID (up to the empty line), with
 * LF line ends, as a fresh string; NULL when there is no body. */
static char *header_text(store_db *db, const char *state_dir, const char *qid)
{
    char *buf = malloc(HEADERS_MAX + 1);
    long n = buf ? read_prefix(db, state_dir, qid, buf) : -1;
    if (n < 0) {
        free(buf);
        return NULL;
    }
    size_t o = 0;
    for (long i = 0; i < n; i++) {
        if (buf[i] == '\r' && i + 1 < n && buf[i + 1] == '\n')
            continue;
        if (buf[i] == '\n' && o > 0 && buf[o - 1] == '\n')
            break; /* the empty line: the body starts */
        buf[o++] = buf[i];
    }
    buf[o] = '\0';
    return buf;
}

/* ---------------------------------------------------------------- show */

/* show_value - one "key: value" line; times as local time, the null
 * sender as <>, no value as -. */
static void show_value(const char *key, json_t *v)
{
    char when[32];
    if (strcmp(key, "created") == 0 || strcmp(key, "next_try") == 0 ||
        strcmp(key, "quarantined_at") == 0)
        printf("%s: %s\n", key, fmt_time(v, when, sizeof when));
    else if (strcmp(key, "sender") == 0 && json_is_string(v) && !*json_string_value(v))
        printf("%s: <>\n", key);
    else if (v == NULL || json_is_null(v))
        printf("%s: -\n", key);
    else
        print_kv(key, v);
}

/* show_recipient - one recipient as an indented block. */
static void show_recipient(json_t *r)
{
    char when[32];
    json_t *err = json_object_get(r, "last_error");
    printf("recipient: %s\n", str_of(r, "address") ? str_of(r, "address") : "-");
    printf("  orig: %s\n", str_of(r, "orig") ? str_of(r, "orig") : "-");
    printf("  state: %s\n", str_of(r, "state") ? str_of(r, "state") : "-");
    printf("  attempts: %lld\n", (long long)json_integer_value(json_object_get(r, "attempts")));
    printf("  next try: %s\n", fmt_time(json_object_get(r, "next_try"), when, sizeof when));
    printf("  last error: %s\n", json_is_string(err) ? json_string_value(err) : "-");
}

/* show_text - the envelope, the quarantine record, the recipients and
 * the headers of message M. */
static int show_text(json_t *m, const char *headers)
{
    char when[32];
    json_t *r;
    size_t i;
    for (i = 0; i < sizeof show_keys / sizeof show_keys[0]; i++)
        show_value(show_keys[i], json_object_get(m, show_keys[i]));
    if (json_object_get(m, "quarantined_at") != NULL)
        printf("quarantined: %s, %s, by %s\n",
               str_of(m, "reason") ? str_of(m, "reason") : "no reason given",
               fmt_time(json_object_get(m, "quarantined_at"), when, sizeof when),
               str_of(m, "quarantined_by") ? str_of(m, "quarantined_by") : "-");
    if (json_is_integer(json_object_get(m, "file_missing")))
        printf("quarantine file: missing (found by floodctl store check, %s)\n",
               fmt_time(json_object_get(m, "file_missing"), when, sizeof when));
    json_array_foreach(json_object_get(m, "recipients"), i, r) show_recipient(r);
    printf("\n%s", headers ? headers : "(no stored message)\n");
    return ferror(stdout) ? fail("cannot write to stdout") : EXIT_OK;
}

/* find_message - the store into *DB and message ID's listing object into
 * *M (the caller's); GROUP "queue" also finds quarantined messages.
 * EXIT_OK, or the failure (said). */
static int find_message(struct ctl *c, const char *group, const char *id, store_db **db, json_t **m)
{
    *m = NULL;
    if ((*db = ctl_store(c)) == NULL)
        return EXIT_FAIL;
    int found = admin_message_find(*db, id, strcmp(group, "queue") == 0, m);
    if (found < 0)
        return fail("cannot read the store (details in the log)");
    if (found == 0)
        return not_found(group, id);
    return EXIT_OK;
}

/* message_show - floodctl queue|quarantine show ID: the envelope, each
 * recipient and the header section; --json: the listing object plus
 * "headers".  GROUP "queue" also finds quarantined messages. */
int message_show(struct ctl *c, const char *group, const char *id)
{
    store_db *db;
    json_t *m;
    int rc = find_message(c, group, id, &db, &m);
    if (rc != EXIT_OK) {
        json_decref(m);
        return rc;
    }
    char *headers = header_text(db, c->cfg->state_dir, id);
    if (c->json) {
        json_object_set_new(m, "headers", headers ? json_string(headers) : json_null());
        rc = print_json(m);
    } else {
        rc = show_text(m, headers);
    }
    free(headers);
    json_decref(m);
    return rc;
}

/* -------------------------------------------------------------- export */

/* export_blob - QID's body from the store to stdout; -1 when there is
 * none, -2 on a write error. */
static int export_blob(store_db *db, const char *qid)
{
    char buf[65536];
    struct store_body *body = store_body_get(db, qid);
    if (body == NULL)
        return -1;
    size_t size = store_body_size(body);
    int rc = 0;
    for (size_t off = 0; rc == 0 && off < size;) {
        long k = store_body_read(body, off, buf, sizeof buf);
        if (k <= 0 || fwrite(buf, 1, (size_t)k, stdout) != (size_t)k)
            rc = -2;
        off += k > 0 ? (size_t)k : 0;
    }
    store_body_close(body);
    return rc;
}

/* message_export - floodctl queue|quarantine export ID: the stored
 * message, exactly, to stdout: from the store, or the quarantine file. */
int message_export(struct ctl *c, const char *group, const char *id)
{
    store_db *db;
    json_t *m;
    int rc = find_message(c, group, id, &db, &m);
    json_decref(m);
    if (rc != EXIT_OK)
        return rc;
    /* wherever the message lives: the bodies table, or the quarantine
     * file (a quarantine whose file could not be written leaves the body
     * in the store) */
    rc = export_blob(db, id);
    if (rc == -1)
        rc = quarantine_export(c->cfg->state_dir, id, stdout) < 0 && !ferror(stdout) ? -1 : 0;
    if (rc == -1)
        return not_found(group, id);
    if (rc < 0 || fflush(stdout) != 0 || ferror(stdout))
        return fail("cannot write to stdout: %s", strerror(errno));
    return EXIT_OK;
}
