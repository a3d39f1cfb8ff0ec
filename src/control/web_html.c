/* control/web_html - the web admin's HTML writer (see web_html.h).
 *
 * Room: control.  Escaping follows the HTML Living Standard's advice for
 * text and double-quoted attributes: & < > " ' become character
 * references, so no value read from a message or a client can open a
 * tag or leave an attribute. */
#include "control/web_html.h"

#include <qrencode.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QR_QUIET 4 /* modules of white border (ISO/IEC 18004 asks for 4) */

int html_open(struct html *h)
{
    h->buf = NULL;
    h->len = 0;
    h->f = open_memstream(&h->buf, &h->len);
    return h->f ? 0 : -1;
}

void html_raw(struct html *h, const char *text)
{
    fputs(text, h->f);
}

void html_fmt(struct html *h, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(h->f, fmt, ap);
    va_end(ap);
}

void html_text(struct html *h, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", h->f);
            break;
        case '<':
            fputs("&lt;", h->f);
            break;
        case '>':
            fputs("&gt;", h->f);
            break;
        case '"':
            fputs("&quot;", h->f);
            break;
        case '\'':
            fputs("&#39;", h->f);
            break;
        default:
            fputc(*s, h->f);
        }
    }
}

void html_json(struct html *h, json_t *v)
{
    if (json_is_string(v))
        html_text(h, json_string_value(v));
    else if (json_is_integer(v))
        html_fmt(h, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        html_fmt(h, "%.3g", json_real_value(v));
    else if (json_is_boolean(v))
        html_raw(h, json_is_true(v) ? "yes" : "no");
    else
        html_raw(h, "-");
}

void html_url(struct html *h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p))
            fputc(*p, h->f);
        else
            fprintf(h->f, "%%%02X", *p);
    }
}

void html_time(struct html *h, json_t *v)
{
    time_t t = (time_t)json_integer_value(v);
    struct tm tm;
    char buf[32];
    if (!json_is_integer(v) || t <= 0 || gmtime_r(&t, &tm) == NULL ||
        strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm) == 0) {
        html_raw(h, "-");
        return;
    }
    html_raw(h, buf);
}

/* The style sheet of every page: in the page, so nothing is fetched. */
static const char style[] =
    "body{font-family:sans-serif;margin:0;color:#222}"
    "header{background:#234;color:#fff;padding:.5em 1em;display:flex;gap:1em;align-items:center}"
    "header a{color:#fff}header form{margin-left:auto}"
    "main{padding:1em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}"
    "th{background:#eee}.err{color:#a00}.ok{color:#070}pre{white-space:pre-wrap}"
    "form.inline{display:inline}label{display:block;margin:.3em 0}";

void html_begin(struct html *h, const char *title, const char *who, const char *csrf, bool nav)
{
    html_raw(h, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width\"><title>");
    html_text(h, title);
    html_raw(h, " - Floodgate</title><style>");
    html_raw(h, style);
    html_raw(h, "</style></head><body><header><strong>Floodgate</strong>");
    if (nav) {
        html_raw(h, "<a href=\"/admin/\">Dashboard</a><a href=\"/admin/queue\">Queue</a>"
                    "<a href=\"/admin/quarantine\">Quarantine</a>"
                    "<a href=\"/admin/incidents\">Incidents</a><a href=\"/admin/bans\">Bans</a>"
                    "<a href=\"/admin/sessions\">Sessions</a><a href=\"/admin/users\">Users</a>");
    }
    if (who) {
        html_raw(h, "<form method=\"post\" action=\"/logout\"><span>");
        html_text(h, who);
        html_raw(h, "</span> ");
        html_csrf(h, csrf);
        html_raw(h, "<button>Log out</button></form>");
    }
    html_raw(h, "</header><main><h1>");
    html_text(h, title);
    html_raw(h, "</h1>\n");
}

void html_end(struct html *h)
{
    html_raw(h, "</main></body></html>\n");
}

void html_csrf(struct html *h, const char *csrf)
{
    html_raw(h, "<input type=\"hidden\" name=\"csrf\" value=\"");
    html_text(h, csrf);
    html_raw(h, "\">");
}

bool html_qr_svg(struct html *h, const char *text)
{
    QRcode *q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    if (q == NULL)
        return false;
    int size = q->width + 2 * QR_QUIET;
    html_fmt(h,
             "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" width=\"%d\" "
             "height=\"%d\" shape-rendering=\"crispEdges\" role=\"img\" aria-label=\"QR code\">"
             "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/><path fill=\"#000\" d=\"",
             size, size, size * 5, size * 5, size, size);
    for (int y = 0; y < q->width; y++)
        for (int x = 0; x < q->width; x++)
            if (q->data[y * q->width + x] & 1)
                html_fmt(h, "M%d %dh1v1h-1z", x + QR_QUIET, y + QR_QUIET);
    html_raw(h, "\"/></svg>");
    QRcode_free(q);
    return true;
}

char *html_close(struct html *h, size_t *len)
{
    if (fclose(h->f) != 0) {
        free(h->buf);
        return NULL;
    }
    *len = h->len;
    return h->buf;
}
