/* core/private_state - keep the state directory private (0700/0600),
 * narrowing wider modes found at start with one warning per path. */
#ifndef FLOODGATE_CORE_PRIVATE_STATE_H
#define FLOODGATE_CORE_PRIVATE_STATE_H

#include <stdbool.h>

/* The umask both programs run under: what they create is 0600/0700. */
#define PRIVATE_UMASK 077

/* private_narrow - take group and other bits from PATH (a log file may
 * keep group read, IS_LOG), logging event=permissions_narrowed once when
 * it changed.  1 narrowed, 0 already private or absent, -1 error (logged). */
int private_narrow(const char *path, bool is_log);

/* private_state_narrow - narrow STATE_DIR, each entry directly in it, the
 * DKIM keys, and LOG_FILE (which may live elsewhere).  Returns how many
 * paths were narrowed, or -1 when STATE_DIR cannot be read. */
int private_state_narrow(const char *state_dir, const char *log_file);

#endif
