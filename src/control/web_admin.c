/* control/web_admin - sessions, logins and the routing of the web admin
 * (see control/web_admin.h).
 *
 * Room: control.  Runs on libmicrohttpd's threads, one per connection:
 * the store is read with the thread's own connection (store_thread_db),
 * the loop's state (bans, live sessions, status) through the control
 * socket, as floodctl does; the SMTP event loop never waits for a page.
 *
 * Sessions live in memory only (a restart logs everyone out).  An id is
 * 32 octets of libsodium's randombytes (256 bits, hex in the cookie), so
 * guessing one is hopeless; ids and CSRF tokens are compared in constant
 * time.  Cookies: HttpOnly (no script reads them), SameSite=Strict (no
 * other site's page sends them; RFC 6265bis 8.8), Secure when web.tls is
 * "implicit".  Every POST but a login must carry the session's CSRF token
 * (a form field "csrf" or the X-CSRF-Token header), else 403.  A login
 * form carries a token of its own, double-submitted as a cookie. */
#include "control/web_admin.h"

#include <netdb.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "accounts/admins.h"
#include "accounts/totp.h"
#include "control/control_client.h"
#include "control/web_admin_internal.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/util.h"
#include "store/admins.h"
#include "store/store.h"

#define SESSIONS_MAX 256      /* at once; the oldest idle one makes room */
#define FORM_MAX (64 * 1024)  /* octets of a POST body */
#define FORM_BUFFER 4096      /* libmicrohttpd's post processor buffer */
#define FIELD_MAX (16 * 1024) /* octets of one field's value */
#define CODES_KEPT 64         /* TOTP codes remembered against a replay */
#define COOKIE_SESSION "fg_session"
#define COOKIE_LOGIN "fg_login"

struct web_session {
    bool used, admin;
    char id[WEB_ID_HEX], csrf[WEB_ID_HEX];
    char who[WEB_WHO_MAX];
    time_t started, last; /* clock_now(): a test moves it with floodgated -T */
};

/* A TOTP code that logged someone in, kept while it is still valid. */
struct used_code {
    char who[WEB_WHO_MAX];
    char code[TOTP_DIGITS + 1];
    time_t at;
};

struct web_admin {
    pthread_mutex_t lock;
    struct web_session sessions[SESSIONS_MAX];
    struct used_code used[CODES_KEPT];
    size_t used_next; /* the oldest, overwritten next */
    char control_path[256];
    /* the settings, swapped by a reload */
    struct config_passwords passwords;
    unsigned idle, lifetime;
    bool tls;
    char hostname[256];
};

/* What a POST collects while its body arrives. */
struct web_conn {
    struct MHD_PostProcessor *pp;
    json_t *form;
    size_t got;
    bool too_big, bad;
};

struct web_admin *web_admin_new(const char *control_path, const struct config *cfg)
{
    struct web_admin *a = calloc(1, sizeof *a);
    if (a == NULL || sodium_init() < 0) {
        free(a);
        return NULL;
    }
    pthread_mutex_init(&a->lock, NULL);
    str_copy(a->control_path, control_path, sizeof a->control_path);
    web_admin_config(a, cfg);
    return a;
}

void web_admin_config(struct web_admin *a, const struct config *cfg)
{
    pthread_mutex_lock(&a->lock);
    a->passwords = cfg->passwords;
    a->idle = cfg->web.session_idle;
    a->lifetime = cfg->web.session_lifetime;
    a->tls = cfg->web.tls == WEB_TLS_IMPLICIT;
    str_copy(a->hostname, cfg->hostname ? cfg->hostname : "", sizeof a->hostname);
    pthread_mutex_unlock(&a->lock);
}

