/* core/dnsq - synchronous DNS questions with c-ares (room: core).
 *
 * One channel per resolver; a resolver belongs to one thread at a time.
 * The wait is poll(2) over c-ares' own sockets, never select(2): a
 * daemon with thousands of connections has descriptors past FD_SETSIZE. */
#include "core/dnsq.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ares.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct dnsq {
    ares_channel channel;
};

/* One question in flight: what was asked and where the answer goes
 * (parsed into A, or for dnsq_query_raw copied whole into RAW). */
struct pending {
    enum dnsq_type type;
    struct dnsq_answer *a;
    bool done;
    unsigned char *raw;
    size_t raw_cap, raw_len;
    enum dnsq_status raw_status;
};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static int lib_status = ARES_SUCCESS;

/* lib_init - ares_library_init, once per process. */
static void lib_init(void)
{
    lib_status = ares_library_init(ARES_LIB_INIT_ALL);
}

/* dnsq_new - a channel with the servers and the timeout, no search list
 * (the names asked are absolute) and no /etc/hosts. */
struct dnsq *dnsq_new(char *const *servers, size_t n, unsigned timeout_ms, char *err, size_t errlen)
{
    pthread_once(&lib_once, lib_init);
    if (lib_status != ARES_SUCCESS) {
        snprintf(err, errlen, "c-ares: %s", ares_strerror(lib_status));
        return NULL;
    }
    struct dnsq *q = calloc(1, sizeof *q);
    if (q == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    struct ares_options opts = {.timeout = (int)timeout_ms, .tries = 2, .ndomains = 0};
    int optmask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_DOMAINS;
#ifdef ARES_OPT_QUERY_CACHE
    /* c-ares 1.23 and later keep answers of their own; the callers keep
     * what they need for as long as its TTL says (policy/inbound.c), and
     * a channel lives as long as its thread: no second cache under ours */
    opts.qcache_max_ttl = 0;
    optmask |= ARES_OPT_QUERY_CACHE;
#endif
    int rc = ares_init_options(&q->channel, &opts, optmask);
    if (rc != ARES_SUCCESS) {
        snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
        free(q);
        return NULL;
    }
    char csv[1024] = "";
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(csv + o, sizeof csv - o, "%s%s", i ? "," : "", servers[i]);
        if (w < 0 || (size_t)w >= sizeof csv - o) {
            snprintf(err, errlen, "dns.servers: too many servers");
            dnsq_free(q);
            return NULL;
        }
        o += (size_t)w;
    }
    if (n > 0 && (rc = ares_set_servers_ports_csv(q->channel, csv)) != ARES_SUCCESS) {
        snprintf(err, errlen, "dns.servers: \"%s\": %s", csv, ares_strerror(rc));
        dnsq_free(q);
        return NULL;
    }
    return q;
}

void dnsq_free(struct dnsq *q)
{
    if (q == NULL)
        return;
    ares_destroy(q->channel);
    free(q);
}

/* add_record - append TEXT (and PREF, TTL) to A; false when full. */
static bool add_record(struct dnsq_answer *a, const char *text, size_t len, unsigned pref,
                       unsigned ttl)
{
    if (a->n >= DNSQ_RECORDS_MAX)
        return false;
    struct dnsq_record *r = &a->rec[a->n++];
    if (len >= sizeof r->text)
        len = sizeof r->text - 1; /* a longer TXT is cut, never overrun */
    memcpy(r->text, text, len);
    r->text[len] = '\0';
    r->pref = pref;
    r->ttl = ttl;
    return true;
}

/* parse_a - the addresses of an A or AAAA answer. */
static int parse_a(const unsigned char *buf, int len, bool v6, struct dnsq_answer *a)
{
    char text[INET6_ADDRSTRLEN];
    if (v6) {
        struct ares_addr6ttl t[DNSQ_RECORDS_MAX];
        int n = DNSQ_RECORDS_MAX;
        int rc = ares_parse_aaaa_reply(buf, len, NULL, t, &n);
        for (int i = 0; rc == ARES_SUCCESS && i < n; i++)
            if (inet_ntop(AF_INET6, &t[i].ip6addr, text, sizeof text))
                add_record(a, text, strlen(text), 0, (unsigned)t[i].ttl);
        return rc;
    }
    struct ares_addrttl t[DNSQ_RECORDS_MAX];
    int n = DNSQ_RECORDS_MAX;
    int rc = ares_parse_a_reply(buf, len, NULL, t, &n);
    for (int i = 0; rc == ARES_SUCCESS && i < n; i++)
        if (inet_ntop(AF_INET, &t[i].ipaddr, text, sizeof text))
            add_record(a, text, strlen(text), 0, (unsigned)t[i].ttl);
    return rc;
}

