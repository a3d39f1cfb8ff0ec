/* control/web_pages - the administrator's pages of the web admin:
 * dashboard, queue (with the Authenticated Sender and Sender IP columns,
 * filters, group-by and bulk hold/release/retry on a selection or on all
 * a filter selects), one message, quarantine, incidents (release,
 * dismiss), bans (add, lift), live sessions (kill), users.
 *
 * Room: control.  Server-rendered HTML; every value from a message, a
 * client or the store is escaped (html_text).  Reads come from the same
 * control commands floodctl reads (status, monitor, queue.list,
 * queue.top, session.list) or the same typed store functions floodctl
 * calls, on this thread's own store connection; actions are the JSON
 * API's operations (web_op_*: control/admin_ops and queue_act, as
 * floodctl's) and carry the administrator's name, so the log and the
 * audit trail say who acted. */
#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accounts/accounts.h"
#include "accounts/login_state.h"
#include "control/web_admin_internal.h"
#include "control/web_internal.h"
#include "core/log.h"
#include "core/util.h"
#include "queue/queue_actions.h"
#include "queue/queue_filter.h"
#include "store/ban_state.h"
#include "store/body.h"
#include "store/incidents.h"
#include "store/store.h"

#define SELECTION_MAX 500      /* messages in one bulk action from a page */
#define MESSAGES_SHOWN 200     /* messages listed on the queue page */
#define GROUPS_SHOWN 100       /* groups listed by the queue page's group-by */
#define BODY_SHOWN (64 * 1024) /* octets of a message shown on its page */

/* A column of a table: the member KEY under the heading HEAD; TIME: a
 * Unix time. */
struct column {
    const char *key, *head;
    bool time;
};

/* cell - one value of a row. */
static void cell(struct html *h, json_t *row, const struct column *col)
{
    json_t *v = json_object_get(row, col->key);
    html_raw(h, "<td>");
    if (col->time && json_is_integer(v))
        html_time(h, v);
    else
        html_json(h, v);
    html_raw(h, "</td>");
}

/* table - ROWS under the N columns COLS; EMPTY when there are none. */
static void table(struct html *h, json_t *rows, const struct column *cols, size_t n,
                  const char *empty)
{
    size_t i;
    json_t *row;
    if (json_array_size(rows) == 0) {
        html_raw(h, "<p>");
        html_text(h, empty);
        html_raw(h, "</p>");
        return;
    }
    html_raw(h, "<table><tr>");
    for (size_t c = 0; c < n; c++) {
        html_raw(h, "<th>");
        html_text(h, cols[c].head);
        html_raw(h, "</th>");
    }
    html_raw(h, "</tr>");
    json_array_foreach(rows, i, row)
    {
        html_raw(h, "<tr>");
        for (size_t c = 0; c < n; c++)
            cell(h, row, &cols[c]);
        html_raw(h, "</tr>\n");
    }
    html_raw(h, "</table>");
}

/* facts - an object's members as a definition list (nested ones nested). */
static void facts(struct html *h, json_t *o, int depth)
{
    const char *k;
    json_t *v;
    if (!json_is_object(o) || depth > 3) {
        html_json(h, o);
        return;
    }
    html_raw(h, "<dl>");
    json_object_foreach(o, k, v)
    {
        html_raw(h, "<dt>");
        html_text(h, k);
        html_raw(h, "</dt><dd>");
        if (json_is_array(v)) {
            size_t i;
            json_t *e;
            html_raw(h, "<ul>");
            json_array_foreach(v, i, e)
            {
                html_raw(h, "<li>");
                facts(h, e, depth + 1);
                html_raw(h, "</li>");
            }
            html_raw(h, "</ul>");
        } else {
            facts(h, v, depth + 1);
        }
        html_raw(h, "</dd>");
    }
    html_raw(h, "</dl>");
}

/* cells - the members KEYS (NULL-ended) of ROW, one cell each. */
static void cells(struct html *h, json_t *row, const char *const *keys)
{
    for (; *keys; keys++) {
        html_raw(h, "<td>");
        html_json(h, json_object_get(row, *keys));
        html_raw(h, "</td>");
    }
}

/* row_action - a table row: the members KEYS (NULL-ended) of ROW and a
 * button LABEL that posts NAME = ROW's member NAME to ACTION. */
static void row_action(struct web_req *r, struct html *h, json_t *row, const char *const *keys,
                       const char *action, const char *name, const char *label)
{
    html_raw(h, "<tr>");
    cells(h, row, keys);
    html_raw(h, "<td><form class=\"inline\" method=\"post\" action=\"");
    html_raw(h, action);
    html_raw(h, "\">");
    html_csrf(h, r->csrf);
    html_raw(h, "<input type=\"hidden\" name=\"");
    html_raw(h, name);
    html_raw(h, "\" value=\"");
    html_json(h, json_object_get(row, name));
    html_raw(h, "\"><button>");
    html_raw(h, label);
    html_raw(h, "</button></form></td></tr>\n");
}

/* page_done - close H's table when ROWS had any, end the page, send it
 * (200) and drop ROWS. */
static enum MHD_Result page_done(struct web_req *r, struct html *h, json_t *rows)
{
    if (json_array_size(rows) > 0)
        html_raw(h, "</table>");
    html_end(h);
    json_decref(rows);
    return web_send_page(r, MHD_HTTP_OK, h);
}

/* number_of - ARG as a positive whole number below 2^53 (JSON's exact
 * integers) into *N; false otherwise. */
