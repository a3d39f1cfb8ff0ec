/* core/header_watch - the header section read as it streams in (room:
 * core).
 *
 * A field begins at a line that does not begin with white space, and its
 * folded lines (RFC 5322 2.2.3) follow; the first empty line (CR LF, or a
 * bare LF) ends the header (2.1).  Each field is judged when the next one
 * begins, from the octets of it kept, with the same readers as the rest
 * of the checks: core/header_scan's field iterator and name test, and
 * core/auth_results' authserv-id test.  A line costs a memchr; a field
 * of any length costs HEADER_WATCH_KEEP octets of copying at most, and
 * the body nothing. */
#include "core/header_watch.h"

#include <string.h>

#include "core/auth_results.h"
#include "core/header_scan.h"

void header_watch_init(struct header_watch *w, const char *authserv_id)
{
    /* KEEP is written before it is read: only the state is reset */
    w->authserv_id = authserv_id;
    w->off = w->kept = w->forged_end = w->from_end = 0;
    w->body = w->cr_at_start = w->open = false;
    w->line_start = true;
}

/* claims_undecided - a field cut at HEADER_WATCH_KEEP whose authserv-id
 * may go on past the cut: no ';' after the colon yet (RFC 8601 2.2: the
 * authserv-id comes before the first ';'). */
static bool claims_undecided(const struct header_watch *w, const struct header_field *f)
{
    return w->kept == HEADER_WATCH_KEEP && f->value <= w->kept &&
           memchr(w->keep + f->value, ';', w->kept - f->value) == NULL;
}

/* close_field - the field being read ended just before offset END. */
static void close_field(struct header_watch *w, size_t end)
{
    struct header_field f;
    size_t pos = 0;
    if (!w->open)
        return;
    w->open = false;
    if (!header_next_field(w->keep, w->kept, &pos, &f))
        return;
    if (header_field_is(w->keep, &f, "From")) {
        w->from_end = end;
    } else if (w->authserv_id && header_field_is(w->keep, &f, "Authentication-Results") &&
               (claims_undecided(w, &f) || auth_results_claims(w->keep, &f, w->authserv_id))) {
        w->forged_end = end;
    }
}

/* line_begins - the octet C at offset OFF begins a line: an empty one
 * ends the header, one without white space begins a field. */
static void line_begins(struct header_watch *w, char c, size_t off)
{
    if (c == '\n') {
        close_field(w, off);
        w->body = true;
    } else if (c == '\r') {
        w->cr_at_start = true; /* decided by the next octet */
    } else if (c != ' ' && c != '\t') {
        close_field(w, off);
        w->open = true;
        w->kept = 0;
    }
}

void header_watch_feed(struct header_watch *w, const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && !w->body) {
        char c = p[i];
        size_t off = w->off + i;
        if (w->cr_at_start) {
            w->cr_at_start = false;
            close_field(w, off - 1);
            if (c == '\n') { /* CR LF: the empty line */
                w->body = true;
                break;
            }
            /* a line that begins with a bare CR: no white space, so a
             * field (of no valid name) that begins at the CR */
            w->open = true;
            w->kept = 0;
            w->keep[w->kept++] = '\r';
        } else if (w->line_start) {
            w->line_start = false;
            line_begins(w, c, off);
            if (w->body)
                break;
            if (w->cr_at_start) {
                i++;
                continue;
            }
        }
        /* the rest of the line, its LF included, in one run: a header
         * costs a memchr per line, not a step per octet */
        const char *lf = memchr(p + i, '\n', n - i);
        size_t run = lf ? (size_t)(lf - (p + i)) + 1 : n - i;
        if (w->open && w->kept < HEADER_WATCH_KEEP) {
            size_t take = run < HEADER_WATCH_KEEP - w->kept ? run : HEADER_WATCH_KEEP - w->kept;
            memcpy(w->keep + w->kept, p + i, take);
            w->kept += take;
        }
        w->line_start = lf != NULL;
        i += run;
    }
    w->off += n;
}

void header_watch_finish(struct header_watch *w)
{
    if (!w->body)
        close_field(w, w->off);
}
