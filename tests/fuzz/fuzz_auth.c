/* tests/fuzz/fuzz_auth - room: tests.  libFuzzer target for
 * smtp/auth_decode: one AUTH response line (RFC 4954 4) read at each step
 * of PLAIN and LOGIN, as the session would.  The first octet picks the
 * step; the rest is the line without CR LF. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/auth_decode.h"

/* check - a decoded response is terminated, within its limits, and its
 * pointers lie inside the decoded text. */
static void check(enum auth_step step, const struct auth_response *r, size_t in_len)
{
    const char *end = r->text + r->len;
    if (r->text == NULL || r->text[r->len] != '\0' || r->len > in_len / 4 * 3)
        abort();
    if (step == AUTH_STEP_PLAIN) {
        if (r->authzid != r->text || r->user <= r->authzid || r->password <= r->user ||
            r->password >= end || strlen(r->authzid) >= AUTH_TEXT_MAX ||
            strlen(r->user) >= AUTH_TEXT_MAX || *r->user == '\0' || *r->password == '\0' ||
            r->password + strlen(r->password) != end)
            abort();
    } else if (step == AUTH_STEP_LOGIN_USER) {
        if (r->user != r->text || strlen(r->user) != r->len || r->len == 0 ||
            r->len >= AUTH_TEXT_MAX)
            abort();
    } else if (r->password != r->text || strlen(r->password) != r->len || r->len >= AUTH_TEXT_MAX) {
        abort();
    }
}

/* LLVMFuzzerTestOneInput - DATA[0] % 3 is the step, DATA + 1 the line. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    enum auth_step step = (enum auth_step)(data[0] % 3);
    const char *line = (const char *)data + 1;
    size_t len = size - 1;
    struct auth_response r;
    enum auth_decode_status st = auth_decode_response(step, line, len, &r);
    if (st == AUTH_DECODE_OK)
        check(step, &r, len);
    else if (r.text != NULL || (st == AUTH_DECODE_CANCELLED && !(len == 1 && line[0] == '*')) ||
             (st == AUTH_DECODE_TOO_LONG && len <= SMTP_AUTH_LINE_MAX))
        abort();
    if (auth_decode_status_name(st) == NULL)
        abort();
    auth_response_clear(&r);
    if (r.text != NULL)
        abort();
    return 0;
}
