/* tests/fuzz/fuzz_header_watch - room: tests.  libFuzzer target for
 * core/header_watch: any octets in, fed in runs cut where the first octet
 * says; the ends it notes lie within what was fed, and feeding the same
 * message in one run notes the same ends (the cuts between runs change
 * nothing).  Seeds: tests/fuzz/corpus/fuzz_header_watch/. */
#include <stdint.h>
#include <stdlib.h>

#include "core/header_watch.h"

static struct header_watch a, b;

/* LLVMFuzzerTestOneInput - DATA[0] is the run length, the rest a message. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 1 << 20)
        return 0;
    size_t step = (size_t)data[0] + 1;
    const char *msg = (const char *)data + 1;
    size_t len = size - 1;
    header_watch_init(&a, "mx.example.test");
    header_watch_init(&b, "mx.example.test");
    for (size_t off = 0; off < len; off += step)
        header_watch_feed(&a, msg + off, len - off < step ? len - off : step);
    header_watch_feed(&b, msg, len);
    header_watch_finish(&a);
    header_watch_finish(&b);
    if (a.forged_end > len || a.from_end > len || a.kept > HEADER_WATCH_KEEP)
        abort();
    if (a.forged_end != b.forged_end || a.from_end != b.from_end)
        abort();
    return 0;
}
