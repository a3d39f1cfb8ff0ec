/* core/auth_results - the Authentication-Results fields (RFC 8601) a
 * message arrives with: a field that claims this server's authserv-id was
 * not written by it (it writes its own after the checks), and is taken
 * out before a reader's filter could believe it (room: core). */
#ifndef FLOODGATE_CORE_AUTH_RESULTS_H
#define FLOODGATE_CORE_AUTH_RESULTS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/header_scan.h"

/* auth_results_strip - remove from the header section at the start of MSG
 * (LEN octets: the header up to its empty line, or all of MSG when the
 * line is not in it) every Authentication-Results field whose
 * authserv-id is AUTHSERV_ID (case-insensitive), with its folded lines.
 * Returns the new length; what follows the removed fields moves up. */
size_t auth_results_strip(char *msg, size_t len, const char *authserv_id);

/* auth_results_claims - is the field F of MSG an Authentication-Results
 * field whose authserv-id is AUTHSERV_ID (case-insensitive; a token or a
 * quoted-string, RFC 8601 2.2)? */
bool auth_results_claims(const char *msg, const struct header_field *f, const char *authserv_id);

#endif
