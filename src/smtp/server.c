/* smtp/server - state every session shares that changes at run time. */
#include "smtp/server.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"

bool server_paused(const struct smtp_server *srv, const char *what)
{
    size_t i;
    json_t *v;
    json_array_foreach(srv->pauses, i, v)
    {
        if (strcmp(json_string_value(v), what) == 0)
            return true;
    }
    return false;
}

void server_set_pauses(struct smtp_server *srv, json_t *p)
{
    if (p == NULL) {
        log_warnx("event=store_error op=read_pauses");
        return;
    }
    json_decref(srv->pauses);
    srv->pauses = p;
    char *text = json_dumps(p, JSON_COMPACT);
    log_info("event=pauses paused=%s", log_quote(text));
    free(text);
}
