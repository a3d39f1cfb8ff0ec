/* core/header_scan - pull From, Subject and Message-ID out of a message's
 * header section (RFC 5322 2.2), for the envelope an admin searches, and
 * the few fields that tell a bounce (for the outbreak detector). */
#ifndef FLOODGATE_CORE_HEADER_SCAN_H
#define FLOODGATE_CORE_HEADER_SCAN_H

#include <stdbool.h>
#include <stddef.h>

#define HEADER_FACT_MAX 256
#define HEADER_WORD_MAX 32
#define HEADER_SCAN_LIMIT 65536 /* octets of header section looked at */

struct header_facts {
    char from[HEADER_FACT_MAX];       /* the addr-spec of From:, lowercased domain; "" if none */
    char from_name[HEADER_FACT_MAX];  /* its display name, spaces and comments dropped; "" */
    char subject[HEADER_FACT_MAX];    /* unfolded, as sent (not MIME-decoded), truncated */
    char message_id[HEADER_FACT_MAX]; /* with the angle brackets */
    /* the report-type parameter of a multipart/report Content-Type (RFC
     * 6522: "delivery-status" for a DSN), lowercased; "" when none */
    char report_type[HEADER_WORD_MAX];
    char auto_submitted[HEADER_WORD_MAX]; /* RFC 3834 keyword, lowercased; "" */
    bool failed_recipients;               /* an X-Failed-Recipients field (Exim's bounces) */
};

/* One header field of a message: [start, end) spans its name, the colon
 * and the folded value, without the final line end. */
struct header_field {
    size_t start;
    size_t value; /* the first octet after the colon */
    size_t end;
};

/* header_next_field - the field of MSG (LIM octets read at most) that
 * begins at *POS, with its folded lines (RFC 5322 2.2.3), into *F, and
 * *POS past its last line end (LIM when that line does not end before
 * LIM); false at the empty line ending the header section or at LIM.
 * Lines that are no field (no name and colon) are skipped. */
bool header_next_field(const char *msg, size_t lim, size_t *pos, struct header_field *f);

/* header_field_is - the name of F in MSG is NAME, in any case. */
bool header_field_is(const char *msg, const struct header_field *f, const char *name);

/* header_from_domains - the domains of every mailbox of every From: field
 * (RFC 5322 3.6.2: a mailbox-list; several From: fields are read too) of
 * MSG, LEN octets read at most, lowercased and each once, into OUT (MAX of
 * them).  A mailbox without a domain (or too long to read) gives "".
 * Returns how many distinct domains there are, which may be more than
 * MAX (then only the first MAX are in OUT); 0 when there is no From:. */
size_t header_from_domains(const char *msg, size_t len, char (*out)[HEADER_FACT_MAX], size_t max);

/* header_scan - scan MSG (LEN octets, CR LF line ends; only the first
 * HEADER_SCAN_LIMIT are looked at) up to the empty line.  Control characters
 * in values are replaced by '?'. Missing headers give "". */
void header_scan(const char *msg, size_t len, struct header_facts *out);

#endif
