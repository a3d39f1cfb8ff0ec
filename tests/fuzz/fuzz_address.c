/* tests/fuzz/fuzz_address - room: tests.  libFuzzer target for
 * core/address: every combination of allowances, and the round trip
 * "format, then parse again" must give back the same mailbox. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/address.h"

/* check_round_trip - MB formatted and re-bracketed parses to MB again. */
static void check_round_trip(const struct mailbox *mb)
{
    char text[ADDRESS_TEXT_MAX];
    char path[ADDRESS_TEXT_MAX + 2];
    struct mailbox again;
    size_t used;
    int n;

    if (mb->null_path)
        return;
    address_format(mb, text, sizeof(text));
    /* The text is never longer than the path it came from, so callers may
     * size their buffers by ADDRESS_PATH_MAX. */
    if (strlen(text) + 2 > ADDRESS_PATH_MAX && mb->domain[0] != '\0')
        abort();
    n = snprintf(path, sizeof(path), "<%s>", text);
    if (n < 0 || (size_t)n >= sizeof(path))
        abort();
    if (address_parse_path(path, (size_t)n, false, true, &again, &used) != ADDRESS_OK ||
        used != (size_t)n || strcmp(again.local, mb->local) != 0 ||
        strcmp(again.domain, mb->domain) != 0 || again.utf8 != mb->utf8 ||
        again.literal != mb->literal)
        abort();
}

/* LLVMFuzzerTestOneInput - parse DATA as a path four ways. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    for (int flags = 0; flags < 4; flags++) {
        struct mailbox mb;
        size_t used = 0;
        enum address_status st = address_parse_path(s, size, flags & 1, flags & 2, &mb, &used);
        if (used > size || address_status_text(st) == NULL)
            abort();
        if (st == ADDRESS_OK) {
            if (strlen(mb.local) > ADDRESS_LOCAL_MAX || strlen(mb.domain) > ADDRESS_DOMAIN_MAX ||
                used > ADDRESS_PATH_MAX)
                abort();
            check_round_trip(&mb);
        }
    }
    return 0;
}
