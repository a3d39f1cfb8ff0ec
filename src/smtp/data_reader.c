/* smtp/data_reader - room: smtp (parser).  The DATA stream decoder: a
 * five-state machine that survives any chunking of its input, finds the
 * end-of-data "CR LF . CR LF" of RFC 5321 4.1.1.4, removes dot-stuffing
 * (RFC 5321 4.5.2), and notes bare CR and bare LF, and NUL octets, which
 * it drops (RFC 5322 2.3, RFC 2045 2.8: mail never holds NUL).
 *
 * Only a real CR LF starts a line.  A bare LF never does, so "\n.\r\n",
 * "\r\n.\n" and "\n.\n" do not end the message: a receiver that took them
 * for the end while the next hop did not could be made to accept a second,
 * smuggled message hidden in the first ("SMTP smuggling", 2023).  At most a
 * pending CR or a pending dot is held between calls; lines are never
 * buffered. */
#include "smtp/data_reader.h"

#include <stdint.h>
#include <string.h>

enum dr_state {
    DR_LINE_START, /* at the start of a line (after CR LF, or at the start) */
    DR_MID,        /* inside a line */
    DR_CR,         /* a CR inside a line, not yet emitted */
    DR_DOT,        /* a '.' at a line start, not yet emitted */
    DR_DOT_CR,     /* "." CR at a line start: one LF from the end */
};

/* data_reader_init - a reader at the start of the data, i.e. at a line start:
 * the CR LF that ended the DATA command counts as the one before a ".". */
void data_reader_init(struct data_reader *r, enum bare_lf_mode mode, size_t max_size,
                      data_emit_fn emit, void *ctx)
{
    r->state = DR_LINE_START;
    r->mode = mode;
    r->max_size = max_size;
    r->size = 0;
    r->bare_lf = false;
    r->bare_cr = false;
    r->nul = false;
    r->too_big = false;
    r->done = false;
    r->emit = emit;
    r->ctx = ctx;
}

/* content - pass N octets of content on and count them.  Past max_size
 * they are only counted; what is emitted is always exactly the first
 * max_size octets, whatever the chunking, so a cut message is the same
 * however it arrived.  While !too_big, size <= max_size holds. */
static void content(struct data_reader *r, const char *bytes, size_t n)
{
    if (!r->too_big) {
        size_t room = r->max_size - r->size;
        size_t k = n < room ? n : room;
        if (k > 0 && r->emit != NULL)
            r->emit(r->ctx, bytes, k);
        r->too_big = n > room;
    }
    r->size = (r->size > SIZE_MAX - n) ? SIZE_MAX : r->size + n;
}

/* bare_cr - a CR that was not followed by LF: content, as it came. */
static void bare_cr(struct data_reader *r)
{
    r->bare_cr = true;
    content(r, "\r", 1);
    r->state = DR_MID;
}

/* bare_lf - an LF without its CR.  NORMALIZE stores it as CR LF; REJECT
 * keeps it as is since the message will be refused with 554 anyway.  In
 * both modes what follows is not a line start. */
static void bare_lf(struct data_reader *r)
{
    r->bare_lf = true;
    if (r->mode == BARE_LF_NORMALIZE)
        content(r, "\r\n", 2);
    else
        content(r, "\n", 1);
    r->state = DR_MID;
}

/* run_length - how many octets from IN are plain content (no CR, LF, NUL). */
static size_t run_length(const char *in, size_t len)
{
    size_t n = 0;
    while (n < len && in[n] != '\r' && in[n] != '\n' && in[n] != '\0')
        n++;
    return n;
}

/* step_mid - inside a line: pass plain octets on in one piece. */
static size_t step_mid(struct data_reader *r, const char *in, size_t len)
{
    size_t n = run_length(in, len);
    if (n > 0) {
        content(r, in, n);
        return n;
    }
    if (in[0] == '\r')
        r->state = DR_CR;
    else if (in[0] == '\0')
        r->nul = true; /* dropped: a NUL never reaches the store */
    else
        bare_lf(r);
    return 1;
}

/* step - advance by one transition; returns the octets consumed, 0 when
 * the octet must be seen again in the new state (the state always moves
 * towards DR_MID, which always consumes, so this ends). */
static size_t step(struct data_reader *r, const char *in, size_t len)
{
    char ch = in[0];
    switch ((enum dr_state)r->state) {
    case DR_LINE_START:
        r->state = ch == '.' ? DR_DOT : DR_MID;
        return ch == '.' ? 1 : 0;
    case DR_MID:
        return step_mid(r, in, len);
    case DR_CR:
        if (ch != '\n') {
            bare_cr(r);
            return 0;
        }
        content(r, "\r\n", 2);
        r->state = DR_LINE_START;
        return 1;
    case DR_DOT:
        /* RFC 5321 4.5.2: the leading dot is dropped whatever follows. */
        r->state = ch == '\r' ? DR_DOT_CR : DR_MID;
        return ch == '\r' ? 1 : 0;
    case DR_DOT_CR:
        if (ch == '\n') {
            r->done = true;
            return 1;
        }
        bare_cr(r); /* the dot is dropped, the CR was bare */
        return 0;
    }
    r->state = DR_MID; /* impossible; recover rather than loop */
    return 0;
}

/* plain_lines - how many octets from IN, which starts a line, are whole
 * plain lines: each ended by CR LF, with no other CR, no LF, no NUL, and
 * not starting with a dot.  The machine would pass each on unchanged
 * (the text, then its CR LF) and come back to a line start, so they go
 * on in one piece: most of a message, found with memchr's word-wide
 * scans instead of a step per octet. */
static size_t plain_lines(const char *in, size_t len)
{
    size_t n = 0;
    while (n < len && in[n] != '.') {
        const char *lf = memchr(in + n, '\n', len - n);
        if (lf == NULL)
            break;                      /* the line is not whole yet */
        size_t end = (size_t)(lf - in); /* its LF */
        if (end == n || in[end - 1] != '\r')
            break; /* a bare LF: the machine's */
        size_t text = end - 1 - n;
        if (memchr(in + n, '\r', text) != NULL || memchr(in + n, '\0', text) != NULL)
            break;
        n = end + 1;
    }
    return n;
}

/* data_reader_feed - run the machine over IN until it is used up or the
 * end-of-data is found; what follows the end belongs to the caller. */
size_t data_reader_feed(struct data_reader *r, const char *in, size_t len)
{
    size_t i = 0;
    while (i < len && !r->done) {
        if (r->state == DR_LINE_START) {
            size_t n = plain_lines(in + i, len - i);
            if (n > 0) {
                content(r, in + i, n);
                i += n;
                continue;
            }
        }
        i += step(r, in + i, len - i);
    }
    return i;
}
