/* core/checkpassword - parse the checkpassword input (room: core).  See
 * checkpassword.h. */
#include "core/checkpassword.h"

#include <string.h>

int checkpassword_parse(const char *buf, size_t len, const char **user, const char **password)
{
    if (len > CHECKPASSWORD_MAX)
        return -1;
    const char *end_user = memchr(buf, '\0', len);
    if (end_user == NULL || end_user == buf)
        return -1;
    size_t rest = len - (size_t)(end_user + 1 - buf);
    if (memchr(end_user + 1, '\0', rest) == NULL)
        return -1;
    *user = buf;
    *password = end_user + 1;
    return 0;
}
