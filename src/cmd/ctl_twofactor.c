/* cmd/ctl_twofactor - floodctl user 2fa and user app-password.
 *
 * Room: cmd.  Enrolment prints the otpauth:// URI and its QR code, then
 * reads one code the app shows (terminal, one line of stdin, or --code)
 * and turns 2FA on only when it matches: a phone that never scanned the
 * code must not end up as the only way in.  App passwords are generated
 * here, shown once, and stored hashed. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <qrencode.h>
#include <sodium.h>

#include "accounts/app_passwords.h"
#include "accounts/password.h"
#include "accounts/totp.h"
#include "cmd/ctl.h"
#include "cmd/ctl_users.h"

#define QR_QUIET 2 /* modules of white border; scanners read 2 well enough */

/* opts_2fa - the options of user 2fa. */
struct opt *opts_2fa(void)
{
    static struct opt opts[] = {{"--code", true, false, NULL}, {NULL, false, false, NULL}};
    return opts;
}

/* opts_app_password - the options of user app-password. */
struct opt *opts_app_password(void)
{
    static struct opt opts[] = {{"--label", true, false, NULL}, {NULL, false, false, NULL}};
    return opts;
}

/* qr_dark - module (X, Y) of Q, white outside the symbol (quiet zone). */
static bool qr_dark(const QRcode *q, int x, int y)
{
    if (x < 0 || y < 0 || x >= q->width || y >= q->width)
        return false;
    return q->data[y * q->width + x] & 1;
}

/* qr_print_terminal - two rows of modules per line with Unicode half
 * blocks, black on white whatever the terminal's colours (a scanner wants
 * dark modules on a light ground, and most terminals are light on dark). */
static void qr_print_terminal(const QRcode *q)
{
    for (int y = -QR_QUIET; y < q->width + QR_QUIET; y += 2) {
        fputs("\033[30;47m", stdout);
        for (int x = -QR_QUIET; x < q->width + QR_QUIET; x++) {
            bool top = qr_dark(q, x, y), bottom = qr_dark(q, x, y + 1);
            fputs(top && bottom ? "\u2588" : top ? "\u2580" : bottom ? "\u2584" : " ", stdout);
        }
        fputs("\033[0m\n", stdout);
    }
}

/* qr_print_plain - one row per line, "##" for a dark module: readable in a
 * file or a mail, where colours and block characters may not survive. */
static void qr_print_plain(const QRcode *q)
{
    for (int y = -QR_QUIET; y < q->width + QR_QUIET; y++) {
        for (int x = -QR_QUIET; x < q->width + QR_QUIET; x++)
            fputs(qr_dark(q, x, y) ? "##" : "  ", stdout);
        fputc('\n', stdout);
    }
}

/* qr_print - the QR code of TEXT, for the terminal or plain. */
void qr_print(const char *text)
{
    QRcode *q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    if (q == NULL) {
        fprintf(stderr, "floodctl: cannot draw the QR code; type the secret into the app\n");
        return;
    }
    if (isatty(STDOUT_FILENO))
        qr_print_terminal(q);
    else
        qr_print_plain(q);
    QRcode_free(q);
}

/* read_code - one line (a code) from the terminal or stdin into BUF;
 * -1 when there is none. */
static int read_code(char *buf, size_t len)
{
    if (isatty(STDIN_FILENO)) {
        fputs("Code shown by the app: ", stderr);
        fflush(stderr);
    }
    if (fgets(buf, (int)len, stdin) == NULL)
        return -1;
    buf[strcspn(buf, "\r\n")] = '\0';
    /* Apps show "123 456": the space is no part of the code. */
    size_t o = 0;
    for (size_t i = 0; buf[i]; i++)
        if (buf[i] != ' ')
            buf[o++] = buf[i];
    buf[o] = '\0';
    return o ? 0 : -1;
}

/* twofa_confirm - check CODE and say what happened. */
static int twofa_confirm(store_db *db, const char *addr, const char *code)
{
    char err[512];
    if (totp_confirm(db, addr, code, time(NULL), err, sizeof err) < 0)
        return fail("%s", err);
    printf("2FA on for %s: from now on SMTP accepts only its app passwords; make one per "
           "device with 'floodctl user app-password add %s --label LABEL'\n",
           addr, addr);
    return EXIT_OK;
}

/* twofa_enable - enrol (print URI and QR, read a code) or, with --code,
 * finish a pending enrolment. */
