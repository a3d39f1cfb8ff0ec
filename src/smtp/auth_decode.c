/* smtp/auth_decode - room: smtp (parser).  One AUTH response line, decoded
 * and checked for its mechanism's step, with no session and no I/O: the
 * verdict decides how the exchange goes on (smtp/auth.c). */
#include "smtp/auth_decode.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* is_b64 - an octet of the base64 alphabet (RFC 4648 4), '=' aside. */
static bool is_b64(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* b64_decode - decode IN (LEN octets) into R->text, NUL-terminated. */
static enum auth_decode_status b64_decode(const char *in, size_t len, struct auth_response *r)
{
    /* RFC 4648 4 read strictly: whole quanta, the alphabet only, and at
     * most two '=' of padding at the very end (EVP_DecodeBlock alone would
     * skip blanks and take '=' in the middle). */
    if (len % 4 != 0)
        return AUTH_DECODE_BAD_BASE64;
    size_t pad = 0;
    while (pad < 2 && pad < len && in[len - 1 - pad] == '=')
        pad++;
    for (size_t i = 0; i < len - pad; i++)
        if (!is_b64(in[i]))
            return AUTH_DECODE_BAD_BASE64;
    unsigned char *out = malloc(len / 4 * 3 + 1);
    if (out == NULL)
        return AUTH_DECODE_NO_MEMORY;
    int n = len ? EVP_DecodeBlock(out, (const unsigned char *)in, (int)len) : 0;
    if (n < 0 || (size_t)n < pad) {
        free(out);
        return AUTH_DECODE_BAD_BASE64;
    }
    n -= (int)pad; /* EVP_DecodeBlock counts the padding as zero octets */
    out[n] = '\0';
    r->text = (char *)out;
    r->len = (size_t)n;
    return AUTH_DECODE_OK;
}

/* split_plain - RFC 4616 2: [authzid] NUL authcid NUL passwd, the
 * authcid and passwd not empty and no third NUL. */
static enum auth_decode_status split_plain(struct auth_response *r)
{
    char *msg = r->text, *end = r->text + r->len;
    char *sep1 = memchr(msg, '\0', r->len);
    char *sep2 = sep1 ? memchr(sep1 + 1, '\0', (size_t)(end - sep1 - 1)) : NULL;
    if (sep2 == NULL || sep1 + 1 == sep2 || sep2 + 1 == end ||
        memchr(sep2 + 1, '\0', (size_t)(end - sep2 - 1)) != NULL)
        return AUTH_DECODE_MALFORMED;
    if ((size_t)(sep1 - msg) >= AUTH_TEXT_MAX || (size_t)(sep2 - sep1 - 1) >= AUTH_TEXT_MAX)
        return AUTH_DECODE_MALFORMED;
    r->authzid = msg;
    r->user = sep1 + 1;
    r->password = sep2 + 1;
    return AUTH_DECODE_OK;
}

enum auth_decode_status auth_decode_response(enum auth_step step, const char *line, size_t len,
                                             struct auth_response *out)
{
    memset(out, 0, sizeof *out);
    if (len == 1 && line[0] == '*')
        return AUTH_DECODE_CANCELLED;
    if (len > SMTP_AUTH_LINE_MAX)
        return AUTH_DECODE_TOO_LONG;
    enum auth_decode_status st = b64_decode(line, len, out);
    if (st != AUTH_DECODE_OK)
        return st;
    if (step == AUTH_STEP_PLAIN)
        st = split_plain(out);
    else if (strlen(out->text) != out->len || out->len >= AUTH_TEXT_MAX ||
             (step == AUTH_STEP_LOGIN_USER && out->len == 0))
        st = AUTH_DECODE_MALFORMED; /* a NUL inside, too long, or no name */
    else if (step == AUTH_STEP_LOGIN_USER)
        out->user = out->text;
    else
        out->password = out->text;
    if (st != AUTH_DECODE_OK)
        auth_response_clear(out);
    return st;
}

void auth_response_clear(struct auth_response *r)
{
    if (r->text) {
        OPENSSL_cleanse(r->text, r->len);
        free(r->text);
    }
    memset(r, 0, sizeof *r);
}

const char *auth_decode_status_name(enum auth_decode_status status)
{
    switch (status) {
    case AUTH_DECODE_OK:
        return "ok";
    case AUTH_DECODE_CANCELLED:
        return "cancelled";
    case AUTH_DECODE_TOO_LONG:
        return "too_long";
    case AUTH_DECODE_BAD_BASE64:
        return "bad_base64";
    case AUTH_DECODE_MALFORMED:
        return "malformed";
    case AUTH_DECODE_NO_MEMORY:
        return "out_of_memory";
    }
    return "unknown";
}