static bool number_of(const char *arg, uint64_t *n)
{
    return arg && parse_u64(arg, strlen(arg), n) == 0 && *n > 0 && *n <= (1ull << 53);
}

/* page_start - H opened with the frame of TITLE; -1 out of memory. */
static int page_start(struct web_req *r, struct html *h, const char *title)
{
    if (html_open(h) < 0)
        return -1;
    html_begin(h, title, r->who, r->csrf, true);
    return 0;
}

/* done_sig - in HEX, HMAC-SHA256 of TEXT keyed with this session's CSRF
 * token (secret, one per session): the notice of an action is shown only
 * when our own redirect signed it, so that a link from elsewhere cannot
 * put words of its choosing in the "ok" box of an admin's page. */
static void done_sig(const struct web_req *r, const char *text, char hex[WEB_ID_HEX])
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)r->csrf, strlen(r->csrf));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)text, strlen(text));
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(hex, WEB_ID_HEX, mac, sizeof mac);
}

/* notice - the outcome of the last action (?done=TEXT&sig=HMAC from our
 * redirect); nothing when the signature is missing or wrong. */
static void notice(struct web_req *r, struct html *h)
{
    const char *done = web_arg(r, "done"), *sig = web_arg(r, "sig");
    char want[WEB_ID_HEX];
    if (done == NULL || sig == NULL || r->csrf[0] == '\0' || strlen(sig) != WEB_ID_HEX - 1)
        return;
    done_sig(r, done, want);
    if (sodium_memcmp(want, sig, WEB_ID_HEX - 1) != 0)
        return;
    html_raw(h, "<p class=\"ok\">");
    html_text(h, done);
    html_raw(h, "</p>");
}

/* list_start - H opened as the page TITLE for the rows of LIST (dropped
 * when memory runs out: -1), with the notice of the last action, what
 * BEFORE adds (a form; NULL: nothing), and EMPTY when LIST has no rows,
 * else the opening of their table: HEAD, its headings.  page_done ends it. */
static int list_start(struct web_req *r, struct html *h, const char *title, json_t *list,
                      void (*before)(struct web_req *r, struct html *h), const char *empty,
                      const char *head)
{
    if (page_start(r, h, title) < 0) {
        json_decref(list);
        return -1;
    }
    notice(r, h);
    if (before)
        before(r, h);
    if (json_array_size(list) == 0) {
        html_raw(h, "<p>");
        html_text(h, empty);
        html_raw(h, "</p>");
    } else {
        html_raw(h, "<table><tr>");
        html_raw(h, head);
        html_raw(h, "</tr>");
    }
    return 0;
}

/* redirect_done - 303 to PATH?done=TEXT&sig=HMAC (done_sig); PATH may
 * have a query of its own. */
static enum MHD_Result redirect_done(struct web_req *r, const char *path, const char *text)
{
    struct html h;
    size_t len = 0;
    char sig[WEB_ID_HEX];
    if (html_open(&h) < 0)
        return MHD_NO;
    done_sig(r, text, sig);
    html_raw(&h, path);
    html_raw(&h, strchr(path, '?') ? "&done=" : "?done=");
    html_url(&h, text);
    html_raw(&h, "&sig=");
    html_raw(&h, sig);
    char *loc = html_close(&h, &len);
    if (loc == NULL)
        return MHD_NO;
    enum MHD_Result rc = web_redirect(r, loc);
    free(loc);
    return rc;
}

/* unavailable - the daemon or the store did not answer (ERR). */
static enum MHD_Result unavailable(struct web_req *r, const char *err)
{
    return web_message(r, MHD_HTTP_SERVICE_UNAVAILABLE, "Unavailable",
                       err && err[0] ? err : "floodgated did not answer");
}

/* form_op - OP (the API's operation) with the form fields KEYS
 * (NULL-ended) as its parameters, by this administrator: only those
 * reach the audit trail, never the CSRF token.  Its result, or NULL
 * after answering R with the refusal, its status and words (*RC). */
static json_t *form_op(struct web_req *r, json_t *(*op)(struct web_op *o), const char *const *keys,
                       enum MHD_Result *rc)
{
    json_t *q = json_object(), *out = NULL;
    struct web_op o;
    for (; q && *keys; keys++) {
        const char *v = web_field(r, *keys);
        if (v && json_object_set_new(q, *keys, json_string(v)) < 0) {
            json_decref(q);
            q = NULL;
        }
    }
    if (q == NULL) {
        *rc = MHD_NO;
        return NULL;
    }
    if (web_op_begin(&o, r->a, r->who, q))
        out = op(&o);
    json_decref(q);
    if (out == NULL) {
        unsigned status = o.status ? (unsigned)o.status : MHD_HTTP_INTERNAL_SERVER_ERROR;
        *rc = web_message(r, status,
                          status == MHD_HTTP_BAD_REQUEST ? "Bad request"
                          : status == MHD_HTTP_NOT_FOUND ? "Not found"
                                                         : "Refused",
                          o.err[0] ? o.err : "failed");
    }
    return out;
}

/* ---- dashboard ---- */

/* dashboard - the monitor's answer (its one store read: the open
 * incidents and the queue by state; the rates from the loop) and the
 * loop's figures of the status ("store": false, for the status would read
 * the same queue counts again). */
