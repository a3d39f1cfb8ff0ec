/* tests/fuzz/fuzz_header_scan - room: tests.  libFuzzer target for
 * core/header_scan: any octets in, terminated facts out (From, Subject,
 * Message-ID, and the report-type and Auto-Submitted words that tell a
 * bounce), with no control characters in them.  Seeds:
 * tests/fuzz/corpus/fuzz_header_scan/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/header_scan.h"

/* check_word - terminated inside its array of SIZE, free of control octets. */
static void check_word(const char *s, size_t size)
{
    size_t n = strnlen(s, size);
    if (n >= size)
        abort();
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f)
            abort();
    }
}

/* check_fact - a fact of HEADER_FACT_MAX. */
static void check_fact(const char *s)
{
    check_word(s, HEADER_FACT_MAX);
}

/* LLVMFuzzerTestOneInput - DATA is a message. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct header_facts f;
    header_scan((const char *)data, size, &f);
    check_fact(f.from);
    check_fact(f.subject);
    check_fact(f.message_id);
    check_word(f.report_type, sizeof f.report_type);
    check_word(f.auto_submitted, sizeof f.auto_submitted);
    if (f.message_id[0] != '\0' &&
        (f.message_id[0] != '<' || f.message_id[strlen(f.message_id) - 1] != '>'))
        abort();
    return 0;
}
