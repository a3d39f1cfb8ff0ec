/* control/web_html - writing the web admin's HTML pages: a growing buffer,
 * text escaped for HTML (every value that came from a message, a client
 * or the store goes through html_text), the common frame of a page and
 * a QR code as inline SVG.  No JavaScript framework, no external CDN or
 * font: the style sheet is in the page. */
#ifndef FLOODGATE_CONTROL_WEB_HTML_H
#define FLOODGATE_CONTROL_WEB_HTML_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

struct html {
    FILE *f;
    char *buf;
    size_t len;
};

/* html_open - an empty page in H; -1 when memory runs out. */
int html_open(struct html *h);
/* html_raw - TEXT as it is (markup written by the program only). */
void html_raw(struct html *h, const char *text);
/* html_fmt - printf into the page: for numbers and markup; never for a
 * value from outside (use html_text). */
void html_fmt(struct html *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* html_text - S with & < > " ' escaped (fit for text and quoted
 * attribute values); NULL writes nothing. */
void html_text(struct html *h, const char *s);
/* html_json - V as text: a string escaped, a number, true/false, or "-". */
void html_json(struct html *h, json_t *v);
/* html_url - S percent-encoded for a query value (RFC 3986 2.1). */
void html_url(struct html *h, const char *s);
/* html_time - a Unix time V (JSON integer) as "2026-12-06 14:00:00Z". */
void html_time(struct html *h, json_t *v);
/* html_begin - the page's head and, when NAV, the admin's menu with a
 * logout button carrying CSRF; TITLE escaped. */
void html_begin(struct html *h, const char *title, const char *who, const char *csrf, bool nav);
/* html_end - close the page. */
void html_end(struct html *h);
/* html_csrf - the hidden CSRF field of a form. */
void html_csrf(struct html *h, const char *csrf);
/* html_qr_svg - TEXT as a QR code in inline SVG; false when it cannot
 * be drawn. */
bool html_qr_svg(struct html *h, const char *text);
/* html_close - the page (malloc'd, *LEN octets), H done; NULL when memory
 * ran out. */
char *html_close(struct html *h, size_t *len);

#endif