static enum MHD_Result dashboard(struct web_req *r)
{
    char err[512] = "", err2[512] = "";
    struct html h;
    json_t *mon = page_ask(r, json_pack("{s:s}", "cmd", "monitor"), err, sizeof err);
    json_t *st =
        page_ask(r, json_pack("{s:s, s:b}", "cmd", "status", "store", 0), err2, sizeof err2);
    if (page_start(r, &h, "Dashboard") < 0) {
        json_decref(st);
        json_decref(mon);
        return MHD_NO;
    }
    if (mon == NULL || st == NULL) {
        html_raw(&h, "<p class=\"err\">");
        html_text(&h, mon ? err2 : err);
        html_raw(&h, "</p>");
    }
    html_raw(&h, "<h2>Rates</h2>");
    facts(&h, json_object_get(mon, "per_second"), 0);
    html_raw(&h, "<h2>Queue by state</h2>");
    facts(&h, json_object_get(mon, "queue"), 0);
    html_raw(&h, "<h2>Open incidents</h2>");
    json_t *inc = json_object_get(mon, "incidents");
    static const struct column inc_cols[] = {{"id", "ID", false},
                                             {"subject", "Subject", false},
                                             {"state", "State", false},
                                             {"opened", "Opened", false},
                                             {"score", "Score", false}};
    table(&h, json_is_array(inc) ? inc : NULL, inc_cols, 5, "No open incidents.");
    html_raw(&h, "<p><a href=\"/admin/incidents\">All incidents</a></p><h2>Blocklists</h2>");
    json_t *bl = json_object_get(st, "blocklists");
    if (bl)
        facts(&h, bl, 0);
    else
        html_raw(&h, "<p>No blocklist check has run (see reputation in floodgate.conf).</p>");
    html_raw(&h, "<h2>Server</h2>");
    json_t *server =
        json_pack("{s:O*, s:O*, s:O*, s:O*}", "uptime", json_object_get(st, "uptime"),
                  "connections", json_object_get(st, "connections"), "messages_accepted",
                  json_object_get(st, "messages_accepted"), "store", json_object_get(st, "store"));
    facts(&h, server, 0);
    json_decref(server);
    html_end(&h);
    json_decref(st);
    json_decref(mon);
    return web_send_page(r, MHD_HTTP_OK, &h);
}

/* ---- queue ---- */

/* The filters of the queue page: query parameters as queue.list takes
 * them ("unauthenticated" is a tick: "1"). */
static const char *const queue_filters[] = {
    "state",    "auth_user",       "ip", "from", "rcpt", "rcpt_domain", "subject",
    "listener", "unauthenticated", NULL};

/* The page's group-by (queue.top's, as floodctl queue top --by): the
 * grouping, its heading, the filter that selects one group. */
static const struct {
    const char *by, *head, *filter;
} groupings[] = {
    {"auth-user", "Authenticated sender", "auth_user"},
    {"from", "Sender", "from"},
    {"ip", "Client IP", "ip"},
    {"rcpt-domain", "Recipient domain", "rcpt_domain"},
};

/* queue_request - CMD with the page's filters from the query of R (or,
 * FROM_FORM, from the fields of its POST): NULL when out of memory. */
static json_t *queue_request(struct web_req *r, const char *cmd, bool from_form)
{
    json_t *req = json_pack("{s:s}", "cmd", cmd);
    for (const char *const *f = queue_filters; req && *f; f++) {
        const char *v = from_form ? web_field(r, *f) : web_arg(r, *f);
        bool tick = strcmp(*f, "unauthenticated") == 0;
        if (v == NULL || v[0] == '\0' || (tick && strcmp(v, "1") != 0))
            continue; /* an unticked box selects nothing */
        json_object_set_new(req, *f, tick ? json_true() : json_string(v));
    }
    return req;
}

/* filter_link - the queue page's URL with R's filters and KEY=VALUE (which
 * replaces KEY's own), escaped for an href. */
static void filter_link(struct web_req *r, struct html *h, const char *key, const char *value)
{
    bool first = true;
    html_raw(h, "/admin/queue");
    for (const char *const *f = queue_filters; *f; f++) {
        const char *v = strcmp(*f, key) == 0 ? value : web_arg(r, *f);
        if (v == NULL || v[0] == '\0')
            continue;
        html_raw(h, first ? "?" : "&amp;");
        html_raw(h, *f);
        html_raw(h, "=");
        html_url(h, v);
        first = false;
    }
}

/* filter_form - the filter inputs, filled with the current values, and
 * the group-by choice. */
static void filter_form(struct web_req *r, struct html *h)
{
    const char *group = web_arg(r, "group");
    html_raw(h, "<form method=\"get\" action=\"/admin/queue\">");
    for (const char *const *f = queue_filters; *f; f++) {
        const char *v = web_arg(r, *f);
        html_raw(h, "<label class=\"inline\">");
        html_text(h, *f);
        if (strcmp(*f, "unauthenticated") == 0) {
            html_raw(h, " <input type=\"checkbox\" name=\"unauthenticated\" value=\"1\"");
            html_raw(h, v && strcmp(v, "1") == 0 ? " checked></label> " : "></label> ");
            continue;
        }
        html_raw(h, " <input name=\"");
        html_text(h, *f);
        html_raw(h, "\" value=\"");
        html_text(h, v ? v : "");
        html_raw(h, "\"></label> ");
    }
    html_raw(h, "<label class=\"inline\">group by <select name=\"group\">"
                "<option value=\"\">(messages)</option>");
    for (size_t i = 0; i < sizeof groupings / sizeof groupings[0]; i++) {
        html_raw(h, "<option value=\"");
        html_raw(h, groupings[i].by);
        html_raw(h, group && strcmp(group, groupings[i].by) == 0 ? "\" selected>" : "\">");
        html_text(h, groupings[i].head);
        html_raw(h, "</option>");
    }
    html_raw(h, "</select></label> <button>Filter</button></form>");
}

