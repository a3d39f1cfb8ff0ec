/* core/address - room: smtp (parser).  Strict reader of the RFC 5321 4.1.2
 * Path grammar used by MAIL FROM and RCPT TO.  It scans the path once to
 * check the grammar and measure the parts, then copies the parts into the
 * caller's struct mailbox.  No allocation, no policy: it reports routes,
 * literals, quoted local parts and UTF-8 so that policy can decide. */
#include "core/address.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

/* A cursor over the path being scanned; UTF8 notes non-ASCII seen. */
struct cursor {
    const char *s;
    size_t len;
    size_t pos;
    bool utf8;
};

/* The spans found by the scan, as offsets into the input. */
struct path_spans {
    size_t local_start, local_end; /* raw, with the quotes if quoted */
    size_t domain_start, domain_end;
    bool route;
    bool quoted;
    bool literal;
    bool postmaster; /* "<postmaster>" without a domain */
};

/* peek - the octet under the cursor, or -1 at the end. */
static int peek(const struct cursor *c)
{
    if (c->pos >= c->len)
        return -1;
    return (unsigned char)c->s[c->pos];
}

/* accept_char - step over CH if it is under the cursor. */
static bool accept_char(struct cursor *c, int ch)
{
    if (peek(c) != ch)
        return false;
    c->pos++;
    return true;
}

/* is_alpha - ASCII letter; locale-independent on purpose. */
static bool is_alpha(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* is_digit - ASCII digit. */
static bool is_digit(int ch)
{
    return ch >= '0' && ch <= '9';
}

/* is_atext - RFC 5322 3.2.3 atext, ASCII part.  '%' and '!' are atext:
 * old relay syntaxes are refused by policy, not by the grammar. */
static bool is_atext(int ch)
{
    if (ch <= 0 || ch >= 0x80)
        return false; /* strchr would find the NUL terminator */
    return is_alpha(ch) || is_digit(ch) || strchr("!#$%&'*+-/=?^_`{|}~", ch) != NULL;
}

/* utf8_seq_len - length of the UTF-8 sequence led by octet B, 0 if B can
 * not lead one (RFC 3629 4: C0, C1 and F5..FF never appear). */
static size_t utf8_seq_len(unsigned char b)
{
    if (b >= 0xc2 && b <= 0xdf)
        return 2;
    if (b >= 0xe0 && b <= 0xef)
        return 3;
    if (b >= 0xf0 && b <= 0xf4)
        return 4;
    return 0;
}

/* scan_utf8 - step over one well-formed UTF-8 sequence (RFC 3629 4):
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool scan_utf8(struct cursor *c)
{
    const unsigned char *p = (const unsigned char *)c->s + c->pos;
    size_t n = c->pos < c->len ? utf8_seq_len(p[0]) : 0;
    if (n == 0 || c->len - c->pos < n)
        return false;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return false;
    /* The second octet's range is narrowed for E0, ED, F0 and F4. */
    if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) ||
        (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f))
        return false;
    c->pos += n;
    c->utf8 = true;
    return true;
}

/* scan_atom - 1*atext, where RFC 6531 3.3 adds UTF8-non-ascii. */
static bool scan_atom(struct cursor *c)
{
    size_t start = c->pos;
    for (;;) {
        int ch = peek(c);
        if (is_atext(ch))
            c->pos++;
        else if (ch >= 0x80) {
            if (!scan_utf8(c))
                return false;
        } else
            break;
    }
    return c->pos > start;
}

/* scan_dot_string - Dot-string = Atom *("." Atom) (RFC 5321 4.1.2). */
static bool scan_dot_string(struct cursor *c)
{
    if (!scan_atom(c))
        return false;
    while (accept_char(c, '.'))
        if (!scan_atom(c))
            return false;
    return true;
}

