/* tests/fuzz/fuzz_checkpassword - room: tests.  libFuzzer target for
 * core/checkpassword: the input Dovecot writes to a checkpassword program
 * on fd 3 ("user\0password\0timestamp\0"), as floodctl dovecot
 * checkpassword reads it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/checkpassword.h"

/* LLVMFuzzerTestOneInput - a parsed input's user and password lie inside
 * DATA, end at their NUL, and the user is not empty. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data, *user, *password;
    if (checkpassword_parse(buf, size, &user, &password) < 0)
        return 0;
    if (size > CHECKPASSWORD_MAX || user != buf || *user == '\0')
        abort();
    size_t ul = strnlen(user, size);
    if (ul >= size || password != user + ul + 1 ||
        strnlen(password, size - ul - 1) >= size - ul - 1)
        abort();
    return 0;
}