/* recipients_cell - the recipients of message M, with their states. */
static void recipients_cell(struct html *h, json_t *m)
{
    size_t i;
    json_t *rc;
    html_raw(h, "<td>");
    json_array_foreach(json_object_get(m, "recipients"), i, rc)
    {
        html_raw(h, i ? "<br>" : "");
        html_json(h, json_object_get(rc, "address"));
        html_raw(h, " (");
        html_json(h, json_object_get(rc, "state"));
        html_raw(h, ")");
    }
    html_raw(h, "</td>");
}

/* queue_groups - ?group=BY: the selection in groups (queue.top), the
 * biggest first, each with its count and a link to the queue filtered to
 * it (where the bulk actions act on the group). */
static enum MHD_Result queue_groups(struct web_req *r, size_t g)
{
    char err[512] = "";
    json_t *req = queue_request(r, "queue.top", false);
    if (req) {
        json_object_set_new(req, "by", json_string(groupings[g].by));
        json_object_set_new(req, "top", json_integer(GROUPS_SHOWN));
    }
    json_t *top = page_ask(r, req, err, sizeof err);
    if (top == NULL)
        return unavailable(r, err);
    struct html h;
    char head[200];
    snprintf(head, sizeof head, "<th>%s</th><th>Messages</th><th>Share</th><th>Oldest</th>",
             groupings[g].head);
    if (list_start(r, &h, "Queue", top, filter_form, "No messages match.", head) < 0)
        return MHD_NO;
    size_t i;
    json_t *grp;
    json_array_foreach(top, i, grp)
    {
        const char *key = json_string_value(json_object_get(grp, "key"));
        bool none = key == NULL || key[0] == '\0';
        html_raw(&h, "<tr><td><a href=\"");
        /* no authenticated sender: the messages sent without AUTH */
        if (none && strcmp(groupings[g].filter, "auth_user") == 0)
            filter_link(r, &h, "unauthenticated", "1");
        else
            filter_link(r, &h, groupings[g].filter, none ? "" : key);
        html_raw(&h, "\">");
        html_text(&h, none ? "(none)" : key);
        html_fmt(&h, "</a></td><td>%lld</td><td>%.1f%%</td><td>",
                 (long long)json_integer_value(json_object_get(grp, "messages")),
                 100 * json_number_value(json_object_get(grp, "share")));
        html_time(&h, json_object_get(grp, "oldest"));
        html_raw(&h, "</td></tr>\n");
    }
    return page_done(r, &h, top);
}

/* hidden_filters - R's filters as hidden fields of a form (the "all that
 * match" actions); false when there is none. */
static bool hidden_filters(struct web_req *r, struct html *h)
{
    bool any = false;
    for (const char *const *f = queue_filters; *f; f++) {
        const char *v = web_arg(r, *f);
        if (v == NULL || v[0] == '\0')
            continue;
        html_raw(h, "<input type=\"hidden\" name=\"");
        html_raw(h, *f);
        html_raw(h, "\" value=\"");
        html_text(h, v);
        html_raw(h, "\">");
        any = true;
    }
    return any;
}

static enum MHD_Result queue_page(struct web_req *r)
{
    const char *group = web_arg(r, "group");
    for (size_t g = 0; group && group[0] && g < sizeof groupings / sizeof groupings[0]; g++)
        if (strcmp(group, groupings[g].by) == 0)
            return queue_groups(r, g);
    if (group && group[0])
        return web_message(r, MHD_HTTP_BAD_REQUEST, "Bad request",
                           "group: auth-user, from, ip or rcpt-domain");
    char err[512] = "";
    json_t *req = queue_request(r, "queue.list", false);
    if (req)
        json_object_set_new(req, "limit", json_integer(MESSAGES_SHOWN));
    json_t *list = page_ask(r, req, err, sizeof err);
    if (list == NULL)
        return unavailable(r, err);
    json_t *rows = json_is_array(list) ? list : json_object_get(list, "messages");
    struct html h;
    if (page_start(r, &h, "Queue") < 0) {
        json_decref(list);
        return MHD_NO;
    }
    notice(r, &h);
    filter_form(r, &h);
    static const struct column cols[] = {{"created", "Arrived", true},
                                         {"sender", "From", false},
                                         {"auth_user", "Authenticated Sender", false},
                                         {"client_ip", "Sender IP", false},
                                         {"subject", "Subject", false},
                                         {"size", "Size", false}};
    size_t i, n = sizeof cols / sizeof cols[0];
    json_t *m;
    if (json_array_size(rows) == 0) {
        html_raw(&h, "<p>No messages match.</p>");
    } else {
        html_raw(&h, "<form method=\"post\" action=\"/admin/queue/action\">");
        html_csrf(&h, r->csrf);
        html_raw(&h, "<table><tr><th>Select</th><th>ID</th>");
        for (size_t c = 0; c < n; c++) {
            html_raw(&h, "<th>");
            html_text(&h, cols[c].head);
            html_raw(&h, "</th>");
        }
        html_raw(&h, "<th>Recipients</th></tr>");
        json_array_foreach(rows, i, m)
        {
            const char *id = json_string_value(json_object_get(m, "id"));
            html_raw(&h, "<tr><td><input type=\"checkbox\" name=\"id\" value=\"");
            html_text(&h, id);
            html_raw(&h, "\"></td><td><a href=\"/admin/message?id=");
            html_url(&h, id);
            html_raw(&h, "\">");
            html_text(&h, id);
            html_raw(&h, "</a></td>");
            for (size_t c = 0; c < n; c++)
                cell(&h, m, &cols[c]);
            recipients_cell(&h, m);
            html_raw(&h, "</tr>\n");
        }
        html_raw(&h, "</table><p>With the selection: "
                     "<button name=\"action\" value=\"hold\">Hold</button> "
                     "<button name=\"action\" value=\"release\">Release</button> "
                     "<button name=\"action\" value=\"retry\">Retry now</button></p></form>");
        /* the filter's whole selection, beyond the MESSAGES_SHOWN listed */
        html_raw(&h, "<form method=\"post\" action=\"/admin/queue/action\">");
        html_csrf(&h, r->csrf);
        if (hidden_filters(r, &h))
            html_raw(&h, "<input type=\"hidden\" name=\"match\" value=\"all\"><p>With every "
                         "message the filter selects: "
                         "<button name=\"action\" value=\"hold\">Hold all</button> "
                         "<button name=\"action\" value=\"release\">Release all</button> "
                         "<button name=\"action\" value=\"retry\">Retry all now</button></p>");
        html_raw(&h, "</form>");
    }
    html_end(&h);
    json_decref(list);
    return web_send_page(r, MHD_HTTP_OK, &h);
}