static int twofa_enable(store_db *db, const char *addr, const char *code)
{
    char err[512], b32[TOTP_BASE32_MAX], uri[TOTP_URI_MAX], line[64];
    if (code != NULL)
        return twofa_confirm(db, addr, code);
    if (totp_begin(db, addr, b32, err, sizeof err) < 0)
        return fail("%s", err);
    if (totp_uri(addr, b32, uri, sizeof uri) < 0)
        return fail("address too long for an otpauth URI");
    printf("Scan this QR code with an authenticator app (or type the secret %s):\n\n", b32);
    qr_print(uri);
    printf("\n%s\n\n", uri);
    fflush(stdout);
    sodium_memzero(b32, sizeof b32);
    if (read_code(line, sizeof line) < 0) {
        sodium_memzero(uri, sizeof uri);
        return fail("no code given: 2FA stays off for %s; finish the enrolment with "
                    "'floodctl user 2fa enable %s --code CODE'",
                    addr, addr);
    }
    sodium_memzero(uri, sizeof uri);
    return twofa_confirm(db, addr, line);
}

/* user_2fa - floodctl user 2fa enable|disable ADDRESS [--code CODE] */
int user_2fa(struct ctl *c, struct args *a, struct opt *o)
{
    char err[512];
    const char *verb = a->pos[0], *addr = a->pos[1];
    bool enable = strcmp(verb, "enable") == 0;
    if (!enable && strcmp(verb, "disable") != 0)
        return usage_error("user", "2fa: expected enable or disable, not '%s'", verb);
    if (!enable && o[0].set)
        return usage_error("user", "%s", "2fa disable takes no --code");
    store_db *db = user_store(c, addr);
    if (db == NULL)
        return EXIT_FAIL;
    if (enable)
        return twofa_enable(db, addr, o[0].set ? o[0].value : NULL);
    if (totp_disable(db, addr, err, sizeof err) < 0)
        return fail("%s", err);
    printf("2FA off for %s: its main password logs in again\n", addr);
    return EXIT_OK;
}

/* app_add - floodctl user app-password add ADDRESS --label TEXT */
static int app_add(struct ctl *c, store_db *db, const char *addr, const char *label)
{
    char pw[APP_PASSWORD_LEN + 1], err[512];
    if (label == NULL)
        return usage_error("user", "%s", "app-password add needs --label TEXT (the device)");
    if (app_password_create(db, addr, label, pw, err, sizeof err) < 0)
        return fail("%s", err);
    int rc = EXIT_OK;
    if (c->json) {
        json_t *o = json_pack("{s:s, s:s, s:s}", "address", addr, "label", label, "password", pw);
        rc = o ? print_json(o) : fail("out of memory");
        json_decref(o);
    } else {
        printf("app password of %s for '%s':\n\n    %s\n\n"
               "Type it into the device's mail settings now: it is not shown again.\n",
               addr, label, pw);
    }
    sodium_memzero(pw, sizeof pw);
    return rc;
}

static int app_row(struct table *t, json_t *ap, void *unused)
{
    char made[32], used[32];
    const char *row[] = {
        str_of(ap, "label"), fmt_time(json_object_get(ap, "created"), made, sizeof made),
        fmt_time(json_object_get(ap, "last_used"), used, sizeof used), str_of(ap, "last_ip")};
    return table_add(t, row, NULL);
}

/* app_list - floodctl user app-password list ADDRESS */
static int app_list(struct ctl *c, store_db *db, const char *addr)
{
    static const char *const head[] = {"Label", "Created", "Last used", "Last IP"};
    char err[512], empty[400];
    struct table t = {.ncols = 4, .head = head};
    json_t *list = app_password_list(db, addr, err, sizeof err);
    if (list == NULL)
        return fail("%s", err);
    snprintf(empty, sizeof empty,
             "%s has no app passwords; make one with "
             "'floodctl user app-password add %s --label LABEL'",
             addr, addr);
    return print_list(c->json, list, &t, app_row, NULL, empty);
}

/* user_app_password - floodctl user app-password add|list|revoke ... */
int user_app_password(struct ctl *c, struct args *a, struct opt *o)
{
    char err[512];
    const char *verb = a->pos[0], *addr = a->pos[1];
    bool add = strcmp(verb, "add") == 0, list = strcmp(verb, "list") == 0,
         revoke = strcmp(verb, "revoke") == 0;
    if (!add && !list && !revoke)
        return usage_error("user", "app-password: expected add, list or revoke, not '%s'", verb);
    if ((revoke && a->n != 3) || (!revoke && a->n != 2) || (!add && o[0].set))
        return usage_error("user", "wrong arguments for 'app-password %s'", verb);
    store_db *db = user_store(c, addr);
    if (db == NULL)
        return EXIT_FAIL;
    if (add)
        return app_add(c, db, addr, o[0].set ? o[0].value : NULL);
    if (list)
        return app_list(c, db, addr);
    /* The label as typed: labels keep their case ("Alice's iPhone"). */
    if (app_password_revoke(db, addr, a->raw[2], err, sizeof err) < 0)
        return fail("%s", err);
    printf("app password '%s' of %s revoked: that device can no longer log in\n", a->raw[2], addr);
    ctl_end_sessions(c, addr, a->raw[2], "app_password_revoked");
    return EXIT_OK;
}