/* parse_txt - each TXT record, its strings joined (RFC 7208 3.3). */
static int parse_txt(const unsigned char *buf, int len, struct dnsq_answer *a)
{
    struct ares_txt_ext *txt = NULL;
    int rc = ares_parse_txt_reply_ext(buf, len, &txt);
    if (rc != ARES_SUCCESS)
        return rc;
    char joined[DNSQ_TEXT_MAX];
    size_t o = 0;
    bool open = false;
    for (struct ares_txt_ext *t = txt; t; t = t->next) {
        if (t->record_start && open) {
            add_record(a, joined, o, 0, 0);
            o = 0;
        }
        open = true;
        size_t take = t->length < sizeof joined - 1 - o ? t->length : sizeof joined - 1 - o;
        memcpy(joined + o, t->txt, take);
        o += take;
    }
    if (open)
        add_record(a, joined, o, 0, 0);
    ares_free_data(txt);
    return ARES_SUCCESS;
}

/* parse_names - the host names of an MX or PTR answer. */
static int parse_names(const unsigned char *buf, int len, enum dnsq_type type,
                       struct dnsq_answer *a)
{
    if (type == DNSQ_MX) {
        struct ares_mx_reply *mx = NULL;
        int rc = ares_parse_mx_reply(buf, len, &mx);
        for (struct ares_mx_reply *m = rc == ARES_SUCCESS ? mx : NULL; m; m = m->next)
            add_record(a, m->host, strlen(m->host), m->priority, 0);
        ares_free_data(mx);
        return rc;
    }
    struct hostent *h = NULL;
    int rc = ares_parse_ptr_reply(buf, len, NULL, 0, AF_INET, &h);
    if (rc != ARES_SUCCESS)
        return rc;
    if (h->h_name)
        add_record(a, h->h_name, strlen(h->h_name), 0, 0);
    for (char **al = h->h_aliases; al && *al; al++)
        add_record(a, *al, strlen(*al), 0, 0);
    ares_free_hostent(h);
    return ARES_SUCCESS;
}

/* status_of - how a c-ares status ends a question. */
static enum dnsq_status status_of(int rc)
{
    switch (rc) {
    case ARES_SUCCESS:
        return DNSQ_OK;
    case ARES_ENODATA:
        return DNSQ_NODATA;
    case ARES_ENOTFOUND:
        return DNSQ_NXDOMAIN;
    case ARES_ESERVFAIL:
    case ARES_EREFUSED:
    case ARES_ECONNREFUSED:
        return DNSQ_SERVFAIL;
    case ARES_ETIMEOUT:
        return DNSQ_TIMEOUT;
    default:
        return DNSQ_ERROR;
    }
}

/* dnsq_parse - the records of TYPE in the answer BUF (c-ares parses the
 * message; the records kept are bounded by DNSQ_RECORDS_MAX and
 * DNSQ_TEXT_MAX). */
enum dnsq_status dnsq_parse(enum dnsq_type type, const unsigned char *buf, int len,
                            struct dnsq_answer *a)
{
    int status = ARES_EBADRESP;
    a->n = 0;
    a->negative_ttl = -1;
    switch (type) {
    case DNSQ_A:
    case DNSQ_AAAA:
        status = parse_a(buf, len, type == DNSQ_AAAA, a);
        break;
    case DNSQ_TXT:
        status = parse_txt(buf, len, a);
        break;
    case DNSQ_MX:
    case DNSQ_PTR:
        status = parse_names(buf, len, type, a);
        break;
    }
    if (status == ARES_SUCCESS && a->n == 0)
        status = ARES_ENODATA;
    return a->status = status_of(status);
}

/* on_answer - c-ares' callback: parse the answer into the pending one. */
static void on_answer(void *arg, int status, int timeouts, unsigned char *buf, int len)
{
    (void)timeouts;
    struct pending *p = arg;
    p->done = true;
    if (status == ARES_SUCCESS)
        dnsq_parse(p->type, buf, len, p->a);
    else
        p->a->status = status_of(status);
    /* c-ares hands NXDOMAIN and NODATA over with the message: its SOA
     * says how long "no such name" holds */
    if ((p->a->status == DNSQ_NXDOMAIN || p->a->status == DNSQ_NODATA) && buf != NULL)
        p->a->negative_ttl = dnsq_negative_ttl(buf, len);
}

/* skip_name - past the (possibly compressed, RFC 1035 4.1.4) domain name
 * at BUF[OFF]; -1 when it runs past LEN.  A pointer ends the name. */