/* queue_id_ok - 16 hex digits, as queue ids are. */
static bool queue_id_ok(const char *id)
{
    size_t n = 0;
    for (; id[n]; n++)
        if (!isxdigit((unsigned char)id[n]))
            return false;
    return n == 16;
}

/* queue_action_post - POST /admin/queue/action: action=hold|release|retry
 * on the ticked ids, or (match=all) on every message the filter fields
 * select: the API's queue operation (queue_act, as floodctl's). */
static enum MHD_Result queue_action_post(struct web_req *r)
{
    static const struct {
        const char *name;
        enum queue_action act;
    } acts[] = {{"hold", QUEUE_HOLD}, {"release", QUEUE_RELEASE}, {"retry", QUEUE_RETRY}};
    const char *name = web_field(r, "action"), *match = web_field(r, "match");
    json_t *ids_json = json_object_get(r->form, "id");
    const char *ids[SELECTION_MAX];
    char upper[SELECTION_MAX][17];
    size_t n = 0, i;
    int which = -1;
    for (size_t k = 0; name && k < sizeof acts / sizeof acts[0]; k++)
        if (strcmp(name, acts[k].name) == 0)
            which = (int)k;
    if (which < 0)
        return web_message(r, MHD_HTTP_BAD_REQUEST, "Bad request",
                           "action must be hold, release or retry");
    struct queue_filter f;
    memset(&f, 0, sizeof f);
    json_t *filter = NULL;
    if (match && strcmp(match, "all") == 0) {
        if ((filter = queue_request(r, "queue.act", true)) == NULL)
            return MHD_NO;
        if (json_object_size(filter) < 2) {
            json_decref(filter);
            return web_message(r, MHD_HTTP_BAD_REQUEST, "Nothing selected",
                               "Filter the queue first: \"all\" acts on what a filter selects.");
        }
        queue_filter_from_json(filter, &f, ids, 0);
    } else {
        json_t *one = json_is_string(ids_json) ? ids_json : NULL, *v;
        json_t *list = one ? json_pack("[O]", one) : json_incref(ids_json);
        json_array_foreach(list, i, v)
        {
            const char *id = json_string_value(v);
            if (id == NULL || !queue_id_ok(id) || n == SELECTION_MAX) {
                json_decref(list);
                return web_message(r, MHD_HTTP_BAD_REQUEST, "Bad request",
                                   "select up to 500 messages by their queue ids");
            }
            for (size_t c = 0; c < 17; c++)
                upper[n][c] = (char)toupper((unsigned char)id[c]);
            ids[n] = upper[n];
            n++;
        }
        json_decref(list);
        if (n == 0)
            return web_message(r, MHD_HTTP_BAD_REQUEST, "Nothing selected",
                               "Tick the messages to act on first.");
        f.ids = ids;
        f.n_ids = n;
    }
    struct web_op o;
    json_t *out = web_op_begin(&o, r->a, r->who, NULL)
                      ? web_op_queue(&o, acts[which].act, &f, "web admin")
                      : NULL;
    json_decref(filter); /* F's strings were its */
    if (out == NULL)
        return unavailable(r, o.err);
    long long done_n = (long long)json_integer_value(json_object_get(out, "messages"));
    json_decref(out);
    char done[128];
    snprintf(done, sizeof done, "%s: %lld message%s", acts[which].name, done_n,
             done_n == 1 ? "" : "s");
    return redirect_done(r, "/admin/queue", done);
}

/* ---- one message ---- */

