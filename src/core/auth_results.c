/* core/auth_results - finding the Authentication-Results fields of a
 * header section that claim an authserv-id (room: core).
 *
 * RFC 8601 5: a border MTA "MUST delete or otherwise obscure" the
 * Authentication-Results fields that carry its own authserv-id before
 * adding its own, or a sender could forge "dmarc=pass" for the readers'
 * filters.  The header is read field by field with core/header_scan's
 * iterator (RFC 5322 2.2: a field and its folded lines; the first empty
 * line ends the header).  Only LEN octets are ever read; a field cut by
 * LEN is left as it is. */
#include "core/auth_results.h"

#include "core/header_scan.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#define FIELD "Authentication-Results"

/* skip_cfws - past white space and (nested) comments from P to END. */
static size_t skip_cfws(const char *msg, size_t p, size_t end)
{
    unsigned depth = 0;
    while (p < end) {
        char c = msg[p];
        if (c == '(')
            depth++;
        else if (c == ')' && depth > 0)
            depth--;
        else if (c == '\\' && depth > 0 && p + 1 < end)
            p++; /* a quoted-pair inside a comment */
        else if (depth == 0 && c != ' ' && c != '\t' && c != '\r' && c != '\n')
            break;
        p++;
    }
    return p;
}

/* quoted_is - is the quoted-string at MSG[P] (before END) AUTHSERV_ID
 * once its quoted-pairs are undone (RFC 5322 3.2.4)? */
static bool quoted_is(const char *msg, size_t p, size_t end, const char *authserv_id)
{
    size_t i = 0;
    for (p++; p < end && msg[p] != '"'; p++, i++) {
        if (msg[p] == '\\' && p + 1 < end)
            p++;
        if (authserv_id[i] == '\0' ||
            tolower((unsigned char)msg[p]) != tolower((unsigned char)authserv_id[i]))
            return false;
    }
    return p < end && i > 0 && authserv_id[i] == '\0';
}

/* auth_results_claims - the value's first token, before ';' (RFC 8601
 * 2.2), is the authserv-id: a "value" of RFC 2045 5.1, so a token or a
 * quoted-string. */
bool auth_results_claims(const char *msg, const struct header_field *f, const char *authserv_id)
{
    size_t end = f->end, idlen = strlen(authserv_id);
    if (!header_field_is(msg, f, FIELD))
        return false;
    size_t p = skip_cfws(msg, f->value, end);
    if (p < end && msg[p] == '"')
        return quoted_is(msg, p, end, authserv_id);
    size_t id = p;
    while (p < end && msg[p] != ';' && msg[p] != ' ' && msg[p] != '\t' && msg[p] != '\r' &&
           msg[p] != '\n' && msg[p] != '(')
        p++;
    return p - id == idlen && idlen > 0 && strncasecmp(msg + id, authserv_id, idlen) == 0;
}

size_t auth_results_strip(char *msg, size_t len, const char *authserv_id)
{
    size_t next = 0;
    struct header_field f;
    while (header_next_field(msg, len, &next, &f)) {
        if (next >= len)
            break; /* a field that reaches LEN may go on past it: left alone */
        if (!auth_results_claims(msg, &f, authserv_id))
            continue;
        memmove(msg + f.start, msg + next, len - next);
        len -= next - f.start;
        next = f.start;
    }
    return len;
}
