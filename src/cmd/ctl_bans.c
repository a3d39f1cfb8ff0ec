/* cmd/ctl_bans - floodctl ban.  (Being written; see the issue note.) */
#include "cmd/ctl.h"

const char usage_ban[] = "  floodctl ban list|add|del\n";
const struct subcommand ban_subs[] = {{NULL, 0, 0, NULL, NULL}};