static enum MHD_Result message_page(struct web_req *r)
{
    const char *id = web_arg(r, "id");
    char qid[17], err[512] = "";
    if (id == NULL || !queue_id_ok(id))
        return web_message(r, MHD_HTTP_BAD_REQUEST, "Bad request", "id: a queue id is needed");
    for (size_t c = 0; c < sizeof qid; c++)
        qid[c] = (char)toupper((unsigned char)id[c]);
    json_t *list =
        page_ask(r, json_pack("{s:s, s:[s]}", "cmd", "queue.list", "ids", qid), err, sizeof err);
    json_t *rows = json_is_array(list) ? list : json_object_get(list, "messages");
    json_t *m = json_array_get(rows, 0);
    store_db *db = store_thread_db(STORE_FILE);
    struct store_body *b = db && m ? store_body_get(db, qid) : NULL;
    char *text = malloc(BODY_SHOWN + 1);
    long got = 0, n;
    while (b && text && got < BODY_SHOWN &&
           (n = store_body_read(b, (size_t)got, text + got, (size_t)(BODY_SHOWN - got))) > 0)
        got += n;
    size_t total = b ? store_body_size(b) : 0;
    if (b)
        store_body_close(b);
    if (m == NULL || text == NULL) {
        json_decref(list);
        free(text);
        return web_message(r, MHD_HTTP_NOT_FOUND, "Not found",
                           "No such message in the queue (delivered or removed?).");
    }
    text[got > 0 ? got : 0] = '\0';
    struct html h;
    if (page_start(r, &h, "Message") < 0) {
        json_decref(list);
        free(text);
        return MHD_NO;
    }
    facts(&h, m, 0);
    /* headers and body apart: the first empty line (RFC 5322 2.1) */
    char *sep = strstr(text, "\r\n\r\n");
    html_raw(&h, "<h2>Headers</h2><pre>");
    if (sep)
        *sep = '\0';
    html_text(&h, text);
    html_raw(&h, "</pre><h2>Text</h2><pre>");
    html_text(&h, sep ? sep + 4 : "");
    html_raw(&h, "</pre>");
    if (total > BODY_SHOWN)
        html_fmt(&h, "<p>(the first %d of %zu octets)</p>", BODY_SHOWN, total);
    html_end(&h);
    json_decref(list);
    free(text);
    return web_send_page(r, MHD_HTTP_OK, &h);
}

/* ---- the other listings ---- */

/* listing - a page TITLE with the table of ROWS (an array, or an object
 * whose "messages" is one: queue.list's answer; taken) under COLS, EMPTY
 * when there are none; ERR shown when ROWS is NULL. */
static enum MHD_Result listing(struct web_req *r, const char *title, json_t *rows,
                               const struct column *cols, size_t n, const char *empty,
                               const char *err)
{
    struct html h;
    if (page_start(r, &h, title) < 0) {
        json_decref(rows);
        return MHD_NO;
    }
    if (rows == NULL) {
        html_raw(&h, "<p class=\"err\">");
        html_text(&h, err);
        html_raw(&h, "</p>");
    }
    table(&h, json_is_array(rows) ? rows : json_object_get(rows, "messages"), cols, n, empty);
    html_end(&h);
    json_decref(rows);
    return web_send_page(r, MHD_HTTP_OK, &h);
}

static enum MHD_Result quarantine_page(struct web_req *r)
{
    static const struct column cols[] = {{"id", "ID", false},
                                         {"created", "Arrived", true},
                                         {"sender", "From", false},
                                         {"auth_user", "Authenticated Sender", false},
                                         {"client_ip", "Sender IP", false},
                                         {"subject", "Subject", false}};
    char err[512] = "";
    json_t *list = page_ask(
        r, json_pack("{s:s, s:s, s:i}", "cmd", "queue.list", "state", "quarantined", "limit", 200),
        err, sizeof err);
    return listing(r, "Quarantine", list, cols, sizeof cols / sizeof cols[0],
                   "The quarantine is empty.", err);
}

static enum MHD_Result incidents_page(struct web_req *r)
{
    store_db *db = store_thread_db(STORE_FILE);
    json_t *list = db ? incident_list(db, true) : NULL;
    if (list == NULL)
        return unavailable(r, "cannot read the incidents from the store");
    struct html h;
    if (list_start(r, &h, "Incidents", list, NULL, "No incidents.",
                   "<th>ID</th><th>Subject</th><th>State</th><th>Opened</th><th>Score</th>") < 0)
        return MHD_NO;
    size_t i;
    json_t *inc;
    json_array_foreach(list, i, inc)
    {
        json_t *id = json_object_get(inc, "id");
        static const char *const keys[] = {"subject", "state", "opened", "score", NULL};
        html_fmt(&h, "<tr><td><a href=\"/admin/incident?id=%lld\">%lld</a></td>",
                 (long long)json_integer_value(id), (long long)json_integer_value(id));
        cells(&h, inc, keys);
        html_raw(&h, "</tr>\n");
    }
    return page_done(r, &h, list);
}

static enum MHD_Result incident_page(struct web_req *r)
{
    const char *arg = web_arg(r, "id");
    uint64_t id = 0;
    int found = 0;
    if (!number_of(arg, &id))
        return web_message(r, MHD_HTTP_BAD_REQUEST, "Bad request", "id: an incident number");
    store_db *db = store_thread_db(STORE_FILE);
    json_t *inc = db ? incident_get(db, (long long)id, &found) : NULL;
    if (inc == NULL)
        return found || db == NULL
                   ? unavailable(r, "cannot read the incident from the store")
                   : web_message(r, MHD_HTTP_NOT_FOUND, "Not found", "No such incident.");
    struct html h;
    char title[64];
    snprintf(title, sizeof title, "Incident %llu", (unsigned long long)id);
    if (page_start(r, &h, title) < 0) {
        json_decref(inc);
        return MHD_NO;
    }
    notice(r, &h);
    const char *state = json_string_value(json_object_get(inc, "state"));
    if (state && strcmp(state, "released") != 0 && strcmp(state, "dismissed") != 0) {
        /* as floodctl incident release|dismiss: release also sends what
         * the incident held; both lift its suspension and bans */
        html_raw(&h, "<form method=\"post\" action=\"/admin/incident/action\">");
        html_csrf(&h, r->csrf);
        html_fmt(&h, "<input type=\"hidden\" name=\"id\" value=\"%llu\">", (unsigned long long)id);
        html_raw(&h, "<p><button name=\"action\" value=\"release\">Release</button> (a false "
                     "alarm: its held messages go out, its suspension and bans are lifted) "
                     "<button name=\"action\" value=\"dismiss\">Dismiss</button> (closed: the "
                     "same undoing, recorded as dismissed)</p></form>");
    }
    html_raw(&h, "<h2>Evidence</h2>");
    facts(&h, inc, 0);
    html_end(&h);
    json_decref(inc);
    return web_send_page(r, MHD_HTTP_OK, &h);
}

