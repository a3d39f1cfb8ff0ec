/* core/ipset - sets of IPv4 and IPv6 addresses (room: core).
 *
 * Every entry is stored as one inclusive range [lo, hi] of 128-bit values.
 * IPv4 addresses are kept as IPv4-mapped IPv6 (::ffff:a.b.c.d), so that a
 * client seen on an IPv6 socket as ::ffff:192.0.2.1 matches the same entries
 * as one seen on an IPv4 socket.  Lookups are a linear scan without any
 * allocation: groups are small and are checked once per connection. */
#include "core/ipset.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

/* Longest entry accepted; the longest valid one ("IPv6-IPv6") is 91. */
#define IPSET_ENTRY_MAX 100

/* Where IPv4 lives inside the 128-bit space: ::ffff:0:0/96. */
#define V4_MAPPED_LO 0x0000ffff00000000ULL

struct u128 {
    uint64_t hi, lo;
};

struct ip_range {
    struct u128 lo, hi;
};

struct ipset {
    struct ip_range *ranges;
    size_t n, cap;
};

/* A block of address space, as base and prefix length in the 128-bit space. */
struct block {
    struct u128 base;
    unsigned prefix;
};

/* Space that is not "the Internet" for the guards on IP groups: RFC 1918,
 * loopback, link-local, RFC 6598 shared space (CGNAT), ULA, IPv6
 * link-local and ::1.  A wide entry inside these is a LAN, not a mistake;
 * ipset.h says how each breadth level uses them. */
static const struct block private_blocks[] = {
    {{0, V4_MAPPED_LO | 0x0a000000u}, 96 + 8},  /* 10.0.0.0/8 */
    {{0, V4_MAPPED_LO | 0xac100000u}, 96 + 12}, /* 172.16.0.0/12 */
    {{0, V4_MAPPED_LO | 0xc0a80000u}, 96 + 16}, /* 192.168.0.0/16 */
    {{0, V4_MAPPED_LO | 0x7f000000u}, 96 + 8},  /* 127.0.0.0/8 */
    {{0, V4_MAPPED_LO | 0xa9fe0000u}, 96 + 16}, /* 169.254.0.0/16 */
    {{0, V4_MAPPED_LO | 0x64400000u}, 96 + 10}, /* 100.64.0.0/10 */
    {{0xfc00000000000000ULL, 0}, 7},            /* fc00::/7 */
    {{0xfe80000000000000ULL, 0}, 10},           /* fe80::/10 */
    {{0, 1}, 128},                              /* ::1 */
};

static const struct block v4_block = {{0, V4_MAPPED_LO}, 96};

/* u128_cmp - -1, 0 or 1 as A is below, equal to or above B. */
static int u128_cmp(struct u128 a, struct u128 b)
{
    if (a.hi != b.hi)
        return a.hi < b.hi ? -1 : 1;
    if (a.lo != b.lo)
        return a.lo < b.lo ? -1 : 1;
    return 0;
}

/* u128_sub - A - B, modulo 2^128. */
static struct u128 u128_sub(struct u128 a, struct u128 b)
{
    struct u128 r = {a.hi - b.hi, a.lo - b.lo};
    if (a.lo < b.lo)
        r.hi--;
    return r;
}

/* u128_add_sat - A + B, saturating at 2^128 - 1 instead of wrapping; the
 * breadth thresholds are far below the one value this loses. */
static struct u128 u128_add_sat(struct u128 a, struct u128 b)
{
    const struct u128 max = {UINT64_MAX, UINT64_MAX};
    uint64_t lo = a.lo + b.lo;
    uint64_t carry = lo < a.lo;
    uint64_t hi = a.hi + b.hi;
    if (hi < a.hi || hi + carry < hi)
        return max;
    return (struct u128){hi + carry, lo};
}

/* u128_pow2 - 2^N for N below 128. */
static struct u128 u128_pow2(unsigned n)
{
    if (n >= 64)
        return (struct u128){1ULL << (n - 64), 0};
    return (struct u128){0, 1ULL << n};
}

