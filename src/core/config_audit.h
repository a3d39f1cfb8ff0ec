/* core/config_audit - the config part of `floodctl doctor`: what each IP
 * group grants and whether it holds public address space, groups that
 * overlap, listeners that take passwords in clear text, who may relay on
 * each listener, and the loader's own warnings.  Pure: it reads a loaded
 * config and appends checks; it looks nothing up (room: core). */
#ifndef FLOODGATE_CORE_CONFIG_AUDIT_H
#define FLOODGATE_CORE_CONFIG_AUDIT_H

#include <jansson.h>

#include "core/config.h"

/* The statuses of a check.  floodctl doctor exits 0 when every check is
 * ok, 2 when one failed, else 1 (a warning, or a check it could not make). */
#define CHECK_OK "ok"
#define CHECK_WARN "warn"
#define CHECK_FAIL "fail"
#define CHECK_UNKNOWN "unknown"

/* check_add - append {"check", "subject", "status", "detail", "fix"} to
 * CHECKS (FIX may be NULL: nothing to do).  DETAIL is a printf format.
 * -1 when memory runs out. */
int check_add(json_t *checks, const char *check, const char *subject, const char *status,
              const char *fix, const char *detail, ...) __attribute__((format(printf, 6, 7)));

/* config_audit - append the config checks of CFG to CHECKS (a JSON
 * array).  -1 when memory runs out. */
int config_audit(const struct config *cfg, json_t *checks);

#endif