void web_admin_free(struct web_admin *a)
{
    if (a == NULL)
        return;
    sodium_memzero(a->sessions, sizeof a->sessions);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

void web_settings(struct web_admin *a, struct config_passwords *pw, char *hostname, size_t hlen)
{
    pthread_mutex_lock(&a->lock);
    if (pw)
        *pw = a->passwords;
    if (hostname)
        str_copy(hostname, a->hostname, hlen);
    pthread_mutex_unlock(&a->lock);
}

/* random_hex - 32 random octets as 64 hex digits into OUT (WEB_ID_HEX). */
static void random_hex(char *out)
{
    unsigned char raw[(WEB_ID_HEX - 1) / 2];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(out, WEB_ID_HEX, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
}

/* same_token - A and B equal, in a time that does not depend on where
 * they differ (both are WEB_ID_HEX - 1 hex digits when valid). */
static bool same_token(const char *a, const char *b)
{
    if (a == NULL || b == NULL || strlen(a) != WEB_ID_HEX - 1 || strlen(b) != WEB_ID_HEX - 1)
        return false;
    return sodium_memcmp(a, b, WEB_ID_HEX - 1) == 0;
}

/* session_over - why session S ends at NOW: "idle" (web.session_idle
 * without a request), "lifetime" (web.session_lifetime since the login:
 * a stolen cookie kept busy does not last for ever), or NULL while it
 * lasts.  The lock held. */
static const char *session_over(const struct web_admin *a, const struct web_session *s, time_t now)
{
    if (now - s->last > (time_t)a->idle)
        return "idle";
    if (now - s->started > (time_t)a->lifetime)
        return "lifetime";
    return NULL;
}

/* session_find - the live session of ID (the lock held); NULL when none
 * or over (then forgotten). */
static struct web_session *session_find(struct web_admin *a, const char *id, time_t now)
{
    for (size_t i = 0; id && i < SESSIONS_MAX; i++) {
        struct web_session *s = &a->sessions[i];
        if (!s->used || !same_token(s->id, id))
            continue;
        const char *over = session_over(a, s, now);
        if (over) {
            log_info("event=web_session_end who=%s reason=%s", log_quote(s->who), over);
            sodium_memzero(s, sizeof *s);
            return NULL;
        }
        return s;
    }
    return NULL;
}

/* web_sessions_end_others - end every session of the mail user R->who
 * but R's own: after a password change, whoever logged in with the old
 * password (a stolen one, say) is out at once. */
void web_sessions_end_others(struct web_req *r)
{
    const char *mine = MHD_lookup_connection_value(r->c, MHD_COOKIE_KIND, COOKIE_SESSION);
    unsigned ended = 0;
    pthread_mutex_lock(&r->a->lock);
    for (size_t i = 0; i < SESSIONS_MAX; i++) {
        struct web_session *s = &r->a->sessions[i];
        if (s->used && !s->admin && strcmp(s->who, r->who) == 0 &&
            !(mine && same_token(s->id, mine))) {
            sodium_memzero(s, sizeof *s);
            ended++;
        }
    }
    pthread_mutex_unlock(&r->a->lock);
    if (ended)
        log_info("event=web_session_end who=%s reason=password_changed sessions=%u",
                 log_quote(r->who), ended);
}

/* admin_exists - is NAME still an administrator (floodctl admin del ends
 * its sessions at their next request)?  A store that cannot answer says
 * no: refusing is the safe side. */
static bool admin_exists(const char *name)
{
    char hash[256], hex[128];
    store_db *db = store_thread_db(STORE_FILE);
    int found = db ? store_admins_read(db, name, hash, sizeof hash, hex, sizeof hex) : -1;
    sodium_memzero(hex, sizeof hex);
    return found == 1;
}

/* session_of - fill R's who/csrf/admin from its cookie's session. */
static void session_of(struct web_req *r)
{
    const char *id = MHD_lookup_connection_value(r->c, MHD_COOKIE_KIND, COOKIE_SESSION);
    struct web_admin *a = r->a;
    r->who[0] = '\0';
    pthread_mutex_lock(&a->lock);
    time_t now = clock_now();
    struct web_session *s = session_find(a, id, now);
    if (s) {
        s->last = now;
        r->admin = s->admin;
        str_copy(r->who, s->who, sizeof r->who);
        str_copy(r->csrf, s->csrf, sizeof r->csrf);
    }
    pthread_mutex_unlock(&a->lock);
    if (r->who[0] && r->admin && !admin_exists(r->who)) {
        pthread_mutex_lock(&a->lock);
        if ((s = session_find(a, id, now)) != NULL)
            sodium_memzero(s, sizeof *s);
        pthread_mutex_unlock(&a->lock);
        log_info("event=web_session_end who=%s reason=admin_deleted", log_quote(r->who));
        r->who[0] = '\0';
    }
}

/* cookie - the Set-Cookie value NAME=VALUE with our attributes. */
static void cookie(struct web_admin *a, const char *name, const char *value, bool clear, char *out,
                   size_t len)
{
    pthread_mutex_lock(&a->lock);
    bool tls = a->tls;
    pthread_mutex_unlock(&a->lock);
    snprintf(out, len, "%s=%s; Path=/; HttpOnly; SameSite=Strict%s%s", name, value,
             tls ? "; Secure" : "", clear ? "; Max-Age=0" : "");
}

/* respond - STATUS with BODY (copied) and our headers; COOKIE and
 * LOCATION when not NULL. */
static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *body,
                               size_t len, const char *set_cookie, const char *location)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    /* no script runs but the few lines of our own pages; nothing loads
     * from elsewhere (the pages work offline) */
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                            "script-src 'self'; form-action 'self'; frame-ancestors 'none'");
    if (set_cookie)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, set_cookie);
    if (location)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, location);
    enum MHD_Result rc = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