/* u128_hostmask - the bits below a PREFIX-bit network part (0 <= PREFIX <= 128). */
static struct u128 u128_hostmask(unsigned prefix)
{
    struct u128 m = {0, 0};
    if (prefix < 64) {
        m.hi = prefix == 0 ? UINT64_MAX : UINT64_MAX >> prefix;
        m.lo = UINT64_MAX;
    } else if (prefix < 128) {
        m.lo = UINT64_MAX >> (prefix - 64);
    }
    return m;
}

/* block_range - the inclusive range a block covers. */
static struct ip_range block_range(const struct block *b)
{
    struct u128 m = u128_hostmask(b->prefix);
    struct ip_range r = {{b->base.hi & ~m.hi, b->base.lo & ~m.lo},
                         {b->base.hi | m.hi, b->base.lo | m.lo}};
    return r;
}

/* overlap_count - how many addresses R and B share; never the whole space
 * because B is never the whole space. */
static struct u128 overlap_count(struct ip_range r, struct ip_range b)
{
    struct u128 lo = u128_cmp(r.lo, b.lo) > 0 ? r.lo : b.lo;
    struct u128 hi = u128_cmp(r.hi, b.hi) < 0 ? r.hi : b.hi;
    if (u128_cmp(lo, hi) > 0)
        return (struct u128){0, 0};
    return u128_add_sat(u128_sub(hi, lo), (struct u128){0, 1});
}

/* private_count - addresses of R inside the private blocks (which are
 * disjoint, so the sum counts none twice). */
static struct u128 private_count(struct ip_range r)
{
    struct u128 sum = {0, 0};
    for (size_t i = 0; i < sizeof(private_blocks) / sizeof(private_blocks[0]); i++)
        sum = u128_add_sat(sum, overlap_count(r, block_range(&private_blocks[i])));
    return sum;
}

/* family_breadth - the breadth of one family's part of an entry: COUNT
 * addresses of which PUBLIC are public, with the family's thresholds as
 * log2 of "everything", "wide" and "large".  Only public space makes an
 * entry "everything" or "large", so that fc00::/7, all of it ULA, is
 * neither; "wide" asks only that some of it be public, so that 10.0.0.0/7
 * (a private /8 and a public /8) is wide. */
static enum ipset_breadth family_breadth(struct u128 count, struct u128 public, unsigned all_bits,
                                         unsigned wide_bits, unsigned large_bits)
{
    if (u128_cmp(public, u128_pow2(all_bits)) >= 0)
        return IPSET_BREADTH_EVERYTHING;
    if (u128_cmp(count, u128_pow2(wide_bits)) > 0 && (public.hi || public.lo))
        return IPSET_BREADTH_WIDE;
    if (u128_cmp(public, u128_pow2(large_bits)) > 0)
        return IPSET_BREADTH_LARGE;
    return IPSET_BREADTH_OK;
}

/* range_breadth - how much of the Internet R covers.  The IPv4-mapped part
 * is judged as IPv4 (a public /7 is everything, wider than a /8 is wide,
 * more than a /16 is large), since IPv4 clients match it: "::/8" lets every
 * IPv4 client in.  The rest is judged as IPv6 (/7 and /32; a /32 is what a
 * registry gives one provider, so IPv6 has no "large" level below "wide"). */
static enum ipset_breadth range_breadth(struct ip_range r)
{
    struct ip_range v4 = block_range(&v4_block);
    struct u128 count = u128_add_sat(u128_sub(r.hi, r.lo), (struct u128){0, 1});
    struct u128 count4 = overlap_count(r, v4);
    struct u128 count6 = u128_sub(count, count4);
    struct u128 priv = private_count(r);
    struct u128 priv4 = {0, 0};
    if (count4.hi || count4.lo) {
        struct ip_range part = {u128_cmp(r.lo, v4.lo) > 0 ? r.lo : v4.lo,
                                u128_cmp(r.hi, v4.hi) < 0 ? r.hi : v4.hi};
        priv4 = private_count(part);
    }
    struct u128 priv6 = u128_sub(priv, priv4);
    enum ipset_breadth b4 =
        family_breadth(count4, u128_sub(count4, priv4), 32 - 7, 32 - 8, 32 - 16);
    enum ipset_breadth b6 =
        family_breadth(count6, u128_sub(count6, priv6), 128 - 7, 128 - 32, 128 - 32);
    return b4 > b6 ? b4 : b6;
}

