/* cmd/ctl_admin - floodctl admin add|del|list: who may log in to the web
 * admin (control/web_admin.c).
 *
 * Room: cmd.  Like users, administrators are written to the store
 * directly, daemon running or not.  The password is read as a user's is
 * (terminal twice, or one line of stdin) under the same policy; the TOTP
 * secret is made here and shown once, as an otpauth:// URI and its QR
 * code, as 'user 2fa enable' shows it: the web login asks for a code
 * every time, so an administrator without the phone cannot log in. */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "accounts/admins.h"
#include "accounts/password.h"
#include "cmd/ctl.h"
#include "cmd/ctl_users.h"
#include "store/admins.h"

const char usage_admin[] =
    "  floodctl admin add NAME [--json]   (password from terminal or stdin)\n"
    "  floodctl admin del NAME\n"
    "  floodctl admin list [--json]\n";

/* admin_add_cmd - floodctl admin add NAME */
static int admin_add_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    char hash[PASSWORD_HASH_MAX], b32[TOTP_BASE32_MAX], uri[TOTP_URI_MAX], err[512];
    const char *name = a->pos[0];
    if (!admin_name_ok(name))
        return fail("bad admin name '%.80s': use 1 to %d of a-z, 0-9, '.', '_' and '-'", name,
                    ADMIN_NAME_MAX);
    store_db *db = ctl_store(c);
    if (db == NULL || new_hash(c->cfg, name, hash) != EXIT_OK)
        return EXIT_FAIL;
    if (admin_add(db, name, hash, b32, err, sizeof err) < 0)
        return fail("%s", err);
    int rc = EXIT_OK;
    if (totp_uri(name, b32, uri, sizeof uri) < 0) {
        rc = fail("admin %s added, but its name is too long for an otpauth URI; type the "
                  "secret %s into the app",
                  name, b32);
    } else if (c->json) {
        json_t *j = json_pack("{s:s, s:s, s:s}", "name", name, "secret", b32, "otpauth_uri", uri);
        rc = j ? print_json(j) : fail("out of memory");
        json_decref(j);
    } else {
        printf("admin %s added. Scan this QR code with an authenticator app (or type the "
               "secret %s):\n\n",
               name, b32);
        qr_print(uri);
        printf("\n%s\n\nThe web admin asks for the password and a code of the app at every "
               "login. The secret is not shown again.\n",
               uri);
    }
    sodium_memzero(b32, sizeof b32);
    sodium_memzero(uri, sizeof uri);
    return rc;
}

/* admin_del_cmd - floodctl admin del NAME */
static int admin_del_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    char err[512];
    store_db *db = ctl_store(c);
    if (db == NULL)
        return EXIT_FAIL;
    if (admin_del(db, a->pos[0], err, sizeof err) < 0)
        return fail("%s", err);
    printf("admin %s deleted (a web session it has open ends at its next request)\n", a->pos[0]);
    return EXIT_OK;
}

static int admin_row(struct table *t, json_t *ad, void *unused)
{
    char made[32], last[32];
    const char *row[] = {str_of(ad, "name"),
                         fmt_time(json_object_get(ad, "created"), made, sizeof made),
                         fmt_time(json_object_get(ad, "last_login"), last, sizeof last)};
    return table_add(t, row, NULL);
}

/* admin_list_cmd - floodctl admin list */
static int admin_list_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    static const char *const head[] = {"Name", "Created", "Last login"};
    store_db *db = ctl_store(c);
    json_t *list = db ? store_admins_list(db) : NULL;
    struct table t = {.ncols = 3, .head = head};
    if (list == NULL)
        return db ? fail("cannot list admins (details in the log)") : EXIT_FAIL;
    return print_list(c->json, list, &t, admin_row, NULL,
                      "no admins; add one with 'floodctl admin add NAME'");
}

const struct subcommand admin_subs[] = {
    {"add", 1, 1, admin_add_cmd, NULL},
    {"del", 1, 1, admin_del_cmd, NULL},
    {"list", 0, 0, admin_list_cmd, NULL},
    {NULL, 0, 0, NULL, NULL},
};