/* scan_quoted - Quoted-string = DQUOTE *QcontentSMTP DQUOTE (RFC 5321
 * 4.1.2): qtextSMTP is %d32-33 / %d35-91 / %d93-126 and a quoted-pair is a
 * backslash and %d32-126.  RFC 6531 3.3 adds UTF-8 to qtextSMTP. */
static bool scan_quoted(struct cursor *c)
{
    if (!accept_char(c, '"'))
        return false;
    for (;;) {
        int ch = peek(c);
        if (ch == '"') {
            c->pos++;
            return true;
        }
        if (ch == '\\') {
            c->pos++;
            ch = peek(c);
            if (ch < 32 || ch > 126)
                return false;
            c->pos++;
        } else if (ch >= 32 && ch <= 126) {
            c->pos++;
        } else if (ch >= 0x80) {
            if (!scan_utf8(c))
                return false;
        } else {
            return false; /* end of input, NUL, CR, LF, other controls */
        }
    }
}

/* scan_label - sub-domain = Let-dig [Ldh-str] (RFC 5321 4.1.2): letters,
 * digits and hyphens, neither first nor last a hyphen, at most 63 octets
 * (RFC 1035 2.3.4).  UTF-8 octets count as letters (RFC 6531 3.3 U-label). */
static bool scan_label(struct cursor *c)
{
    size_t start = c->pos;
    int last = -1;
    for (;;) {
        int ch = peek(c);
        if (is_alpha(ch) || is_digit(ch) || (ch == '-' && c->pos > start))
            c->pos++;
        else if (ch >= 0x80) {
            if (!scan_utf8(c))
                return false;
        } else
            break;
        last = ch;
    }
    if (c->pos == start || last == '-')
        return false;
    return c->pos - start <= 63;
}

/* scan_domain - Domain = sub-domain *("." sub-domain). */
static bool scan_domain(struct cursor *c)
{
    if (!scan_label(c))
        return false;
    while (accept_char(c, '.'))
        if (!scan_label(c))
            return false;
    return true;
}

/* valid_ipv4 - IPv4-address-literal = Snum 3("." Snum), Snum = 1*3DIGIT
 * with a value of 0..255 (RFC 5321 4.1.3). */
static bool valid_ipv4(const char *s, size_t len)
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        unsigned v = 0;
        size_t digits = 0;
        if (part > 0 && (i >= len || s[i++] != '.'))
            return false;
        while (i < len && is_digit((unsigned char)s[i]) && digits < 3) {
            v = v * 10 + (unsigned)(s[i++] - '0');
            digits++;
        }
        if (digits == 0 || v > 255)
            return false;
    }
    return i == len;
}

/* valid_ipv6 - "IPv6:" IPv6-addr (RFC 5321 4.1.3); the tag is matched
 * case-insensitively like every ABNF string.  inet_pton accepts exactly
 * the full, compressed and embedded-IPv4 forms the grammar names. */
static bool valid_ipv6(const char *s, size_t len)
{
    char tmp[INET6_ADDRSTRLEN + 1];
    unsigned char addr[16];
    if (len < 5 || strncasecmp(s, "IPv6:", 5) != 0)
        return false;
    s += 5;
    len -= 5;
    if (len == 0 || len >= sizeof(tmp) || memchr(s, '\0', len) != NULL)
        return false;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    return inet_pton(AF_INET6, tmp, addr) == 1;
}

/* scan_literal - address-literal "[...]": IPv4 or IPv6.  The
 * General-address-literal form has no registered tag in use, so it is
 * refused rather than guessed at. */
static bool scan_literal(struct cursor *c)
{
    size_t start;
    if (!accept_char(c, '['))
        return false;
    start = c->pos;
    while (c->pos < c->len && c->s[c->pos] != ']')
        c->pos++;
    if (!accept_char(c, ']'))
        return false;
    const char *body = c->s + start;
    size_t n = c->pos - 1 - start;
    return valid_ipv4(body, n) || valid_ipv6(body, n);
}