enum MHD_Result web_send_page(struct web_req *r, unsigned status, struct html *h)
{
    size_t len = 0;
    char *body = html_close(h, &len), set[160];
    if (body == NULL)
        return respond(r->c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", 14, NULL, NULL);
    if (r->login_token[0])
        cookie(r->a, COOKIE_LOGIN, r->login_token, false, set, sizeof set);
    enum MHD_Result rc = respond(r->c, status, body, len, r->login_token[0] ? set : NULL, NULL);
    free(body);
    return rc;
}

enum MHD_Result web_redirect(struct web_req *r, const char *location)
{
    return respond(r->c, MHD_HTTP_SEE_OTHER, "", 0, NULL, location);
}

enum MHD_Result web_message(struct web_req *r, unsigned status, const char *title, const char *text)
{
    struct html h;
    if (html_open(&h) < 0)
        return respond(r->c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", 14, NULL, NULL);
    html_begin(&h, title, r->who[0] ? r->who : NULL, r->csrf, r->admin && r->who[0]);
    html_raw(&h, "<p>");
    html_text(&h, text);
    html_raw(&h, "</p><p><a href=\"/\">Back</a></p>");
    html_end(&h);
    return web_send_page(r, status, &h);
}

const char *web_field(struct web_req *r, const char *key)
{
    json_t *v = json_object_get(r->form, key);
    if (json_is_array(v))
        v = json_array_get(v, 0);
    return json_string_value(v);
}

const char *web_arg(struct web_req *r, const char *key)
{
    return MHD_lookup_connection_value(r->c, MHD_GET_ARGUMENT_KIND, key);
}

json_t *web_admin_ask(struct web_admin *a, json_t *req, char *err, size_t errlen)
{
    return control_ask(a->control_path, req, err, errlen);
}

json_t *page_ask(struct web_req *r, json_t *req, char *err, size_t errlen)
{
    if (req && r->admin && r->who[0])
        json_object_set_new(req, "admin", json_string(r->who));
    return web_admin_ask(r->a, req, err, errlen);
}

bool web_login_banned(struct web_req *r)
{
    char err[256];
    json_t *res = control_ask(r->a->control_path,
                              json_pack("{s:s, s:s}", "cmd", "web.login_check", "ip", r->ip), err,
                              sizeof err);
    bool banned = json_is_true(json_object_get(res, "banned"));
    json_decref(res);
    return banned;
}

bool web_code_replayed(struct web_req *r, const char *who, const char *code)
{
    /* a code is accepted for TOTP_WINDOW steps either side of its own:
     * once used, it is refused for that long (RFC 6238 5.2) */
    const time_t valid = (2 * TOTP_WINDOW + 1) * TOTP_STEP;
    struct web_admin *a = r->a;
    time_t now = time(NULL);
    bool seen = false;
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < CODES_KEPT && !seen; i++) {
        struct used_code *u = &a->used[i];
        seen =
            u->at && now - u->at <= valid && strcmp(u->code, code) == 0 && strcmp(u->who, who) == 0;
    }
    if (!seen) {
        struct used_code *u = &a->used[a->used_next];
        a->used_next = (a->used_next + 1) % CODES_KEPT;
        str_copy(u->who, who, sizeof u->who);
        str_copy(u->code, code, sizeof u->code);
        u->at = now;
    }
    pthread_mutex_unlock(&a->lock);
    return seen;
}

void web_login_refused(struct web_req *r, const char *who)
{
    char err[256];
    log_info("event=web_login_failed ip=%s who=%s", r->ip, log_quote(who ? who : ""));
    json_decref(control_ask(r->a->control_path,
                            json_pack("{s:s, s:s}", "cmd", "web.login_failed", "ip", r->ip), err,
                            sizeof err));
}

enum MHD_Result web_session_start(struct web_req *r, bool admin, const char *who,
                                  const char *location)
{
    struct web_admin *a = r->a;
    struct web_session *slot = NULL;
    char set[200], id[WEB_ID_HEX];
    time_t now = clock_now();
    pthread_mutex_lock(&a->lock);
    /* a free slot, else the one idle longest */
    for (size_t i = 0; i < SESSIONS_MAX; i++) {
        struct web_session *s = &a->sessions[i];
        if (s->used && session_over(a, s, now))
            sodium_memzero(s, sizeof *s);
        if (!s->used) {
            slot = s;
            break;
        }
        if (slot == NULL || s->last < slot->last)
            slot = s;
    }
    sodium_memzero(slot, sizeof *slot);
    slot->used = true;
    slot->admin = admin;
    slot->started = slot->last = now;
    str_copy(slot->who, who, sizeof slot->who);
    random_hex(slot->id);
    random_hex(slot->csrf);
    memcpy(id, slot->id, sizeof id);
    pthread_mutex_unlock(&a->lock);
    cookie(a, COOKIE_SESSION, id, false, set, sizeof set);
    sodium_memzero(id, sizeof id);
    log_info("event=web_login who=%s kind=%s ip=%s", log_quote(who), admin ? "admin" : "user",
             r->ip);
    return respond(r->c, MHD_HTTP_SEE_OTHER, "", 0, set, location);
}

void web_login_form(struct web_req *r, struct html *h, const char *action, const char *who_field,
                    const char *who_label, bool code_required)
{
    random_hex(r->login_token);
    html_raw(h, "<form method=\"post\" action=\"");
    html_text(h, action);
    html_raw(h, "\"><input type=\"hidden\" name=\"login_token\" value=\"");
    html_raw(h, r->login_token);
    html_raw(h, "\"><label>");
    html_text(h, who_label);
    html_raw(h, " <input name=\"");
    html_text(h, who_field);
    html_raw(h, "\" autocomplete=\"username\" required></label>"
                "<label>Password <input name=\"password\" type=\"password\" "
                "autocomplete=\"current-password\" required></label><label>Code from the app");
    html_raw(h, code_required ? "" : " (when 2FA is on)");
    html_raw(h, " <input name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\"");
    html_raw(h, code_required ? " required" : "");
    html_raw(h, "></label><button>Log in</button></form>");
}

bool web_login_form_ok(struct web_req *r)
{
    return same_token(MHD_lookup_connection_value(r->c, MHD_COOKIE_KIND, COOKIE_LOGIN),
                      web_field(r, "login_token"));
}

/* ---- the administrator's login ---- */

/* login_page - the form of / (STATUS, with ERROR when not NULL). */
static enum MHD_Result login_page(struct web_req *r, unsigned status, const char *error)
{
    struct html h;
    if (html_open(&h) < 0)
        return MHD_NO;
    html_begin(&h, "Administrator login", NULL, NULL, false);
    if (error) {
        html_raw(&h, "<p class=\"err\">");
        html_text(&h, error);
        html_raw(&h, "</p>");
    }
    web_login_form(r, &h, "/login", "name", "Name", true);
    html_raw(&h, "<p>Mail users: change your password and 2FA at <a href=\"/account\">"
                 "/account</a>.</p>");
    html_end(&h);
    return web_send_page(r, status, &h);
}

/* code_of - the TOTP code of the form without the spaces apps show. */
static void code_of(struct web_req *r, char *code, size_t len)
{
    const char *c = web_field(r, "code");
    size_t o = 0;
    for (; c && *c && o + 1 < len; c++)
        if (*c != ' ')
            code[o++] = *c;
    code[o] = '\0';
}

/* admin_login_post - POST /login: name, password, code. */
static enum MHD_Result admin_login_post(struct web_req *r)
{
    const char *name = web_field(r, "name"), *pw = web_field(r, "password");
    char code[16];
    code_of(r, code, sizeof code);
    if (!web_login_form_ok(r))
        return login_page(r, MHD_HTTP_FORBIDDEN,
                          "The login form had expired (or cookies are off): try again.");
    if (web_login_banned(r))
        return web_message(r, MHD_HTTP_FORBIDDEN, "Refused",
                           "Too many failed logins from your address: it is banned for now.");
    store_db *db = store_thread_db(STORE_FILE);
    time_t now = time(NULL);
    int ok = db && name && pw ? admin_login(db, name, pw, code, now) : db ? 0 : -1;
    if (ok < 0)
        return web_message(r, MHD_HTTP_SERVICE_UNAVAILABLE, "Store unavailable",
                           "The store cannot answer now; try again in a moment.");
    if (ok == 1 && web_code_replayed(r, name, code)) {
        log_info("event=web_login_code_replayed who=%s ip=%s", log_quote(name), r->ip);
        ok = 0;
    }
    if (ok == 0) {
        web_login_refused(r, name);
        return login_page(r, MHD_HTTP_UNAUTHORIZED, "Wrong name, password or code.");
    }
    admin_logged_in(db, name, now);
    return web_session_start(r, true, name, "/admin/");
}

/* logout_post - POST /logout: the session ends now. */
static enum MHD_Result logout_post(struct web_req *r)
{
    const char *id = MHD_lookup_connection_value(r->c, MHD_COOKIE_KIND, COOKIE_SESSION);
    char set[200];
    pthread_mutex_lock(&r->a->lock);
    struct web_session *s = session_find(r->a, id, clock_now());
    if (s)
        sodium_memzero(s, sizeof *s);
    pthread_mutex_unlock(&r->a->lock);
    log_info("event=web_session_end who=%s reason=logout", log_quote(r->who));
    cookie(r->a, COOKIE_SESSION, "", true, set, sizeof set);
    return respond(r->c, MHD_HTTP_SEE_OTHER, "", 0, set, r->admin ? "/" : "/account");
}

/* ---- requests ---- */

/* on_field - one piece of a POST field (libmicrohttpd's iterator): a
 * value arriving in pieces is appended to; a repeated key makes an array. */
static enum MHD_Result on_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *filename, const char *content_type,
                                const char *transfer_encoding, const char *data, uint64_t off,
                                size_t size)
{
    struct web_conn *wc = cls;
    json_t *have = json_object_get(wc->form, key);
    json_t *last = json_is_array(have) ? json_array_get(have, json_array_size(have) - 1) : have;
    if (off > 0 && json_is_string(last)) {
        size_t n = json_string_length(last);
        if (n + size > FIELD_MAX) {
            wc->too_big = true;
            return MHD_NO;
        }
        char *joined = malloc(n + size + 1);
        if (joined == NULL)
            return MHD_NO;
        memcpy(joined, json_string_value(last), n);
        memcpy(joined + n, data, size);
        joined[n + size] = '\0';
        int rc = json_string_setn(last, joined, n + size);
        free(joined);
        if (rc < 0)
            wc->bad = true; /* not UTF-8 */
        return rc < 0 ? MHD_NO : MHD_YES;
    }
    json_t *v = json_stringn(data ? data : "", size);
    if (v == NULL) {
        wc->bad = true;
        return MHD_NO;
    }
    if (have == NULL)
        return json_object_set_new(wc->form, key, v) < 0 ? MHD_NO : MHD_YES;
    if (!json_is_array(have)) {
        json_t *arr = json_array();
        json_array_append(arr, have);
        json_object_set_new(wc->form, key, arr);
        have = arr;
    }
    return json_array_append_new(have, v) < 0 ? MHD_NO : MHD_YES;
}