/* bytes_to_u128 - a 16-octet address in network order as a number. */
static struct u128 bytes_to_u128(const unsigned char *b)
{
    struct u128 v = {0, 0};
    for (int i = 0; i < 8; i++) {
        v.hi = (v.hi << 8) | b[i];
        v.lo = (v.lo << 8) | b[i + 8];
    }
    return v;
}

/* v4_to_u128 - an IPv4 address in network order as its mapped value. */
static struct u128 v4_to_u128(const struct in_addr *a)
{
    return (struct u128){0, V4_MAPPED_LO | ntohl(a->s_addr)};
}

/* parse_addr - one numeric address of LEN octets at S; inet_pton is strict
 * (no octal, no short forms, no spaces).  FAMILY receives AF_INET or AF_INET6. */
static int parse_addr(const char *s, size_t len, struct u128 *out, int *family)
{
    char buf[IPSET_ENTRY_MAX + 1];
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (memchr(buf, ':', len) != NULL) {
        unsigned char a6[16];
        if (inet_pton(AF_INET6, buf, a6) != 1)
            return -1;
        *out = bytes_to_u128(a6);
        *family = AF_INET6;
        return 0;
    }
    struct in_addr a4;
    if (inet_pton(AF_INET, buf, &a4) != 1)
        return -1;
    *out = v4_to_u128(&a4);
    *family = AF_INET;
    return 0;
}

/* One entry as parsed: the range it matches and, for "ADDR/PREFIX", the
 * address and prefix as written (in the 128-bit space). */
struct parsed_entry {
    struct ip_range r;
    int family; /* AF_INET or AF_INET6, as written */
    bool cidr;
    struct block written;
};

/* parse_cidr - "ADDR/PREFIX"; the range has the host bits cleared, P->written
 * keeps them for ipset_inspect. */
static int parse_cidr(const char *s, const char *slash, struct parsed_entry *p, char *err,
                      size_t errlen)
{
    struct u128 a;
    uint64_t prefix;
    if (parse_addr(s, (size_t)(slash - s), &a, &p->family) < 0) {
        snprintf(err, errlen, "\"%s\": bad network address", s);
        return -1;
    }
    unsigned max = p->family == AF_INET ? 32 : 128;
    const char *digits = slash + 1;
    if (strlen(digits) > 3 || parse_u64(digits, strlen(digits), &prefix) < 0 || prefix > max) {
        snprintf(err, errlen, "\"%s\": bad prefix length (0 to %u)", s, max);
        return -1;
    }
    p->cidr = true;
    p->written = (struct block){a, (unsigned)prefix + (p->family == AF_INET ? 96 : 0)};
    p->r = block_range(&p->written);
    return 0;
}

/* parse_span - "FIRST-LAST" of one family, FIRST not above LAST. */
static int parse_span(const char *s, const char *dash, struct parsed_entry *p, char *err,
                      size_t errlen)
{
    int f2;
    if (parse_addr(s, (size_t)(dash - s), &p->r.lo, &p->family) < 0 ||
        parse_addr(dash + 1, strlen(dash + 1), &p->r.hi, &f2) < 0) {
        snprintf(err, errlen, "\"%s\": bad address in range", s);
        return -1;
    }
    if (p->family != f2) {
        snprintf(err, errlen, "\"%s\": range mixes IPv4 and IPv6", s);
        return -1;
    }
    if (u128_cmp(p->r.lo, p->r.hi) > 0) {
        snprintf(err, errlen, "\"%s\": range ends before it starts", s);
        return -1;
    }
    return 0;
}

/* parse_entry - any of the three entry forms into P. */
static int parse_entry(const char *s, struct parsed_entry *p, char *err, size_t errlen)
{
    size_t len = strnlen(s, IPSET_ENTRY_MAX + 1);
    *p = (struct parsed_entry){.cidr = false};
    if (len == 0) {
        snprintf(err, errlen, "empty address");
        return -1;
    }
    if (len > IPSET_ENTRY_MAX) {
        snprintf(err, errlen, "address longer than %d characters", IPSET_ENTRY_MAX);
        return -1;
    }
    const char *slash = strchr(s, '/');
    const char *dash = strchr(s, '-');
    if (slash && dash) {
        snprintf(err, errlen, "\"%s\": a range cannot have a prefix length", s);
        return -1;
    }
    if (slash)
        return parse_cidr(s, slash, p, err, errlen);
    if (dash)
        return parse_span(s, dash, p, err, errlen);
    if (parse_addr(s, len, &p->r.lo, &p->family) < 0) {
        snprintf(err, errlen, "\"%s\": bad address", s);
        return -1;
    }
    p->r.hi = p->r.lo;
    return 0;
}

