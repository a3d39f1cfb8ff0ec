/* core/auth_results - finding the Authentication-Results fields of a
 * header section that claim an authserv-id (room: core).
 *
 * RFC 8601 5: a border MTA "MUST delete or otherwise obscure" the
 * Authentication-Results fields that carry its own authserv-id before
 * adding its own, or a sender could forge "dmarc=pass" for the readers'
 * filters.  The header is read as RFC 5322 2.2 lays it out: a field is a
 * line that does not begin with white space, with the lines that do
 * (2.2.3, folding) after it; the first empty line ends the header.  Only
 * LEN octets are ever read; a field cut by LEN is left as it is. */
#include "core/auth_results.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#define FIELD "Authentication-Results"

/* line_end - the offset just past the LF of the line at P, or LEN when
 * the line does not end within MSG. */
static size_t line_end(const char *msg, size_t len, size_t p)
{
    const char *nl = memchr(msg + p, '\n', len - p);
    return nl ? (size_t)(nl - msg) + 1 : len;
}

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

/* claims - does the field MSG[START, END) name AUTHSERV_ID as its
 * authserv-id (RFC 8601 2.2: the value's first token, before ';'; a
 * "value" of RFC 2045 5.1, so a token or a quoted-string)? */
static bool claims(const char *msg, size_t start, size_t end, const char *authserv_id)
{
    size_t n = sizeof FIELD - 1, p = start + n, idlen = strlen(authserv_id);
    if (end - start < n || strncasecmp(msg + start, FIELD, n) != 0)
        return false;
    while (p < end && (msg[p] == ' ' || msg[p] == '\t'))
        p++;
    if (p >= end || msg[p] != ':')
        return false;
    p = skip_cfws(msg, p + 1, end);
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
    size_t p = 0;
    while (p < len) {
        size_t end = line_end(msg, len, p);
        if (msg[p] == '\n' || (msg[p] == '\r' && p + 1 < len && msg[p + 1] == '\n'))
            break; /* the empty line: the body follows */
        if (end == len)
            break; /* a field cut by LEN: left alone */
        while (end < len && (msg[end] == ' ' || msg[end] == '\t'))
            end = line_end(msg, len, end); /* folded lines belong to the field */
        if (end == len || !claims(msg, p, end, authserv_id)) {
            p = end;
            continue;
        }
        memmove(msg + p, msg + end, len - end);
        len -= end - p;
    }
    return len;
}