static int skip_name(const unsigned char *buf, int len, int off)
{
    for (int labels = 0; off < len && labels < 128; labels++) {
        unsigned c = buf[off];
        if (c == 0)
            return off + 1;
        if ((c & 0xc0) == 0xc0)
            return off + 2 <= len ? off + 2 : -1;
        if ((c & 0xc0) != 0)
            return -1; /* RFC 6891's extended label types: not in answers we read */
        off += 1 + (int)c;
    }
    return -1;
}

/* get32 - the big-endian 32-bit number at P. */
static unsigned long get32(const unsigned char *p)
{
    return (unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 | (unsigned long)p[2] << 8 | p[3];
}

/* dnsq_negative_ttl - walk past the question and answer sections to the
 * authority section's SOA (RFC 1035 4.1, RFC 2308 3: the SOA a negative
 * answer carries); every step is checked against LEN. */
long dnsq_negative_ttl(const unsigned char *buf, int len)
{
    if (buf == NULL || len < 12)
        return -1;
    unsigned qd = (unsigned)buf[4] << 8 | buf[5], an = (unsigned)buf[6] << 8 | buf[7],
             ns = (unsigned)buf[8] << 8 | buf[9];
    int off = 12;
    for (unsigned i = 0; i < qd; i++) {
        if ((off = skip_name(buf, len, off)) < 0 || off + 4 > len)
            return -1;
        off += 4; /* QTYPE, QCLASS */
    }
    for (unsigned i = 0; i < an + ns; i++) {
        if ((off = skip_name(buf, len, off)) < 0 || off + 10 > len)
            return -1;
        unsigned type = (unsigned)buf[off] << 8 | buf[off + 1];
        unsigned long ttl = get32(buf + off + 4);
        int rdlen = buf[off + 8] << 8 | buf[off + 9], rdata = off + 10;
        if (rdata + rdlen > len)
            return -1;
        off = rdata + rdlen;
        if (i < an || type != ns_t_soa)
            continue;
        int p = skip_name(buf, rdata + rdlen, rdata); /* MNAME */
        if (p < 0 || (p = skip_name(buf, rdata + rdlen, p)) < 0 || p + 20 > rdata + rdlen)
            return -1; /* RNAME, then SERIAL REFRESH RETRY EXPIRE MINIMUM */
        unsigned long minimum = get32(buf + p + 16);
        /* RFC 2181 8: a TTL with the top bit set is taken as zero */
        if (ttl > 0x7fffffffUL)
            ttl = 0;
        if (minimum > 0x7fffffffUL)
            minimum = 0;
        return (long)(ttl < minimum ? ttl : minimum);
    }
    return -1;
}

bool dnsq_failed(enum dnsq_status st)
{
    return st == DNSQ_SERVFAIL || st == DNSQ_TIMEOUT || st == DNSQ_ERROR;
}

/* tag_at - TEXT begins with TAG (any case), then a space, a tab, a ';'
 * or its end. */
static bool tag_at(const char *text, const char *tag)
{
    size_t n = strlen(tag);
    return strncasecmp(text, tag, n) == 0 &&
           (text[n] == '\0' || text[n] == ' ' || text[n] == ';' || text[n] == '\t');
}

int dnsq_txt_with(struct dnsq *q, const char *name, const char *tag, struct dnsq_answer *a,
                  char *first, size_t len, enum dnsq_status *st)
{
    *st = dnsq_query(q, name, DNSQ_TXT, a);
    if (dnsq_failed(*st))
        return -1;
    int n = 0;
    for (size_t i = 0; *st == DNSQ_OK && i < a->n; i++)
        if (tag_at(a->rec[i].text, tag) && n++ == 0 && first)
            snprintf(first, len, "%s", a->rec[i].text);
    return n;
}

/* wait_done - run the channel until P is answered (c-ares' own timeouts
 * and tries bound the wait). */
static void wait_done(struct dnsq *q, struct pending *p)
{
    while (!p->done) {
        ares_socket_t socks[ARES_GETSOCK_MAXNUM];
        /* c-ares' ARES_GETSOCK_WRITABLE shifts a signed 1 by up to 31:
         * undefined behaviour; the same test on unsigned bits */
        unsigned bits = (unsigned)ares_getsock(q->channel, socks, ARES_GETSOCK_MAXNUM);
        struct pollfd pfd[ARES_GETSOCK_MAXNUM];
        nfds_t n = 0;
        for (unsigned i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
            short ev = (short)(((bits >> i) & 1u ? POLLIN : 0) |
                               ((bits >> (i + ARES_GETSOCK_MAXNUM)) & 1u ? POLLOUT : 0));
            if (ev)
                pfd[n++] = (struct pollfd){.fd = socks[i], .events = ev};
        }
        struct timeval tv, *t = ares_timeout(q->channel, NULL, &tv);
        int ms = t ? (int)(t->tv_sec * 1000 + t->tv_usec / 1000) + 1 : 1000;
        int ready = poll(pfd, n, ms);
        if (ready <= 0) {
            ares_process_fd(q->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
            continue;
        }
        for (nfds_t i = 0; i < n; i++)
            if (pfd[i].revents)
                ares_process_fd(q->channel,
                                (pfd[i].revents & (POLLIN | POLLERR | POLLHUP)) ? pfd[i].fd
                                                                                : ARES_SOCKET_BAD,
                                (pfd[i].revents & POLLOUT) ? pfd[i].fd : ARES_SOCKET_BAD);
    }
}

/* on_raw_answer - c-ares' callback for dnsq_query_raw: a message that
 * answers (records, NODATA or NXDOMAIN: c-ares hands all three over) is
 * copied whole; anything else is only its status. */
static void on_raw_answer(void *arg, int status, int timeouts, unsigned char *buf, int len)
{
    (void)timeouts;
    struct pending *p = arg;
    p->done = true;
    p->raw_status = status_of(status);
    if (p->raw_status != DNSQ_OK && p->raw_status != DNSQ_NODATA && p->raw_status != DNSQ_NXDOMAIN)
        return;
    if (buf == NULL || len <= 0 || (size_t)len > p->raw_cap) {
        p->raw_status = DNSQ_ERROR; /* no message, or one larger than the room given */
        return;
    }
    memcpy(p->raw, buf, (size_t)len);
    p->raw_len = (size_t)len;
}

enum dnsq_status dnsq_query_raw(struct dnsq *q, const char *name, int rrtype, unsigned char *buf,
                                size_t *len)
{
    struct pending p = {.raw = buf, .raw_cap = *len, .raw_status = DNSQ_ERROR};
    *len = 0;
    if (name == NULL || *name == '\0' || strlen(name) > 253)
        return DNSQ_ERROR;
    ares_query(q->channel, name, ns_c_in, rrtype, on_raw_answer, &p);
    wait_done(q, &p);
    *len = p.raw_len;
    return p.raw_status;
}

/* dnsq_reverse_name - 1.2.0.192.in-addr.arpa, or the ip6.arpa nibbles. */
int dnsq_reverse_name(const char *addr, char *buf, size_t len)
{
    unsigned char b[16];
    if (inet_pton(AF_INET, addr, b) == 1) {
        int n = snprintf(buf, len, "%u.%u.%u.%u.in-addr.arpa", b[3], b[2], b[1], b[0]);
        return n < 0 || (size_t)n >= len ? -1 : 0;
    }
    if (inet_pton(AF_INET6, addr, b) != 1 || len < 16 * 4 + sizeof "ip6.arpa")
        return -1;
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 15; i >= 0; i--) {
        buf[o++] = hex[b[i] & 15];
        buf[o++] = '.';
        buf[o++] = hex[b[i] >> 4];
        buf[o++] = '.';
    }
    memcpy(buf + o, "ip6.arpa", sizeof "ip6.arpa");
    return 0;
}

/* dnsq_query - one question, waited for. */
enum dnsq_status dnsq_query(struct dnsq *q, const char *name, enum dnsq_type type,
                            struct dnsq_answer *a)
{
    static const int types[] = {[DNSQ_A] = ns_t_a,
                                [DNSQ_AAAA] = ns_t_aaaa,
                                [DNSQ_MX] = ns_t_mx,
                                [DNSQ_TXT] = ns_t_txt,
                                [DNSQ_PTR] = ns_t_ptr};
    char rev[128];
    a->n = 0;
    a->status = DNSQ_ERROR;
    a->negative_ttl = -1;
    if (type == DNSQ_PTR && dnsq_reverse_name(name, rev, sizeof rev) == 0)
        name = rev;
    if (name == NULL || *name == '\0' || strlen(name) > 253)
        return a->status;
    struct pending p = {.type = type, .a = a};
    ares_query(q->channel, name, ns_c_in, types[type], on_answer, &p);
    wait_done(q, &p);
    return a->status;
}

const char *dnsq_status_text(enum dnsq_status st)
{
    static const char *const words[] = {"answered",       "no such record", "NXDOMAIN",
                                        "server failure", "timeout",        "error"};
    return (unsigned)st < sizeof words / sizeof words[0] ? words[st] : "error";
}
