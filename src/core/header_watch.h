/* core/header_watch - watch a message's header section go by, octet run by
 * octet run, as DATA is received, and note where the fields that matter
 * to the inbound checks end: the last Authentication-Results field that
 * claims this server's authserv-id (RFC 8601 5) and the last From: field.
 * The header can be far longer than the part of the message kept in
 * memory (queue/spool: 256 KB); the checks read that part only, so a
 * field past it is one they cannot remove (a forged Authentication-
 * Results) or read (a From:), and policy/inbound refuses the message.
 * Nothing is copied but the first HEADER_WATCH_KEEP octets of the field
 * being read (room: core). */
#ifndef FLOODGATE_CORE_HEADER_WATCH_H
#define FLOODGATE_CORE_HEADER_WATCH_H

#include <stdbool.h>
#include <stddef.h>

/* Octets of a field kept to read its name and authserv-id: a claiming
 * field whose authserv-id is not over within them counts as claiming. */
#define HEADER_WATCH_KEEP 1024

struct header_watch {
    const char *authserv_id; /* borrowed */
    size_t off;              /* octets fed */
    bool body;               /* the empty line went by: nothing more to watch */
    bool line_start;         /* the next octet begins a line */
    bool cr_at_start;        /* the line began with CR: empty if LF follows */
    bool open;               /* a field is being read */
    size_t kept;             /* octets of it in KEEP */
    char keep[HEADER_WATCH_KEEP];
    size_t forged_end; /* just past the last field claiming AUTHSERV_ID; 0: none */
    size_t from_end;   /* just past the last From: field; 0: none */
};

/* header_watch_init - ready for a message; AUTHSERV_ID must outlive W. */
void header_watch_init(struct header_watch *w, const char *authserv_id);

/* header_watch_feed - the next N octets of the message (as stored: CR LF
 * line ends). */
void header_watch_feed(struct header_watch *w, const char *p, size_t n);

/* header_watch_finish - the message ended: a header without an empty
 * line ends with it. */
void header_watch_finish(struct header_watch *w);

#endif