void web_admin_completed(void *state)
{
    struct web_conn *wc = state;
    if (wc == NULL)
        return;
    if (wc->pp)
        MHD_destroy_post_processor(wc->pp);
    json_decref(wc->form);
    free(wc);
}

/* client_ip - the client's address into R. */
static void client_ip(struct web_req *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    str_copy(r->ip, "unknown", sizeof r->ip);
    if (ci && ci->client_addr) {
        socklen_t len = ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                               : sizeof(struct sockaddr_in);
        if (getnameinfo(ci->client_addr, len, r->ip, sizeof r->ip, NULL, 0, NI_NUMERICHOST) != 0)
            str_copy(r->ip, "unknown", sizeof r->ip);
    }
}

/* csrf_ok - does the POST of R carry its session's CSRF token? */
static bool csrf_ok(struct web_req *r)
{
    const char *t = web_field(r, "csrf");
    if (t == NULL)
        t = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "X-CSRF-Token");
    return r->who[0] && same_token(t, r->csrf);
}

/* route - answer R once the whole request is in. */
static enum MHD_Result route(struct web_req *r)
{
    const char *u = r->url;
    session_of(r);
    if (r->post && strcmp(u, "/login") == 0)
        return admin_login_post(r);
    if (r->post && strcmp(u, "/account/login") == 0)
        return web_pages_account(r);
    if (r->post && !csrf_ok(r))
        return web_message(r, MHD_HTTP_FORBIDDEN, "Forbidden",
                           "The request carries no valid CSRF token: reload the page and try "
                           "again.");
    if (r->post && strcmp(u, "/logout") == 0)
        return logout_post(r);
    if (strcmp(u, "/account") == 0 || strncmp(u, "/account/", 9) == 0)
        return web_pages_account(r);
    if (strcmp(u, "/") == 0 || strcmp(u, "/login") == 0) {
        if (r->post)
            return web_message(r, MHD_HTTP_NOT_FOUND, "Not found", "No such page.");
        return r->admin && r->who[0] ? web_redirect(r, "/admin/")
                                     : login_page(r, MHD_HTTP_OK, NULL);
    }
    if (strncmp(u, "/admin/", 7) == 0) {
        if (!r->admin || r->who[0] == '\0')
            return r->post ? web_message(r, MHD_HTTP_UNAUTHORIZED, "Log in", "Log in first.")
                           : web_redirect(r, "/");
        return web_pages_admin(r);
    }
    return web_message(r, MHD_HTTP_NOT_FOUND, "Not found", "No such page.");
}

