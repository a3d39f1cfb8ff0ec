/* core/header_scan - pull From, Subject and Message-ID out of a message's
 * header section (RFC 5322 2.2), for the envelope an admin searches. */
#ifndef FLOODGATE_CORE_HEADER_SCAN_H
#define FLOODGATE_CORE_HEADER_SCAN_H

#include <stddef.h>

#define HEADER_FACT_MAX 256
#define HEADER_SCAN_LIMIT 65536 /* octets of header section looked at */

struct header_facts {
    char from[HEADER_FACT_MAX];       /* the addr-spec of From:, lowercased domain; "" if none */
    char from_name[HEADER_FACT_MAX];  /* its display name, spaces and comments dropped; "" */
    char subject[HEADER_FACT_MAX];    /* unfolded, as sent (not MIME-decoded), truncated */
    char message_id[HEADER_FACT_MAX]; /* with the angle brackets */
};

/* header_scan - scan MSG (LEN octets, CR LF line ends; only the first
 * HEADER_SCAN_LIMIT are looked at) up to the empty line.  Control characters
 * in values are replaced by '?'. Missing headers give "". */
void header_scan(const char *msg, size_t len, struct header_facts *out);

#endif
