/* tests/fuzz/fuzz_data_reader - room: tests.  libFuzzer target for
 * smtp/data_reader: the input fed whole, cut at a point taken from the
 * input, and octet by octet must give identical output and flags, and
 * never a NUL octet in the output. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/data_reader.h"

/* What a run produced: a hash of the output instead of a copy. */
struct run {
    uint64_t hash;
    size_t out_len;
    size_t consumed;
};

/* absorb - the emit callback: FNV-1a over the output. */
static void absorb(void *ctx, const char *bytes, size_t len)
{
    struct run *run = ctx;
    if (len == 0)
        abort();
    for (size_t i = 0; i < len; i++) {
        if (bytes[i] == '\0')
            abort(); /* a NUL is never passed on */
        run->hash = (run->hash ^ (unsigned char)bytes[i]) * 1099511628211ULL;
    }
    run->out_len += len;
}

/* feed_one - one call of the reader over N octets at IN + *POS. */
static void feed_one(struct data_reader *r, const char *in, size_t *pos, size_t n)
{
    size_t used = data_reader_feed(r, in + *pos, n);
    if (used > n || (!r->done && used != n))
        abort();
    *pos += used;
}

/* feed - run the reader over IN: a first call of FIRST octets (possibly
 * none), then calls of STEP (>= 1) octets. */
static void feed(const char *in, size_t len, enum bare_lf_mode mode, size_t max, size_t first,
                 size_t step, struct data_reader *r, struct run *run)
{
    size_t pos = 0;
    memset(run, 0, sizeof(*run));
    run->hash = 14695981039346656037ULL;
    data_reader_init(r, mode, max, absorb, run);
    feed_one(r, in, &pos, first < len ? first : len);
    while (pos < len && !r->done)
        feed_one(r, in, &pos, step < len - pos ? step : len - pos);
    run->consumed = pos;
}

/* same - two runs agree. */
static void same(const struct data_reader *a, const struct run *ra, const struct data_reader *b,
                 const struct run *rb)
{
    if (ra->hash != rb->hash || ra->out_len != rb->out_len || ra->consumed != rb->consumed ||
        a->size != b->size || a->done != b->done || a->bare_lf != b->bare_lf ||
        a->bare_cr != b->bare_cr || a->too_big != b->too_big || a->nul != b->nul)
        abort();
}

/* LLVMFuzzerTestOneInput - first octet: mode and size limit; second: the
 * cut; the rest is the DATA stream. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct data_reader r1, r2, r3;
    struct run a, b, c;
    if (size < 2)
        return 0;
    enum bare_lf_mode mode = (data[0] & 1) ? BARE_LF_NORMALIZE : BARE_LF_REJECT;
    size_t max = (data[0] & 2) ? (size_t)(data[0] >> 2) * 4 : SIZE_MAX;
    const char *in = (const char *)data + 2;
    size_t len = size - 2;
    size_t cut = len ? data[1] % (len + 1) : 0;

    feed(in, len, mode, max, len, 1, &r1, &a);
    feed(in, len, mode, max, cut, len, &r2, &b);
    feed(in, len, mode, max, 1, 1, &r3, &c);
    same(&r1, &a, &r2, &b);
    same(&r1, &a, &r3, &c);
    if (a.out_len > max || (!r1.too_big && a.out_len != r1.size) || a.consumed > len)
        abort();
    return 0;
}
