/* core/header_scan - room: smtp (parser).  Reads the header section of a
 * received message (RFC 5322 2.2) just far enough to note From, Subject and
 * Message-ID in the envelope, so that an admin can ask "who sent this?".
 * It never reads past LEN or HEADER_SCAN_LIMIT, never allocates, and
 * unfolds continuation lines on the fly through a small iterator. */
#include "core/header_scan.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* An iterator over a folded value that yields it unfolded (RFC 5322
 * 2.2.3: unfolding removes the CR LF before the whitespace).  Tabs come
 * out as spaces and other control characters as '?', so nothing a sender
 * writes can break a log line or a listing. */
struct value_iter {
    const char *s;
    size_t pos;
    size_t end;
};

/* Text collected for one fact, truncated at HEADER_FACT_MAX - 1. */
struct fact_buf {
    char *buf;
    size_t n;
    bool truncated;
};

/* is_wsp - RFC 5234 WSP: space or horizontal tab. */
static bool is_wsp(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* line_end - the index of the LF ending the line at POS, or LIM. */
static size_t line_end(const char *s, size_t lim, size_t pos)
{
    const char *lf = memchr(s + pos, '\n', lim - pos);
    return lf == NULL ? lim : (size_t)(lf - s);
}

/* is_empty_line - the line at POS is empty: the end of the header section
 * (RFC 5322 2.1).  A bare LF is taken as a line end here too, since this
 * only reads, and a lone CR at the limit is as good as an end. */
static bool is_empty_line(const char *s, size_t lim, size_t pos)
{
    return s[pos] == '\n' || (s[pos] == '\r' && (pos + 1 == lim || s[pos + 1] == '\n'));
}

/* field_name_end - the index of the colon ending the field name at F, or 0
 * when the line is not a field: ftext is %d33-57 / %d59-126 (RFC 5322
 * 3.6.8), and obsolete syntax allows WSP before the colon (4.5). */
static size_t field_name_end(const char *s, const struct header_field *f)
{
    size_t i = f->start;
    while (i < f->end && s[i] > 32 && s[i] < 127 && s[i] != ':')
        i++;
    if (i == f->start)
        return 0;
    while (i < f->end && is_wsp(s[i]))
        i++;
    return (i < f->end && s[i] == ':') ? i : 0;
}

/* header_next_field - the field at *POS, with its continuation lines;
 * false at the empty line or the end.  Lines that are not fields are
 * skipped. */
bool header_next_field(const char *s, size_t lim, size_t *pos, struct header_field *f)
{
    for (;;) {
        size_t lf;
        size_t colon;
        if (*pos >= lim || is_empty_line(s, lim, *pos))
            return false;
        f->start = *pos;
        lf = line_end(s, lim, *pos);
        while (lf < lim && lf + 1 < lim && is_wsp(s[lf + 1]))
            lf = line_end(s, lim, lf + 1);
        f->end = (lf > f->start && s[lf - 1] == '\r') ? lf - 1 : lf;
        *pos = lf < lim ? lf + 1 : lim;
        colon = field_name_end(s, f);
        if (colon != 0) {
            f->value = colon + 1;
            return true;
        }
    }
}

/* vnext - the next unfolded, sanitised octet of the value, or -1. */
static int vnext(struct value_iter *it)
{
    while (it->pos < it->end) {
        unsigned char ch = (unsigned char)it->s[it->pos++];
        if (ch == '\r' && it->pos < it->end && it->s[it->pos] == '\n')
            continue; /* the CR of a fold */
        if (ch == '\n')
            continue;
        if (ch == '\t')
            return ' ';
        if (ch < 0x20 || ch == 0x7f)
            return '?';
        return ch;
    }
    return -1;
}

/* fact_put - append CH, or note that the fact was cut. */
static void fact_put(struct fact_buf *fb, int ch)
{
    if (fb->n + 1 < HEADER_FACT_MAX)
        fb->buf[fb->n++] = (char)ch;
    else
        fb->truncated = true;
}

/* utf8_cut - a length not splitting a UTF-8 sequence at the end of BUF,
 * so that a truncated Subject stays valid where the original was. */
static size_t utf8_cut(const char *buf, size_t n)
{
    for (size_t back = 1; back <= 4 && back <= n; back++) {
        unsigned char b = (unsigned char)buf[n - back];
        if ((b & 0xc0) == 0x80)
            continue; /* a continuation octet: look further back */
        size_t need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
        return need > back ? n - back : n;
    }
    return n;
}

/* scan_subject - the unfolded value with outer whitespace trimmed. */
static void scan_subject(struct value_iter *it, char *out)
{
    struct fact_buf fb = {.buf = out, .n = 0, .truncated = false};
    size_t keep = 0;
    int ch;
    while ((ch = vnext(it)) != -1 && !fb.truncated) {
        if (ch == ' ' && fb.n == 0)
            continue;
        fact_put(&fb, ch);
        if (ch != ' ' && !fb.truncated)
            keep = fb.n;
    }
    if (fb.truncated || ch != -1)
        keep = utf8_cut(out, keep);
    out[keep] = '\0';
}

/* skip_comment - step over a comment whose "(" was read; comments nest and
 * take quoted-pairs (RFC 5322 3.2.2). */
static void skip_comment(struct value_iter *it)
{
    int depth = 1;
    int ch;
    while (depth > 0 && (ch = vnext(it)) != -1) {
        if (ch == '\\')
            (void)vnext(it);
        else if (ch == '(')
            depth++;
        else if (ch == ')')
            depth--;
    }
}

/* copy_quoted - a quoted-string whose '"' was read, kept as sent. */
static void copy_quoted(struct value_iter *it, struct fact_buf *fb)
{
    int ch;
    fact_put(fb, '"');
    while ((ch = vnext(it)) != -1) {
        fact_put(fb, ch);
        if (ch == '"')
            return;
        if (ch == '\\' && (ch = vnext(it)) != -1)
            fact_put(fb, ch);
    }
}

/* copy_angle - the addr-spec inside "<...>" whose '<' was read; an
 * obsolete route "@a,@b:" before it is dropped (RFC 5322 4.4).  False when
 * the '>' never comes. */
static bool copy_angle(struct value_iter *it, struct fact_buf *fb)
{
    int ch;
    fb->n = 0;
    fb->truncated = false;
    while ((ch = vnext(it)) != -1) {
        if (ch == '>')
            return true;
        if (ch == '"')
            copy_quoted(it, fb);
        else if (ch == '(')
            skip_comment(it);
        else if (ch == ':') {
            fb->n = 0;
            fb->truncated = false;
        } else if (ch != ' ')
            fact_put(fb, ch);
    }
    return false;
}

/* lower_domain - lowercase what follows the last '@': the domain of an
 * addr-spec has no case (RFC 5321 2.4), a local part may have one. */
static void lower_domain(char *s)
{
    char *at = strrchr(s, '@');
    for (char *p = at; p != NULL && *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
}

/* first_mailbox - the addr-spec of the first mailbox of a mailbox-list
 * (RFC 5322 3.4): the text in the first "<...>", or else the bare text up
 * to the first ',' or ';', without comments and whitespace.  A group name
 * ending in ':' is dropped.  False when nothing usable was found. */
static bool first_mailbox(struct value_iter *it, struct fact_buf *fb, char *name)
{
    int ch;
    while ((ch = vnext(it)) != -1) {
        if (ch == '<') {
            /* what came before the angle is the display name (its spaces
             * and comments dropped): kept for the outbreak detector, which
             * notices a From that changes its name message by message */
            memcpy(name, fb->buf, fb->n);
            name[fb->n] = '\0';
            return copy_angle(it, fb);
        }
        if (ch == '"')
            copy_quoted(it, fb);
        else if (ch == '(')
            skip_comment(it);
        else if (ch == ':') {
            fb->n = 0; /* "group-name:" */
            fb->truncated = false;
        } else if (ch == ',' || ch == ';') {
            if (fb->n > 0)
                return true;
        } else if (ch != ' ')
            fact_put(fb, ch);
    }
    return fb->n > 0;
}

/* scan_from - From's first addr-spec, domain lowercased, and the display
 * name before it into NAME. */
static void scan_from(struct value_iter *it, char *out, char *name)
{
    struct fact_buf fb = {.buf = out, .n = 0, .truncated = false};
    if (!first_mailbox(it, &fb, name))
        fb.n = 0;
    out[fb.n] = '\0';
    lower_domain(out);
}

/* scan_message_id - the first "<...>" token, whitespace and comments
 * outside it dropped (RFC 5322 3.6.4 msg-id). */
static void scan_message_id(struct value_iter *it, char *out)
{
    struct fact_buf fb = {.buf = out, .n = 0, .truncated = false};
    int ch;
    out[0] = '\0';
    while ((ch = vnext(it)) != -1) {
        if (ch == '(') {
            skip_comment(it);
            continue;
        }
        if (ch != '<')
            continue;
        fact_put(&fb, '<');
        while ((ch = vnext(it)) != -1 && ch != '>')
            if (ch != ' ')
                fact_put(&fb, ch);
        if (ch != '>') {
            out[0] = '\0'; /* never closed: nothing to report */
            return;
        }
        if (fb.n + 1 >= HEADER_FACT_MAX)
            fb.n = HEADER_FACT_MAX - 2; /* keep the closing bracket */
        fb.buf[fb.n++] = '>';
        out[fb.n] = '\0';
        return;
    }
}

/* cfws_next - the next octet of IT past spaces and comments, or -1. */
static int cfws_next(struct value_iter *it)
{
    int ch;
    while ((ch = vnext(it)) == ' ' || ch == '(')
        if (ch == '(')
            skip_comment(it);
    return ch;
}

/* word_put - append CH lowercased to OUT (N used of LEN), cut when full. */
static void word_put(char *out, size_t len, size_t *n, int ch)
{
    if (*n + 1 < len)
        out[(*n)++] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
}

/* mime_token - the next token or quoted-string of a MIME field (RFC 2045
 * 5.1: a type/subtype, a parameter's attribute or value), unquoted and
 * lowercased into OUT (LEN octets, cut); returns the first octet after
 * it that is not a space or a comment: ';', '=', another, or -1. */
static int mime_token(struct value_iter *it, char *out, size_t len)
{
    size_t n = 0;
    int ch = cfws_next(it);
    while (ch != -1 && ch != ' ' && ch != '(' && ch != ';' && ch != '=') {
        if (ch == '"') {
            while ((ch = vnext(it)) != -1 && ch != '"') {
                if (ch == '\\' && (ch = vnext(it)) == -1)
                    break;
                word_put(out, len, &n, ch);
            }
            if (ch == -1)
                break;
        } else {
            word_put(out, len, &n, ch);
        }
        ch = vnext(it);
    }
    out[n] = '\0';
    if (ch == '(')
        skip_comment(it);
    if (ch == ' ' || ch == '(')
        ch = cfws_next(it);
    return ch;
}

/* scan_report_type - for a multipart/report Content-Type (RFC 6522 3),
 * its report-type parameter into OUT (HEADER_WORD_MAX); else "". */
static void scan_report_type(struct value_iter *it, char *out)
{
    char type[HEADER_WORD_MAX], attr[HEADER_WORD_MAX], value[HEADER_WORD_MAX];
    int ch = mime_token(it, type, sizeof type);
    out[0] = '\0';
    if (strcmp(type, "multipart/report") != 0)
        return;
    while (ch != -1) {
        if (ch != ';') {
            ch = vnext(it); /* not a parameter: skip it */
            continue;
        }
        ch = mime_token(it, attr, sizeof attr);
        if (ch != '=')
            continue;
        ch = mime_token(it, value, sizeof value);
        if (strcmp(attr, "report-type") == 0)
            memcpy(out, value, sizeof value);
    }
}

/* header_field_is - the field's name is NAME, any case (RFC 5322 1.2.2). */
bool header_field_is(const char *s, const struct header_field *f, const char *name)
{
    size_t n = strlen(name);
    size_t i = f->start + n;
    if (f->value - f->start < n + 1 || strncasecmp(s + f->start, name, n) != 0)
        return false;
    while (is_wsp(s[i]))
        i++;
    return i == f->value - 1;
}

/* note_domain - the domain of the addr-spec in FB (lowercased; "" when it
 * has none or was cut) into OUT unless it is there: the count N after it. */
static size_t note_domain(const struct fact_buf *fb, char (*out)[HEADER_FACT_MAX], size_t max,
                          size_t n)
{
    char domain[HEADER_FACT_MAX];
    const char *at = memchr(fb->buf, '@', fb->n) ? strrchr(fb->buf, '@') : NULL;
    size_t len = at && !fb->truncated ? fb->n - (size_t)(at + 1 - fb->buf) : 0;
    for (size_t i = 0; i < len; i++) {
        char ch = at[1 + i];
        domain[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
    }
    domain[len] = '\0';
    for (size_t i = 0; i < n && i < max; i++)
        if (strcmp(out[i], domain) == 0)
            return n;
    if (n < max)
        memcpy(out[n], domain, len + 1);
    /* past MAX the domains are only counted: one seen again may be
     * counted twice, which only makes a count past MAX larger */
    return n + 1;
}

size_t header_from_domains(const char *msg, size_t len, char (*out)[HEADER_FACT_MAX], size_t max)
{
    char addr[HEADER_FACT_MAX], name[HEADER_FACT_MAX];
    size_t pos = 0, n = 0;
    struct header_field f;
    while (header_next_field(msg, len, &pos, &f)) {
        if (!header_field_is(msg, &f, "From"))
            continue;
        struct value_iter it = {.s = msg, .pos = f.value, .end = f.end};
        for (;;) {
            struct fact_buf fb = {.buf = addr, .n = 0, .truncated = false};
            if (!first_mailbox(&it, &fb, name))
                break;
            addr[fb.n] = '\0';
            n = note_domain(&fb, out, max, n);
        }
    }
    return n;
}

/* header_scan - walk the fields up to the empty line; the first From,
 * Subject, Message-ID, Content-Type and Auto-Submitted win, as a reader
 * would see them. */
void header_scan(const char *msg, size_t len, struct header_facts *out)
{
    size_t lim = len < HEADER_SCAN_LIMIT ? len : HEADER_SCAN_LIMIT;
    size_t pos = 0;
    bool have_from = false, have_subject = false, have_id = false, have_type = false,
         have_auto = false;
    struct header_field f;

    memset(out, 0, sizeof(*out));
    while (header_next_field(msg, lim, &pos, &f)) {
        struct value_iter it = {.s = msg, .pos = f.value, .end = f.end};
        if (!have_from && header_field_is(msg, &f, "From")) {
            scan_from(&it, out->from, out->from_name);
            have_from = true;
        } else if (!have_subject && header_field_is(msg, &f, "Subject")) {
            scan_subject(&it, out->subject);
            have_subject = true;
        } else if (!have_id && header_field_is(msg, &f, "Message-ID")) {
            scan_message_id(&it, out->message_id);
            have_id = true;
        } else if (!have_type && header_field_is(msg, &f, "Content-Type")) {
            scan_report_type(&it, out->report_type);
            have_type = true;
        } else if (!have_auto && header_field_is(msg, &f, "Auto-Submitted")) {
            /* RFC 3834 5: a keyword, then optional parameters */
            mime_token(&it, out->auto_submitted, sizeof out->auto_submitted);
            have_auto = true;
        } else if (header_field_is(msg, &f, "X-Failed-Recipients")) {
            out->failed_recipients = true;
        }
    }
}