/* scan_route - A-d-l = At-domain *("," At-domain) ":" (RFC 5321 4.1.2).
 * Parsed only so that a well-formed route is told apart from garbage. */
static bool scan_route(struct cursor *c)
{
    do {
        if (!accept_char(c, '@') || !scan_domain(c))
            return false;
    } while (accept_char(c, ','));
    return accept_char(c, ':');
}

/* is_postmaster - the local part is "postmaster", any case (RFC 5321 4.5.1). */
static bool is_postmaster(const char *s, size_t len)
{
    return len == 10 && strncasecmp(s, "postmaster", 10) == 0;
}

/* scan_mailbox - Local-part "@" (Domain / address-literal), or the bare
 * "postmaster" that RFC 5321 4.1.1.3 allows as a forward-path. */
static bool scan_mailbox(struct cursor *c, struct path_spans *sp, bool allow_postmaster)
{
    sp->local_start = c->pos;
    sp->quoted = peek(c) == '"';
    if (!(sp->quoted ? scan_quoted(c) : scan_dot_string(c)))
        return false;
    sp->local_end = c->pos;
    if (peek(c) == '>' && allow_postmaster && !sp->route && !sp->quoted &&
        is_postmaster(c->s + sp->local_start, sp->local_end - sp->local_start)) {
        sp->postmaster = true;
        sp->domain_start = sp->domain_end = c->pos;
        return true;
    }
    if (!accept_char(c, '@'))
        return false;
    sp->domain_start = c->pos;
    sp->literal = peek(c) == '[';
    if (!(sp->literal ? scan_literal(c) : scan_domain(c)))
        return false;
    sp->domain_end = c->pos;
    return true;
}

/* copy_local - the local part into OUT, quotes removed and quoted-pairs
 * undone.  The raw span was checked to fit, and unquoting only shrinks it. */
static void copy_local(const char *s, const struct path_spans *sp, char *out)
{
    size_t n = 0;
    if (!sp->quoted) {
        n = sp->local_end - sp->local_start;
        memcpy(out, s + sp->local_start, n);
    } else {
        for (size_t i = sp->local_start + 1; i + 1 < sp->local_end; i++) {
            if (s[i] == '\\')
                i++;
            out[n++] = s[i];
        }
    }
    out[n] = '\0';
}

/* copy_domain - the domain into OUT, ASCII-lowercased: domains compare
 * without case (RFC 5321 2.4) and UTF-8 octets are left alone. */
