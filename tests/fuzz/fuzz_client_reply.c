/* tests/fuzz/fuzz_client_reply - room: tests.  libFuzzer target for
 * delivery/client_reply: a remote server's replies, split into lines as the
 * client splits them.  The text kept must stay terminated and printable,
 * and a reply may never grow past its line limit. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "delivery/client_reply.h"

static void check_reply(const struct smtp_reply *r)
{
    size_t n = strnlen(r->text, sizeof r->text);
    if (n >= sizeof r->text || r->lines > SMTP_REPLY_LINES_MAX)
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)r->text[i] < 0x20 || (unsigned char)r->text[i] >= 0x7f)
            abort();
    if (r->lines > 0 && (r->code < 200 || r->code > 599))
        abort();
}

/* LLVMFuzzerTestOneInput - DATA is a stream of reply lines. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct smtp_reply r;
    memset(&r, 0, sizeof r);
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (len > 0 && p[len - 1] == '\r')
            len--;
        const char *err = NULL;
        enum reply_status st = reply_feed_line(&r, p, len, &err);
        check_reply(&r);
        if (st == REPLY_BAD && err == NULL)
            abort();
        if (st != REPLY_MORE)
            memset(&r, 0, sizeof r);
        p = nl ? nl + 1 : end;
    }
    return 0;
}
