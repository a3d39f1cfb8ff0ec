/* tests/fuzz/fuzz_header_scan - room: tests.  libFuzzer target for
 * core/header_scan: any octets in, three terminated facts out, with no
 * control characters in them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/header_scan.h"

/* check_fact - terminated inside its array, free of control octets. */
static void check_fact(const char *s)
{
    size_t n = strnlen(s, HEADER_FACT_MAX);
    if (n >= HEADER_FACT_MAX)
        abort();
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f)
            abort();
    }
}

/* LLVMFuzzerTestOneInput - DATA is a message. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct header_facts f;
    header_scan((const char *)data, size, &f);
    check_fact(f.from);
    check_fact(f.subject);
    check_fact(f.message_id);
    if (f.message_id[0] != '\0' &&
        (f.message_id[0] != '<' || f.message_id[strlen(f.message_id) - 1] != '>'))
        abort();
    return 0;
}