/* in_v4_space - whether A is an IPv4-mapped address. */
static bool in_v4_space(struct u128 a)
{
    return a.hi == 0 && (a.lo >> 32) == 0xffffu;
}

/* addr_text - A as text in BUF, in IPv4 form when V4 (A is then mapped). */
static void addr_text(struct u128 a, bool v4, char *buf, size_t len)
{
    if (v4) {
        struct in_addr in = {htonl((uint32_t)a.lo)};
        if (inet_ntop(AF_INET, &in, buf, (socklen_t)len) == NULL && len)
            buf[0] = '\0';
        return;
    }
    unsigned char b[16];
    for (int i = 0; i < 8; i++) {
        b[i] = (unsigned char)(a.hi >> (56 - 8 * i));
        b[i + 8] = (unsigned char)(a.lo >> (56 - 8 * i));
    }
    if (inet_ntop(AF_INET6, b, buf, (socklen_t)len) == NULL && len)
        buf[0] = '\0';
}

/* block_text - BASE/PREFIX (128-bit prefix) as text, in IPv4 form when V4;
 * a full-length block is written as the bare address. */
static void block_text(struct u128 base, unsigned prefix, bool v4, char *buf, size_t len)
{
    char a[INET6_ADDRSTRLEN];
    addr_text(base, v4, a, sizeof a);
    if (prefix == 128)
        snprintf(buf, len, "%s", a);
    else
        snprintf(buf, len, "%s/%u", a, v4 ? prefix - 96 : prefix);
}

/* trailing_zeros - how many low bits of A are 0 (128 for 0). */
static unsigned trailing_zeros(struct u128 a)
{
    if (a.lo)
        return (unsigned)__builtin_ctzll(a.lo);
    if (a.hi)
        return 64 + (unsigned)__builtin_ctzll(a.hi);
    return 128;
}

/* meant_prefix - the prefix B's address suggests by its trailing zeros,
 * rounded up to whole octets (IPv4) or 16-bit groups (IPv6), the way
 * people write networks: 192.168.1.0 -> /24, 10.0.0.0 -> /8. */
static unsigned meant_prefix(const struct block *b, bool v4)
{
    unsigned tz = trailing_zeros(b->base);
    unsigned step = v4 ? 8 : 16, room = v4 ? 32 : 128;
    if (tz > room)
        tz = room;
    unsigned bits = room - tz;
    bits = (bits + step - 1) / step * step;
    return bits + (v4 ? 96 : 0);
}

/* ipset_inspect - parse ENTRY and describe it for the config guards. */
int ipset_inspect(const char *entry, struct ipset_entry_facts *facts, char *err, size_t errlen)
{
    struct parsed_entry p;
    if (parse_entry(entry, &p, err, errlen) < 0)
        return -1;
    struct u128 count = u128_add_sat(u128_sub(p.r.hi, p.r.lo), (struct u128){0, 1});
    *facts = (struct ipset_entry_facts){.breadth = range_breadth(p.r),
                                        .public_part = u128_cmp(count, private_count(p.r)) > 0};
    if (!p.cidr || u128_cmp(p.written.base, p.r.lo) == 0)
        return 0;
    bool v4 = p.family == AF_INET;
    facts->host_bits = true;
    block_text(p.r.lo, p.written.prefix, v4, facts->network, sizeof facts->network);
    block_text(p.written.base, meant_prefix(&p.written, v4), v4, facts->meant, sizeof facts->meant);
    return 0;
}