enum MHD_Result web_admin_request(struct web_admin *a, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *upload, size_t *upload_size,
                                  void **state)
{
    struct web_req r = {.a = a, .c = c, .url = url};
    r.post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    if (!r.post && strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return web_message(&r, MHD_HTTP_METHOD_NOT_ALLOWED, "Not allowed",
                           "Only GET, HEAD and POST.");
    struct web_conn *wc = *state;
    if (r.post) {
        if (wc == NULL) { /* the headers: set up the body's parser */
            if ((wc = calloc(1, sizeof *wc)) == NULL || (wc->form = json_object()) == NULL) {
                free(wc);
                return MHD_NO;
            }
            *state = wc;
            wc->pp = MHD_create_post_processor(c, FORM_BUFFER, on_field, wc);
            if (wc->pp == NULL) /* not a form: no parser for it, refused at the end */
                wc->bad = true;
            return MHD_YES;
        }
        if (*upload_size > 0) {
            wc->got += *upload_size;
            if (wc->got > FORM_MAX)
                wc->too_big = true;
            else if (!wc->bad && !wc->too_big &&
                     MHD_post_process(wc->pp, upload, *upload_size) != MHD_YES)
                wc->bad = true;
            *upload_size = 0;
            return MHD_YES;
        }
        if (wc->too_big)
            return web_message(&r, MHD_HTTP_CONTENT_TOO_LARGE, "Too large",
                               "The form is larger than 64 KiB.");
        if (wc->bad)
            return web_message(&r, MHD_HTTP_BAD_REQUEST, "Bad request",
                               "Send an HTML form (application/x-www-form-urlencoded, UTF-8).");
        r.form = wc->form;
    }
    client_ip(&r);
    return route(&r);
}

bool web_admin_api_session(struct web_admin *a, struct MHD_Connection *c, bool post, char *who,
                           size_t len, bool *csrf_bad)
{
    struct web_req r = {.a = a, .c = c};
    *csrf_bad = false;
    session_of(&r);
    if (!r.admin || r.who[0] == '\0')
        return false;
    if (post && !csrf_ok(&r)) {
        *csrf_bad = true;
        return false;
    }
    str_copy(who, r.who, len);
    return true;
}