/* incident_action_post - POST /admin/incident/action: id, action=release
 * or dismiss: the API's operation, as floodctl incident release|dismiss. */
static enum MHD_Result incident_action_post(struct web_req *r)
{
    static const char *const keys[] = {"id", NULL};
    const char *act = web_field(r, "action");
    bool release = act && strcmp(act, "release") == 0;
    if (!release && !(act && strcmp(act, "dismiss") == 0))
        return web_message(r, MHD_HTTP_BAD_REQUEST, "Bad request",
                           "action must be release or dismiss");
    enum MHD_Result rc;
    json_t *out =
        form_op(r, release ? web_op_incident_release : web_op_incident_dismiss, keys, &rc);
    if (out == NULL)
        return rc;
    char done[200], path[64];
    long long id = (long long)json_integer_value(json_object_get(out, "id"));
    snprintf(done, sizeof done, "incident %lld %s: %lld held messages released%s, %zu bans lifted",
             id, release ? "released" : "dismissed",
             (long long)json_integer_value(json_object_get(out, "released_messages")),
             json_is_true(json_object_get(out, "unsuspended")) ? ", account unsuspended" : "",
             json_array_size(json_object_get(out, "unbanned")));
    snprintf(path, sizeof path, "/admin/incident?id=%lld", id);
    json_decref(out);
    return redirect_done(r, path, done);
}

/* ban_form - a new ban, as floodctl ban add IP|CIDR --duration D
 * --reason R. */
static void ban_form(struct web_req *r, struct html *h)
{
    html_raw(h, "<form method=\"post\" action=\"/admin/bans/add\">");
    html_csrf(h, r->csrf);
    html_raw(h, "<label class=\"inline\">Address or network <input name=\"ip\" required "
                "placeholder=\"203.0.113.7 or 203.0.113.0/24\"></label> "
                "<label class=\"inline\">Duration <input name=\"duration\" value=\"24h\" "
                "placeholder=\"30m, 12h, 7d\"></label> "
                "<label class=\"inline\">Reason <input name=\"reason\" maxlength=\"200\">"
                "</label> <button>Ban</button></form>");
}

static enum MHD_Result bans_page(struct web_req *r)
{
    store_db *db = store_thread_db(STORE_FILE);
    json_t *list = db ? ban_state_list(db, time(NULL), 0) : NULL;
    if (list == NULL)
        return unavailable(r, "cannot read the bans from the store");
    struct html h;
    if (list_start(r, &h, "Bans", list, ban_form, "No address is banned.",
                   "<th>IP</th><th>Until</th><th>Offenses</th><th>Reason</th><th>By</th>"
                   "<th></th>") < 0)
        return MHD_NO;
    size_t i;
    json_t *b;
    static const char *const keys[] = {"ip", "until", "offenses", "reason", "created_by", NULL};
    json_array_foreach(list, i, b) row_action(r, &h, b, keys, "/admin/bans/del", "ip", "Lift");
    return page_done(r, &h, list);
}

/* ban_add_post - POST /admin/bans/add: ip, duration, reason, as floodctl
 * ban add (its words when the address or the duration is wrong). */
static enum MHD_Result ban_add_post(struct web_req *r)
{
    static const char *const keys[] = {"ip", "duration", "reason", NULL};
    enum MHD_Result rc;
    json_t *out = form_op(r, web_op_ban_add, keys, &rc);
    if (out == NULL)
        return rc;
    char done[200];
    snprintf(done, sizeof done, "%s banned: connections from it get 421 4.7.0",
             json_string_value(json_object_get(out, "ip")));
    json_decref(out);
    return redirect_done(r, "/admin/bans", done);
}

/* ban_del_post - POST /admin/bans/del: ip, as floodctl ban del. */
static enum MHD_Result ban_del_post(struct web_req *r)
{
    static const char *const keys[] = {"ip", NULL};
    enum MHD_Result rc;
    json_t *out = form_op(r, web_op_ban_del, keys, &rc);
    if (out == NULL)
        return rc;
    char done[200];
    snprintf(done, sizeof done, "ban of %s lifted",
             json_string_value(json_array_get(json_object_get(out, "lifted"), 0)));
    json_decref(out);
    return redirect_done(r, "/admin/bans", done);
}

static enum MHD_Result sessions_page(struct web_req *r)
{
    char err[512] = "";
    json_t *list = page_ask(r, json_pack("{s:s}", "cmd", "session.list"), err, sizeof err);
    if (list == NULL)
        return unavailable(r, err);
    struct html h;
    if (list_start(r, &h, "Sessions", list, NULL, "No SMTP sessions are open.",
                   "<th>ID</th><th>IP</th><th>Listener</th><th>User</th><th>State</th>"
                   "<th></th>") < 0)
        return MHD_NO;
    size_t i;
    json_t *s;
    static const char *const keys[] = {"id", "ip", "listener", "auth_user", "state", NULL};
    json_array_foreach(list, i, s) row_action(r, &h, s, keys, "/admin/sessions/kill", "id", "Kill");
    return page_done(r, &h, list);
}