/* ipset_reserve - room for EXTRA more ranges; -1 when memory runs out. */
static int ipset_reserve(struct ipset *set, size_t extra)
{
    if (extra <= set->cap - set->n)
        return 0;
    size_t cap = set->cap ? set->cap : 8;
    while (cap - set->n < extra) {
        if (cap > SIZE_MAX / 2 / sizeof(struct ip_range))
            return -1;
        cap *= 2;
    }
    struct ip_range *r = realloc(set->ranges, cap * sizeof(*r));
    if (r == NULL)
        return -1;
    set->ranges = r;
    set->cap = cap;
    return 0;
}

/* ipset_new - an empty set; NULL when memory runs out. */
struct ipset *ipset_new(void)
{
    return calloc(1, sizeof(struct ipset));
}

/* ipset_free - release SET; NULL is allowed. */
void ipset_free(struct ipset *set)
{
    if (set == NULL)
        return;
    free(set->ranges);
    free(set);
}

/* ipset_add - parse ENTRY, report its breadth and append it. */
int ipset_add(struct ipset *set, const char *entry, enum ipset_breadth *breadth, char *err,
              size_t errlen)
{
    struct parsed_entry p;
    if (parse_entry(entry, &p, err, errlen) < 0)
        return -1;
    if (ipset_reserve(set, 1) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    set->ranges[set->n++] = p.r;
    if (breadth)
        *breadth = range_breadth(p.r);
    return 0;
}

/* ipset_merge - append the ranges of FROM (which may be SET itself). */
int ipset_merge(struct ipset *set, const struct ipset *from)
{
    size_t n = from->n;
    if (n == 0)
        return 0;
    if (ipset_reserve(set, n) < 0)
        return -1;
    /* Read from->ranges only now: when FROM is SET the reserve moved it. */
    memcpy(set->ranges + set->n, from->ranges, n * sizeof(struct ip_range));
    set->n += n;
    return 0;
}

/* ipset_contains_u128 - the scan behind both lookups. */
static bool ipset_contains_u128(const struct ipset *set, struct u128 a)
{
    for (size_t i = 0; i < set->n; i++) {
        if (u128_cmp(a, set->ranges[i].lo) >= 0 && u128_cmp(a, set->ranges[i].hi) <= 0)
            return true;
    }
    return false;
}

/* ipset_contains - whether the address of SA (AF_INET or AF_INET6) is in SET. */
/* range_cmp - qsort order of ranges: by first address. */
static int range_cmp(const void *x, const void *y)
{
    const struct ip_range *a = x, *b = y;
    return u128_cmp(a->lo, b->lo);
}

/* merged - SET's ranges sorted and joined where they overlap or touch,
 * into a new array of *N (entries are kept as written, so two may share
 * addresses); NULL when memory runs out or SET is empty. */
static struct ip_range *merged(const struct ipset *set, size_t *n)
{
    *n = 0;
    if (set == NULL || set->n == 0)
        return NULL;
    struct ip_range *r = malloc(set->n * sizeof *r);
    if (r == NULL)
        return NULL;
    memcpy(r, set->ranges, set->n * sizeof *r);
    qsort(r, set->n, sizeof *r, range_cmp);
    size_t o = 0;
    for (size_t i = 1; i < set->n; i++) {
        struct u128 next = u128_add_sat(r[o].hi, (struct u128){0, 1});
        if (u128_cmp(r[i].lo, next) <= 0) {
            if (u128_cmp(r[i].hi, r[o].hi) > 0)
                r[o].hi = r[i].hi;
        } else {
            r[++o] = r[i];
        }
    }
    *n = o + 1;
    return r;
}

/* ranges_count - the addresses of N disjoint ranges R (saturating). */
static struct u128 ranges_count(const struct ip_range *r, size_t n)
{
    struct u128 sum = {0, 0};
    for (size_t i = 0; i < n; i++)
        sum = u128_add_sat(sum, u128_add_sat(u128_sub(r[i].hi, r[i].lo), (struct u128){0, 1}));
    return sum;
}

/* ipset_relation - compare what A and B share with what each holds. */
enum ipset_relation ipset_relation(const struct ipset *a, const struct ipset *b, char *shared,
                                   size_t len)
{
    size_t na, nb;
    struct ip_range *ra = merged(a, &na), *rb = merged(b, &nb);
    struct u128 both = {0, 0}, at = {0, 0};
    bool found = false;
    for (size_t i = 0; i < na; i++)
        for (size_t j = 0; j < nb; j++) {
            struct u128 c = overlap_count(ra[i], rb[j]);
            if (!(c.hi || c.lo))
                continue;
            struct u128 lo = u128_cmp(ra[i].lo, rb[j].lo) > 0 ? ra[i].lo : rb[j].lo;
            if (!found || u128_cmp(lo, at) < 0)
                at = lo;
            found = true;
            both = u128_add_sat(both, c);
        }
    struct u128 ca = ranges_count(ra, na), cb = ranges_count(rb, nb);
    free(ra);
    free(rb);
    if (!found)
        return IPSET_DISJOINT;
    if (shared && len) {
        struct ip_range v4 = block_range(&v4_block);
        addr_text(at, u128_cmp(at, v4.lo) >= 0 && u128_cmp(at, v4.hi) <= 0, shared, len);
    }
    if (u128_cmp(both, ca) >= 0)
        return IPSET_INSIDE;
    if (u128_cmp(both, cb) >= 0)
        return IPSET_AROUND;
    return IPSET_OVERLAP;
}

bool ipset_contains(const struct ipset *set, const struct sockaddr *sa)
{
    if (set == NULL || sa == NULL)
        return false;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;
        return ipset_contains_u128(set, v4_to_u128(&sin->sin_addr));
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;
        return ipset_contains_u128(set, bytes_to_u128(sin6->sin6_addr.s6_addr));
    }
    return false;
}

