/* core/privs - give up root after the ports are bound. */
#ifndef FLOODGATE_CORE_PRIVS_H
#define FLOODGATE_CORE_PRIVS_H

#include <stddef.h>

/* privs_drop - when running as root: hand STATE_DIR (and what is directly
 * in it) to USER, then become USER for good.  Not root: nothing to do.
 * Root without USER is refused: a mail server must not run as root. */
int privs_drop(const char *user, const char *state_dir, char *err, size_t errlen);

#endif
