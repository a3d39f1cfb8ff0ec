/* control/web_account - /account, the self-service of mail users: log in
 * with the account's own password (and a TOTP code when 2FA is on),
 * change the password under the policy, enrol 2FA with a QR code, add and
 * revoke app passwords.  An expired password may still log in here: this
 * is where it is changed (the 535 of SMTP AUTH names this page when
 * web.public_url is set).
 *
 * Room: control.  The same accounts functions as floodctl user passwd,
 * user 2fa and user app-password, on this thread's store connection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "accounts/accounts.h"
#include "accounts/app_passwords.h"
#include "accounts/password.h"
#include "accounts/password_policy.h"
#include "accounts/totp.h"
#include "control/web_admin_internal.h"
#include "core/log.h"
#include "core/util.h"
#include "store/logins.h"
#include "store/store.h"

#define ADDRESS_MAX 254

/* account_page - the page of a user logged in (or the login form), with
 * MSG (ERROR: in red) and, when B32 is set, a 2FA enrolment to finish. */
static enum MHD_Result account_page(struct web_req *r, unsigned status, const char *msg, bool error,
                                    const char *b32)
{
    struct html h;
    if (html_open(&h) < 0)
        return MHD_NO;
    bool in = r->who[0] && !r->admin;
    html_begin(&h, in ? "Your account" : "Mail account login", in ? r->who : NULL, r->csrf, false);
    if (msg) {
        html_raw(&h, error ? "<p class=\"err\">" : "<p class=\"ok\">");
        html_text(&h, msg);
        html_raw(&h, "</p>");
    }
    if (!in) {
        web_login_form(r, &h, "/account/login", "address", "Address", false);
        html_end(&h);
        return web_send_page(r, status, &h);
    }
    char err[256];
    bool enabled = false;
    char hex[2 * TOTP_SECRET_LEN + 1] = "";
    store_db *db = store_thread_db(STORE_FILE);
    json_t *apps = db ? app_password_list(db, r->who, err, sizeof err) : NULL;
    if (db)
        store_logins_totp(db, r->who, &enabled, hex, sizeof hex);
    sodium_memzero(hex, sizeof hex);

    html_raw(&h, "<h2>Password</h2><form method=\"post\" action=\"/account/password\">");
    html_csrf(&h, r->csrf);
    html_raw(&h, "<label>Current password <input name=\"current\" type=\"password\" "
                 "autocomplete=\"current-password\" required></label>"
                 "<label>New password <input name=\"new\" type=\"password\" "
                 "autocomplete=\"new-password\" required></label>"
                 "<label>New password again <input name=\"again\" type=\"password\" "
                 "autocomplete=\"new-password\" required></label>"
                 "<button>Change password</button></form>");

    html_raw(&h, "<h2>Two-factor authentication</h2>");
    if (enabled) {
        html_raw(&h, "<p>2FA is on: mail programs log in with app passwords only.</p>");
    } else if (b32) {
        char uri[TOTP_URI_MAX];
        html_raw(&h, "<p>Scan this code with an authenticator app, then type the code it "
                     "shows.</p>");
        if (totp_uri(r->who, b32, uri, sizeof uri) == 0 && !html_qr_svg(&h, uri))
            html_raw(&h, "<p>(the QR code cannot be drawn)</p>");
        html_raw(&h, "<p>Or type the secret: <code>");
        html_text(&h, b32);
        html_raw(&h, "</code></p>");
        sodium_memzero(uri, sizeof uri);
    } else {
        html_raw(&h, "<p>2FA is off.</p><form method=\"post\" action=\"/account/2fa\">");
        html_csrf(&h, r->csrf);
        html_raw(&h, "<button>Set up 2FA</button></form>");
    }
    if (!enabled) {
        html_raw(&h, "<form method=\"post\" action=\"/account/2fa/confirm\">");
        html_csrf(&h, r->csrf);
        html_raw(&h, "<label>Code from the app <input name=\"code\" inputmode=\"numeric\" "
                     "autocomplete=\"one-time-code\"></label><button>Turn 2FA on</button>"
                     "</form>");
    }

    html_raw(&h, "<h2>App passwords</h2>");
    size_t i;
    json_t *ap;
    if (json_array_size(apps) == 0)
        html_raw(&h, "<p>No app passwords.</p>");
    json_array_foreach(apps, i, ap)
    {
        html_raw(&h, "<form class=\"inline\" method=\"post\" "
                     "action=\"/account/app-password/revoke\"><p>");
        html_csrf(&h, r->csrf);
        html_json(&h, json_object_get(ap, "label"));
        html_raw(&h, " (last used ");
        html_time(&h, json_object_get(ap, "last_used"));
        html_raw(&h, ") <input type=\"hidden\" name=\"label\" value=\"");
        html_json(&h, json_object_get(ap, "label"));
        html_raw(&h, "\"><button>Revoke</button></p></form>");
    }
    html_raw(&h, "<form method=\"post\" action=\"/account/app-password/add\">");
    html_csrf(&h, r->csrf);
    html_raw(&h, "<label>Device <input name=\"label\" required maxlength=\"64\"></label>"
                 "<button>Add an app password</button></form>");
    json_decref(apps);
    html_end(&h);
    return web_send_page(r, status, &h);
}