/* ipset_contains_str - whether the textual address IP is in SET. */
bool ipset_contains_str(const struct ipset *set, const char *ip)
{
    struct u128 a;
    int family;
    if (set == NULL || ip == NULL)
        return false;
    if (parse_addr(ip, strnlen(ip, IPSET_ENTRY_MAX + 1), &a, &family) < 0)
        return false;
    return ipset_contains_u128(set, a);
}

/* ipset_count - the number of entries added, merged ones included. */
size_t ipset_count(const struct ipset *set)
{
    return set ? set->n : 0;
}

/* ipset_entry_text - entry I of SET as the shortest of its textual forms. */
int ipset_entry_text(const struct ipset *set, size_t i, char *buf, size_t len)
{
    if (set == NULL || i >= set->n)
        return -1;
    struct ip_range r = set->ranges[i];
    bool v4 = in_v4_space(r.lo) && in_v4_space(r.hi);
    struct u128 d = u128_sub(r.hi, r.lo);
    /* A CIDR block: D is a run of low one bits (D + 1 a power of two, or 0
     * for the whole space) and LO has none of them set. */
    struct u128 d1 = u128_add_sat(d, (struct u128){0, 1});
    bool all = d.hi == UINT64_MAX && d.lo == UINT64_MAX;
    bool run = all || ((d.hi & d1.hi) == 0 && (d.lo & d1.lo) == 0);
    if (run && (r.lo.hi & d.hi) == 0 && (r.lo.lo & d.lo) == 0) {
        unsigned ones = (unsigned)(__builtin_popcountll(d.hi) + __builtin_popcountll(d.lo));
        block_text(r.lo, 128 - ones, v4, buf, len);
        return 0;
    }
    char lo[INET6_ADDRSTRLEN], hi[INET6_ADDRSTRLEN];
    addr_text(r.lo, v4, lo, sizeof lo);
    addr_text(r.hi, v4, hi, sizeof hi);
    snprintf(buf, len, "%s-%s", lo, hi);
    return 0;
}

/* ipset_is_loopback - 127.0.0.0/8 (also IPv4-mapped) or ::1. */
bool ipset_is_loopback(const struct sockaddr *sa)
{
    static const struct block loop4 = {{0, V4_MAPPED_LO | 0x7f000000u}, 96 + 8};
    struct u128 a;
    if (sa == NULL)
        return false;
    if (sa->sa_family == AF_INET)
        a = v4_to_u128(&((const struct sockaddr_in *)(const void *)sa)->sin_addr);
    else if (sa->sa_family == AF_INET6)
        a = bytes_to_u128(((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr);
    else
        return false;
    struct ip_range r = block_range(&loop4);
    return (a.hi == 0 && a.lo == 1) || (u128_cmp(a, r.lo) >= 0 && u128_cmp(a, r.hi) <= 0);
}
