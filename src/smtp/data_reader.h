/* smtp/data_reader - decode the DATA stream of RFC 5321 4.1.1.4 and 4.5.2:
 * find the end "CR LF . CR LF", undo dot-stuffing, and watch for bare LF and
 * bare CR, which never end a line that could form the end-of-data (this is
 * what closes SMTP smuggling), and for NUL octets, which are never passed on.
 * Pure: bytes in, bytes out through a callback. */
#ifndef FLOODGATE_SMTP_DATA_READER_H
#define FLOODGATE_SMTP_DATA_READER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h" /* enum bare_lf_mode */

typedef void (*data_emit_fn)(void *ctx, const char *bytes, size_t len);

struct data_reader {
    int state;
    enum bare_lf_mode mode;
    size_t max_size;  /* content octets kept at most; past it, discard */
    size_t size;      /* content octets seen (after unstuffing), even if over */
    bool bare_lf;     /* a bare LF was seen */
    bool bare_cr;     /* a bare CR was seen */
    bool nul;         /* a NUL octet was seen (and dropped) */
    bool too_big;     /* size went over max_size */
    bool done;        /* end-of-data seen */
    data_emit_fn emit;
    void *ctx;
};

void data_reader_init(struct data_reader *r, enum bare_lf_mode mode, size_t max_size,
                      data_emit_fn emit, void *ctx);

/* data_reader_feed - consume up to LEN octets of IN.  Returns how many were
 * consumed: all of them, or fewer when end-of-data was reached (r->done) so
 * that what follows (pipelined commands) stays with the caller.  Content
 * lines end in CR LF in the output; the final CR LF before "." is kept as the
 * last line end of the message.  Once too_big, content is no longer emitted.
 * NUL octets are dropped, never emitted nor counted: the session refuses
 * the message (limits.nul = "reject") or keeps it without them ("strip"). */
size_t data_reader_feed(struct data_reader *r, const char *in, size_t len);

#endif