static void copy_domain(const char *s, const struct path_spans *sp, char *out)
{
    size_t n = sp->domain_end - sp->domain_start;
    for (size_t i = 0; i < n; i++) {
        char ch = s[sp->domain_start + i];
        out[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    out[n] = '\0';
}

/* check_spans - the RFC 5321 4.5.3.1 limits, then route and UTF-8. */
static enum address_status check_spans(const struct path_spans *sp, size_t path_len, bool utf8,
                                       bool allow_utf8)
{
    if (sp->route)
        return ADDRESS_SOURCE_ROUTE;
    if (path_len > ADDRESS_PATH_MAX || sp->local_end - sp->local_start > ADDRESS_LOCAL_MAX ||
        sp->domain_end - sp->domain_start > ADDRESS_DOMAIN_MAX)
        return ADDRESS_TOO_LONG;
    if (utf8 && !allow_utf8)
        return ADDRESS_NEEDS_UTF8;
    return ADDRESS_OK;
}

/* fill_mailbox - copy the checked spans into OUT. */
static void fill_mailbox(const char *s, const struct path_spans *sp, bool utf8, struct mailbox *out)
{
    if (sp->postmaster) {
        memcpy(out->local, "postmaster", sizeof("postmaster"));
        out->domain[0] = '\0';
    } else {
        copy_local(s, sp, out->local);
        copy_domain(s, sp, out->domain);
    }
    out->quoted_local = sp->quoted;
    out->literal = sp->literal;
    out->utf8 = utf8;
}

/* address_parse_path - scan "<" [A-d-l ":"] Mailbox ">" or "<>", check the
 * limits, and fill OUT only when the whole path is acceptable. */
enum address_status address_parse_path(const char *s, size_t len, bool allow_null, bool allow_utf8,
                                       struct mailbox *out, size_t *consumed)
{
    struct cursor c = {.s = s, .len = len, .pos = 0, .utf8 = false};
    struct path_spans sp = {0};
    enum address_status st;

    memset(out, 0, sizeof(*out));
    *consumed = 0;
    if (!accept_char(&c, '<'))
        return ADDRESS_SYNTAX;
    if (accept_char(&c, '>')) {
        /* The null reverse-path of RFC 5321 4.5.5; never a recipient. */
        if (!allow_null)
            return ADDRESS_SYNTAX;
        out->null_path = true;
        *consumed = c.pos;
        return ADDRESS_OK;
    }
    if (peek(&c) == '@') {
        sp.route = true;
        if (!scan_route(&c))
            return ADDRESS_SYNTAX;
    }
    if (!scan_mailbox(&c, &sp, !allow_null) || !accept_char(&c, '>'))
        return ADDRESS_SYNTAX;
    *consumed = c.pos;
    st = check_spans(&sp, c.pos, c.utf8, allow_utf8);
    if (st == ADDRESS_OK)
        fill_mailbox(s, &sp, c.utf8, out);
    return st;
}

/* needs_quotes - true unless LOCAL is a valid Dot-string as it stands
 * (UTF-8 octets are atext under RFC 6531 and need no quotes). */
static bool needs_quotes(const char *local)
{
    bool at_atom_start = true;
    if (*local == '\0')
        return true;
    for (const char *p = local; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '.') {
            if (at_atom_start)
                return true;
            at_atom_start = true;
        } else if (is_atext(ch) || ch >= 0x80) {
            at_atom_start = false;
        } else {
            return true;
        }
    }
    return at_atom_start; /* a trailing dot */
}

/* Writer into a caller's buffer that remembers truncation. */
struct writer {
    char *buf;
    size_t len;
    size_t pos;
};

/* put_char - append CH when there is room for it and the final NUL. */
static void put_char(struct writer *w, char ch)
{
    if (w->pos + 1 < w->len)
        w->buf[w->pos++] = ch;
}

/* put_str - append S. */
static void put_str(struct writer *w, const char *s)
{
    while (*s)
        put_char(w, *s++);
}

/* address_format - the mailbox as text, truncated to LEN if need be. */
char *address_format(const struct mailbox *mb, char *buf, size_t len)
{
    struct writer w = {.buf = buf, .len = len, .pos = 0};
    if (len == 0)
        return buf;
    if (!mb->null_path) {
        if (needs_quotes(mb->local)) {
            /* Re-quote so the text parses back to the same local part
             * (RFC 5321 4.1.2 quoted-pairSMTP for '"' and '\'). */
            put_char(&w, '"');
            for (const char *p = mb->local; *p; p++) {
                if (*p == '"' || *p == '\\')
                    put_char(&w, '\\');
                put_char(&w, *p);
            }
            put_char(&w, '"');
        } else {
            put_str(&w, mb->local);
        }
        if (mb->domain[0] != '\0') {
            put_char(&w, '@');
            put_str(&w, mb->domain);
        }
    }
    buf[w.pos] = '\0';
    return buf;
}

/* address_status_text - words for a reply or a log line. */
const char *address_status_text(enum address_status st)
{
    switch (st) {
    case ADDRESS_OK:
        return "ok";
    case ADDRESS_SYNTAX:
        return "syntax error in address";
    case ADDRESS_TOO_LONG:
        return "address too long";
    case ADDRESS_SOURCE_ROUTE:
        return "source routes are not accepted";
    case ADDRESS_NEEDS_UTF8:
        return "non-ASCII address without SMTPUTF8";
    }
    return "unknown address status";
}
