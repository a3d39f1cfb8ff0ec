/* control/doctor_dns - the DNS part of `floodctl doctor`: for each local
 * domain its MX, SPF (evaluated by libspf2 for each public address), the
 * DKIM key published against the one in the store, DMARC, MTA-STS and
 * TLS-RPT; for each public address its PTR and whether that name resolves
 * back (FCrDNS) and is the HELO name; and whether the hostname resolves
 * to the public addresses.  Synchronous (it waits on DNS): floodctl and
 * worker threads only (room: control). */
#ifndef FLOODGATE_CONTROL_DOCTOR_DNS_H
#define FLOODGATE_CONTROL_DOCTOR_DNS_H

#include <jansson.h>

#include "core/config.h"
#include "store/store.h"

/* Called before each domain or address is checked, for a progress line. */
typedef void (*doctor_progress_fn)(const char *what, void *arg);

/* doctor_dns - append the DNS checks to CHECKS.  DB gives the local
 * domains and DKIM keys (NULL: only the hostname and the addresses are
 * checked).  -1 when the resolver cannot be made or memory runs out
 * (ERR says why). */
int doctor_dns(const struct config *cfg, store_db *db, json_t *checks, doctor_progress_fn progress,
               void *arg, char *err, size_t errlen);

/* doctor_blocklists - append a check for each public address on each
 * list of reputation.blocklists: ok (not listed), fail (listed: the code,
 * its meaning and the list's reason), unknown (a DNS failure or a
 * refusal, never "listed").  -1 as doctor_dns. */
int doctor_blocklists(const struct config *cfg, json_t *checks, doctor_progress_fn progress,
                      void *arg, char *err, size_t errlen);

#endif
