/* tests/fuzz/fuzz_store_marker - room: tests.  libFuzzer target for
 * store/store_check's reader of the state dir's marker (floodgate.id):
 * whatever the file holds, the id and the date come out terminated,
 * within their sizes and printable (they are written into messages). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_check.h"

/* check_text - S (room for LEN) is terminated and printable. */
static void check_text(const char *s, size_t len)
{
    size_t n = strnlen(s, len);
    if (n >= len)
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
            abort();
}

/* LLVMFuzzerTestOneInput - DATA is the marker file's content. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char id[STORE_ID_MAX + 1], created[64];
    store_marker_parse((const char *)data, size, id, created, sizeof created);
    check_text(id, sizeof id);
    check_text(created, sizeof created);
    return 0;
}