/* user_login - do PW (and CODE when 2FA is on, not used before) log ADDR
 * in?  1, 0, -1 (store).  A suspended account is refused; an expired
 * password is not (it is changed here). */
static int user_login(struct web_req *r, store_db *db, const char *addr, const char *pw,
                      const char *code)
{
    char hash[PASSWORD_HASH_MAX], hex[2 * TOTP_SECRET_LEN + 1] = "";
    bool suspended = false, enabled = false;
    int found = accounts_user_credentials(db, addr, hash, sizeof hash, &suspended);
    if (found < 0)
        return -1;
    bool ok = password_verify(found ? hash : password_dummy_hash(), pw) && found == 1;
    if (ok && store_logins_totp(db, addr, &enabled, hex, sizeof hex) < 0)
        return -1;
    if (ok && enabled)
        ok = totp_check_hex(hex, code ? code : "", time(NULL)) && !web_code_replayed(r, addr, code);
    sodium_memzero(hex, sizeof hex);
    return ok && !suspended;
}

/* login_post - POST /account/login. */
static enum MHD_Result login_post(struct web_req *r)
{
    const char *addr = web_field(r, "address"), *pw = web_field(r, "password");
    const char *code = web_field(r, "code");
    char a[ADDRESS_MAX + 1];
    r->who[0] = '\0'; /* whatever session the browser had, this is a new login */
    if (!web_login_form_ok(r))
        return account_page(r, MHD_HTTP_FORBIDDEN,
                            "The login form had expired (or cookies are off): try again.", true,
                            NULL);
    if (web_login_banned(r))
        return web_message(r, MHD_HTTP_FORBIDDEN, "Refused",
                           "Too many failed logins from your address: it is banned for now.");
    store_db *db = store_thread_db(STORE_FILE);
    int ok = 0;
    if (addr && pw && strlen(pw) <= PASSWORD_MAX && str_copy(a, addr, sizeof a))
        ok = db ? user_login(r, db, str_lower(a), pw, code) : -1;
    if (ok < 0)
        return web_message(r, MHD_HTTP_SERVICE_UNAVAILABLE, "Store unavailable",
                           "The store cannot answer now; try again in a moment.");
    if (ok == 0) {
        web_login_refused(r, addr);
        return account_page(r, MHD_HTTP_UNAUTHORIZED, "Wrong address, password or code.", true,
                            NULL);
    }
    return web_session_start(r, false, a, "/account");
}

/* password_post - POST /account/password: current, new, again. */
static enum MHD_Result password_post(struct web_req *r, store_db *db)
{
    const char *cur = web_field(r, "current"), *pw = web_field(r, "new");
    const char *again = web_field(r, "again");
    char hash[PASSWORD_HASH_MAX], msg[1024], err[512];
    struct config_passwords policy;
    if (cur == NULL || pw == NULL || again == NULL)
        return account_page(r, MHD_HTTP_BAD_REQUEST, "Fill in all three fields.", true, NULL);
    int found = accounts_user_credentials(db, r->who, hash, sizeof hash, &(bool){false});
    if (found != 1 || !password_verify(hash, cur)) {
        web_login_refused(r, r->who);
        return account_page(r, MHD_HTTP_FORBIDDEN, "The current password is wrong.", true, NULL);
    }
    if (strcmp(pw, again) != 0)
        return account_page(r, MHD_HTTP_BAD_REQUEST,
                            "The two new passwords differ; nothing changed.", true, NULL);
    web_settings(r->a, &policy, NULL, 0);
    if (strlen(pw) > PASSWORD_MAX)
        return account_page(r, MHD_HTTP_BAD_REQUEST, "The new password is too long.", true, NULL);
    if (password_policy_check(&policy, r->who, pw, msg, sizeof msg) != 0)
        return account_page(r, MHD_HTTP_BAD_REQUEST, msg, true, NULL);
    /* as floodctl user passwd: a repeat of the last ACCOUNTS_PASSWORD_HISTORY
     * is refused (1, ERR names the rule), else hashed and stored */
    int rc = accounts_user_change_password(db, r->who, pw, err, sizeof err);
    if (rc != 0)
        return account_page(r, rc > 0 ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_SERVICE_UNAVAILABLE,
                            rc > 0 ? err : "The password could not be stored.", true, NULL);
    log_info("event=password_changed user=%s by=web ip=%s", log_quote(r->who), r->ip);
    web_sessions_end_others(r);
    return account_page(r, MHD_HTTP_OK, "Password changed.", false, NULL);
}