/* session_kill_post - POST /admin/sessions/kill: id=N, as floodctl
 * session kill N (the API's operation). */
static enum MHD_Result session_kill_post(struct web_req *r)
{
    static const char *const keys[] = {"id", NULL};
    enum MHD_Result rc;
    char done[64];
    if (web_field(r, "id") == NULL)
        return web_message(r, MHD_HTTP_BAD_REQUEST, "Bad request", "id: a session number");
    json_t *out = form_op(r, web_op_session_kill, keys, &rc);
    if (out == NULL)
        return rc;
    snprintf(done, sizeof done, "sessions ended: %lld",
             (long long)json_integer_value(json_object_get(out, "ended")));
    json_decref(out);
    return redirect_done(r, "/admin/sessions", done);
}

static enum MHD_Result users_page(struct web_req *r)
{
    store_db *db = store_thread_db(STORE_FILE);
    json_t *list = db ? accounts_user_list(db, NULL) : NULL;
    if (list == NULL)
        return unavailable(r, "cannot read the users from the store");
    struct html h;
    if (list_start(r, &h, "Users", list, NULL, "No users (floodctl user add makes them).",
                   "<th>Address</th><th>Suspended</th><th>Password expired</th><th>2FA</th>"
                   "<th>App passwords</th><th>Actions</th>") < 0)
        return MHD_NO;
    size_t i;
    json_t *u;
    json_array_foreach(list, i, u)
    {
        const char *addr = json_string_value(json_object_get(u, "address"));
        bool suspended = json_is_true(json_object_get(u, "suspended")) ||
                         json_integer_value(json_object_get(u, "suspended")) != 0;
        html_raw(&h, "<tr><td>");
        html_text(&h, addr);
        static const char *const keys[] = {"password_expired", "totp_enabled", "app_passwords",
                                           NULL};
        html_raw(&h, "</td><td>");
        html_raw(&h, suspended ? "yes" : "no");
        html_raw(&h, "</td>");
        cells(&h, u, keys);
        html_raw(&h, "<td><form class=\"inline\" method=\"post\" "
                     "action=\"/admin/users/action\">");
        html_csrf(&h, r->csrf);
        html_raw(&h, "<input type=\"hidden\" name=\"address\" value=\"");
        html_text(&h, addr);
        html_raw(&h, "\">");
        html_raw(&h, suspended ? "<button name=\"action\" value=\"unsuspend\">Unsuspend</button>"
                               : "<button name=\"action\" value=\"suspend\">Suspend</button>");
        html_raw(&h, " <button name=\"action\" value=\"expire\">Expire password</button>"
                     "</form></td></tr>\n");
    }
    return page_done(r, &h, list);
}

/* user_action_post - POST /admin/users/action: suspend, unsuspend or
 * expire ADDRESS: the API's operations, as floodctl user
 * suspend|unsuspend|expire (a suspension ends the user's sessions). */
static enum MHD_Result user_action_post(struct web_req *r)
{
    static const char *const keys[] = {"address", NULL};
    static const struct {
        const char *name;
        json_t *(*op)(struct web_op *o);
    } acts[] = {{"suspend", web_op_user_suspend},
                {"unsuspend", web_op_user_unsuspend},
                {"expire", web_op_user_expire}};
    const char *addr = web_field(r, "address"), *act = web_field(r, "action");
    char done[400];
    enum MHD_Result rc;
    if (addr == NULL || addr[0] == '\0' || strlen(addr) > 254)
        return web_message(r, MHD_HTTP_BAD_REQUEST, "Bad request", "address: a user's address");
    for (size_t i = 0; act && i < sizeof acts / sizeof acts[0]; i++) {
        if (strcmp(act, acts[i].name) != 0)
            continue;
        json_t *out = form_op(r, acts[i].op, keys, &rc);
        if (out == NULL)
            return rc;
        json_decref(out);
        snprintf(done, sizeof done, "%s: %s", act, addr);
        return redirect_done(r, "/admin/users", done);
    }
    return web_message(r, MHD_HTTP_BAD_REQUEST, "Bad request",
                       "action must be suspend, unsuspend or expire");
}

/* The pages: path, POST or GET, handler. */
static const struct {
    const char *path;
    bool post;
    enum MHD_Result (*fn)(struct web_req *r);
} pages[] = {
    {"/admin/", false, dashboard},
    {"/admin/queue", false, queue_page},
    {"/admin/queue/action", true, queue_action_post},
    {"/admin/message", false, message_page},
    {"/admin/quarantine", false, quarantine_page},
    {"/admin/incidents", false, incidents_page},
    {"/admin/incident", false, incident_page},
    {"/admin/incident/action", true, incident_action_post},
    {"/admin/bans", false, bans_page},
    {"/admin/bans/add", true, ban_add_post},
    {"/admin/bans/del", true, ban_del_post},
    {"/admin/sessions", false, sessions_page},
    {"/admin/sessions/kill", true, session_kill_post},
    {"/admin/users", false, users_page},
    {"/admin/users/action", true, user_action_post},
};

/* web_pages_admin - the page of R's path; 404 for any other (there are
 * no files behind these paths: "..", "%2e%2e" and the like match none). */
enum MHD_Result web_pages_admin(struct web_req *r)
{
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++)
        if (strcmp(r->url, pages[i].path) == 0 && r->post == pages[i].post)
            return pages[i].fn(r);
    return web_message(r, MHD_HTTP_NOT_FOUND, "Not found", "No such page.");
}
