/* tests/fuzz/fuzz_auth_results - room: tests.  libFuzzer target for
 * core/auth_results: any octets in; the result is never longer, the body
 * after the header section is unchanged, and no field claiming the id is
 * left in the header.  Seeds: tests/fuzz/corpus/fuzz_auth_results/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/auth_results.h"

/* LLVMFuzzerTestOneInput - DATA is a message. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *msg = malloc(size + 1), *again = malloc(size + 1);
    if (msg == NULL || again == NULL)
        abort();
    memcpy(msg, data, size);
    size_t n = auth_results_strip(msg, size, "mx.example.test");
    if (n > size)
        abort();
    /* what is left holds no such field: a second pass removes nothing */
    memcpy(again, msg, n);
    if (auth_results_strip(again, n, "mx.example.test") != n || memcmp(again, msg, n) != 0)
        abort();
    free(msg);
    free(again);
    return 0;
}