/* web_pages_account - GET /account and its POSTs (CSRF already checked). */
enum MHD_Result web_pages_account(struct web_req *r)
{
    char err[512], b32[TOTP_BASE32_MAX], pw[APP_PASSWORD_LEN + 1], msg[256];
    if (r->post && strcmp(r->url, "/account/login") == 0)
        return login_post(r);
    if (r->admin)
        r->who[0] = '\0'; /* an administrator's session is no mail account's */
    if (!r->post && strcmp(r->url, "/account") == 0)
        return account_page(r, MHD_HTTP_OK, NULL, false, NULL);
    if (!r->post || r->who[0] == '\0')
        return r->post ? account_page(r, MHD_HTTP_UNAUTHORIZED, "Log in first.", true, NULL)
                       : web_message(r, MHD_HTTP_NOT_FOUND, "Not found", "No such page.");
    store_db *db = store_thread_db(STORE_FILE);
    if (db == NULL)
        return web_message(r, MHD_HTTP_SERVICE_UNAVAILABLE, "Store unavailable",
                           "The store cannot answer now; try again in a moment.");
    const char *u = r->url;
    if (strcmp(u, "/account/password") == 0)
        return password_post(r, db);
    if (strcmp(u, "/account/2fa") == 0) {
        if (totp_begin(db, r->who, b32, err, sizeof err) < 0)
            return account_page(r, MHD_HTTP_BAD_REQUEST, err, true, NULL);
        enum MHD_Result rc = account_page(r, MHD_HTTP_OK, NULL, false, b32);
        sodium_memzero(b32, sizeof b32);
        return rc;
    }
    if (strcmp(u, "/account/2fa/confirm") == 0) {
        const char *code = web_field(r, "code");
        if (totp_confirm(db, r->who, code ? code : "", time(NULL), err, sizeof err) < 0)
            return account_page(r, MHD_HTTP_BAD_REQUEST,
                                "Wrong code (or no enrolment started): check the phone's clock "
                                "and try again.",
                                true, NULL);
        return account_page(r, MHD_HTTP_OK,
                            "2FA is on: make an app password for each mail program.", false, NULL);
    }
    const char *label = web_field(r, "label");
    if (strcmp(u, "/account/app-password/add") == 0) {
        if (label == NULL || app_password_create(db, r->who, label, pw, err, sizeof err) < 0)
            return account_page(r, MHD_HTTP_BAD_REQUEST, label ? err : "A label is needed.", true,
                                NULL);
        snprintf(msg, sizeof msg,
                 "App password for %.64s (shown once, type it into the "
                 "device now): %s",
                 label, pw);
        sodium_memzero(pw, sizeof pw);
        enum MHD_Result rc = account_page(r, MHD_HTTP_OK, msg, false, NULL);
        sodium_memzero(msg, sizeof msg);
        return rc;
    }
    if (strcmp(u, "/account/app-password/revoke") == 0) {
        if (label == NULL || app_password_revoke(db, r->who, label, err, sizeof err) < 0)
            return account_page(r, MHD_HTTP_BAD_REQUEST, label ? err : "A label is needed.", true,
                                NULL);
        json_decref(
            page_ask(r,
                     json_pack("{s:s, s:s, s:s, s:s}", "cmd", "session.kill", "user", r->who,
                               "app_password", label, "reason", "app_password_revoked"),
                     err, sizeof err));
        return account_page(r, MHD_HTTP_OK, "App password revoked.", false, NULL);
    }
    return web_message(r, MHD_HTTP_NOT_FOUND, "Not found", "No such page.");
}
