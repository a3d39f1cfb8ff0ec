/* policy/detector - the outbreak detector (room: policy).  See detector.h
 * for what it does and docs/detector.md for why each signal and default.
 *
 * Memory is bounded: at most max_subjects subjects (and as many client IPs
 * for the stuffing signal), each a fixed-size record; the windows live in
 * three policy/counters tables capped the same way.  A subject with a
 * level is never dropped to make room; an idle one without a level is. */
#include "policy/detector.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/strmap.h"
#include "core/util.h"
#include "policy/counters.h"

#define MINUTE 60
#define TEN_MINUTES 600
#define HOUR 3600
#define SET_SMALL 16
#define SET_DOMAINS 64
#define KNOWN_NETS 16
#define BLOOM_BITS 8192 /* known correspondents: ~2% false "known" at 1,000 */
#define BLOOM_HASHES 3
#define FP_LETTERS 4096
#define FP_MIN_LETTERS 12
#define SEP "\x1f"                /* between subject and metric in a counters key */
#define BASELINE_ALPHA (1.0 / 24) /* weight of the last hour in the baseline */
#define MIN_UNKNOWN_REJECTS 5
#define MIN_POLICY_REJECTS 3
#define SESSIONS_MAX 16 /* live SMTP sessions followed per subject */
/* A session with no message for this long is taken as gone even if its
 * end was never heard of: the server's own idle timeout (RFC 5321
 * 4.5.3.2, 5 minutes for a command) has closed it by then. */
#define SESSION_IDLE TEN_MINUTES

/* One thing recently seen: a hash, when first and last, how often. */
struct seen {
    uint64_t h;
    time_t first, last;
    unsigned n;     /* messages (or logins) */
    unsigned extra; /* content: recipients; ips: logins; stuffing: network was new */
};

/* A live SMTP session of a subject (id 0: a free slot). */
struct live_session {
    unsigned long id;
    uint64_t far; /* detector_far_network of its client */
    int family;
    bool strange; /* from a network not established for the subject */
    time_t last;  /* its login, or its last message */
};

struct subject {
    char key[300];
    bool bulk;
    enum detector_level level;
    bool changed; /* level rose since detector_take_change */
    unsigned score;
    time_t last; /* last activity */
    struct seen ips[SET_SMALL];
    char ip_text[SET_SMALL][46];
    struct seen nets[SET_SMALL];
    struct seen domains[SET_DOMAINS];
    struct seen froms[SET_SMALL];
    struct seen names[SET_SMALL];
    struct seen content[SET_SMALL];
    struct seen labels[DETECTOR_LABELS_MAX];
    char label_text[DETECTOR_LABELS_MAX][64];
    /* networks known for the subject, with when each was first seen */
    uint64_t known_net[KNOWN_NETS];
    time_t known_first[KNOWN_NETS], known_last[KNOWN_NETS];
    unsigned n_known;
    unsigned char bloom[BLOOM_BITS / 8];
    unsigned fails_before_ok;
    time_t fails_at;
    /* baseline: decaying average of each signal's hourly maximum */
    double baseline[SIG_N];
    double hour_max[SIG_N];
    long long hour;
    struct detector_sample samples[DETECTOR_SAMPLES];
    unsigned n_samples; /* written so far (ring) */
    struct live_session sessions[SESSIONS_MAX];
    unsigned concurrent;  /* the most far-apart networks live at once */
    time_t concurrent_at; /* when that was seen */
};

/* What one client IP did with logins in the last hour. */
struct ip_logins {
    struct seen ok[SET_SMALL];     /* accounts logged into; extra: the network was new */
    struct seen failed[SET_SMALL]; /* accounts that failed */
};

struct detector {
    const struct config_detector *cfg;
    struct strmap *subjects;
    struct strmap *ips;
    struct counters *w1m, *w10m, *w1h;
    struct strmap *changed; /* subjects whose level rose, not taken yet */
};

/* The signals' names, kinds, weights and how far above its threshold a
 * figure keeps earning (the points are weight x figure/threshold, capped). */
static const struct {
    const char *name;
    enum detector_kind kind;
    unsigned weight;
    double cap;
    bool volume; /* relaxed for bulk senders */
} signals[SIG_N] = {
    [SIG_MESSAGES] = {"messages_per_minute", KIND_VOLUME, 15, 2, true},
    [SIG_RECIPIENTS] = {"recipients_per_10min", KIND_VOLUME, 15, 2, true},
    [SIG_NEW_RECIPIENTS] = {"new_recipients_per_10min", KIND_VOLUME, 20, 2, true},
    [SIG_DOMAINS] = {"domains_per_10min", KIND_VOLUME, 10, 2, true},
    [SIG_CONTENT] = {"same_content", KIND_CONTENT, 30, 2, true},
    [SIG_CLIENT_IPS] = {"client_ips_per_hour", KIND_IDENTITY, 25, 2, false},
    [SIG_NETWORKS] = {"networks_per_hour", KIND_IDENTITY, 15, 2, false},
    [SIG_NEW_NETWORK] = {"new_networks", KIND_IDENTITY, 10, 2, false},
    [SIG_FAILED_LOGINS] = {"failed_logins", KIND_IDENTITY, 15, 2, false},
    [SIG_STUFFING] = {"stuffing_accounts", KIND_IDENTITY, 30, 2, false},
    [SIG_FROM_CHANGES] = {"from_changes", KIND_FROM, 25, 2, false},
    [SIG_REJECTS_UNKNOWN] = {"rejects_unknown_percent", KIND_FEEDBACK, 30, 2, false},
    [SIG_REJECTS_POLICY] = {"rejects_policy_percent", KIND_FEEDBACK, 30, 2, false},
    [SIG_BOUNCES] = {"bounces_per_hour", KIND_FEEDBACK, 15, 2, true},
    [SIG_CONCURRENT] = {"concurrent_networks", KIND_IDENTITY, 20, 2, false},
    [SIG_NEW_RECIPIENTS_HOUR] = {"new_recipients_per_hour", KIND_VOLUME, 20, 2, true},
};

const char *detector_signal_name(enum detector_signal s)
{
    return s < SIG_N ? signals[s].name : "?";
}

static const char *const level_names[] = {"none", "log", "alert", "hold", "contain"};

const char *detector_level_name(enum detector_level l)
{
    return l <= DETECTOR_CONTAIN ? level_names[l] : "?";
}

int detector_level_parse(const char *name)
{
    for (int i = 0; i <= DETECTOR_CONTAIN; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

/* threshold_of - the configured threshold of signal S (0: off). */
static unsigned threshold_of(const struct config_detector *c, enum detector_signal s)
{
    switch (s) {
    case SIG_MESSAGES:
        return c->messages_per_minute;
    case SIG_RECIPIENTS:
        return c->recipients_per_10min;
    case SIG_NEW_RECIPIENTS:
        return c->new_recipients_per_10min;
    case SIG_DOMAINS:
        return c->domains_per_10min;
    case SIG_CONTENT:
        return c->same_content;
    case SIG_CLIENT_IPS:
        return c->client_ips_per_hour;
    case SIG_NETWORKS:
        return c->networks_per_hour;
    case SIG_NEW_NETWORK:
        return c->new_networks;
    case SIG_FAILED_LOGINS:
        return c->failed_logins;
    case SIG_STUFFING:
        return c->stuffing_accounts;
    case SIG_FROM_CHANGES:
        return c->from_changes;
    case SIG_REJECTS_UNKNOWN:
        return c->rejects_unknown_percent;
    case SIG_REJECTS_POLICY:
        return c->rejects_policy_percent;
    case SIG_BOUNCES:
        return c->bounces_per_hour;
    case SIG_CONCURRENT:
        return c->concurrent_networks;
    case SIG_NEW_RECIPIENTS_HOUR:
        return c->new_recipients_per_hour;
    default:
        return 0;
    }
}

/* ---- hashing ---- */

/* hash64 - FNV-1a over LEN octets of P, continuing from H. */
static uint64_t hash64(uint64_t h, const void *p, size_t len)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < len; i++) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

#define HASH_INIT 0xcbf29ce484222325ULL

/* hash_lower - hash64 of S, ASCII-lowercased. */
static uint64_t hash_lower(const char *s)
{
    uint64_t h = HASH_INIT;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        h = hash64(h, &c, 1);
    }
    return h | 1; /* never 0: 0 marks an empty entry */
}

/* fp_fold - what the fingerprint keeps of an octet: a letter, lowercased,
 * or an octet of a non-ASCII character as it is; 0 for the rest. */
static unsigned char fp_fold(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return (unsigned char)(c - 'A' + 'a');
    /* letters only: digits, spaces, punctuation are what a spammer
     * varies from copy to copy (and what a template fills in) */
    return (c >= 'a' && c <= 'z') || c >= 0x80 ? c : 0;
}

/* The loop reads a table instead: a body's first 4,096 letters are hashed
 * on the event loop for every message. */
static unsigned char fp_table[256];
static pthread_once_t fp_once = PTHREAD_ONCE_INIT;

static void fp_table_fill(void)
{
    for (int c = 0; c < 256; c++)
        fp_table[c] = fp_fold((unsigned char)c);
}

uint64_t detector_fingerprint(const char *text, size_t len)
{
    pthread_once(&fp_once, fp_table_fill);
    const unsigned char *p = (const unsigned char *)text;
    const unsigned char *end = p + len;
    uint64_t h = HASH_INIT;
    size_t letters = 0;
    for (; p < end && letters < FP_LETTERS; p++) {
        unsigned char c = fp_table[*p];
        if (c != 0) {
            h = hash64(h, &c, 1);
            letters++;
        }
    }
    /* "Hello.", "ok", "see attached": too short to tell one text from
     * another; such a message has no fingerprint */
    return letters < FP_MIN_LETTERS ? 0 : h | 1;
}

/* network_of - the /24 of an IPv4 or the /64 of an IPv6 address, hashed
 * (a textual cut: the daemon writes addresses with inet_ntop). */
static uint64_t network_of(const char *ip)
{
    char buf[64];
    str_copy(buf, ip, sizeof buf);
    if (strchr(buf, ':') == NULL) {
        char *dot = strrchr(buf, '.');
        if (dot)
            *dot = '\0';
    } else {
        /* the first four groups; "::" inside them keeps what is written */
        int colons = 0;
        for (char *p = buf; *p; p++)
            if (*p == ':' && ++colons == 4) {
                *p = '\0';
                break;
            }
    }
    return hash_lower(buf);
}

uint64_t detector_far_network(const char *ip, int *family)
{
    unsigned char a[16];
    uint64_t h = HASH_INIT;
    if (inet_pton(AF_INET, ip, a) == 1) {
        *family = 4;
    } else if (inet_pton(AF_INET6, ip, a) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        *family = memcmp(a, mapped, sizeof mapped) == 0 ? 4 : 6;
        if (*family == 4)
            memmove(a, a + 12, 4);
    } else {
        return 0;
    }
    size_t keep;
    bool private;
    if (*family == 4) {
        /* RFC 1918: an office's LAN and its VPN are one place, however
         * their ranges are cut */
        private =
            a[0] == 10 || (a[0] == 172 && (a[1] & 0xf0) == 16) || (a[0] == 192 && a[1] == 168);
        /* a /16: what a provider's customers or a campus share; two
         * addresses a /16 apart are in different organisations, most
         * often in different places */
        keep = 2;
    } else {
        /* RFC 4193 unique local fc00::/7, RFC 4291 link-local fe80::/10 */
        private = (a[0] & 0xfe) == 0xfc || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80);
        /* a /32: the smallest block an RIR allocates to a provider */
        keep = 4;
    }
    unsigned char tag = (unsigned char)(*family | (private ? 0x80 : 0));
    h = hash64(h, &tag, 1);
    if (!private)
        h = hash64(h, a, keep);
    return h | 1;
}

/* ---- small sets ---- */

/* seen_touch - count H in SET (N entries) at NOW; the entry (the oldest is
 * replaced when full).  *FRESH true when H was not there. */
static struct seen *seen_touch(struct seen *set, size_t n, uint64_t h, time_t now, bool *fresh)
{
    size_t victim = 0;
    bool empty = false;
    for (size_t i = 0; i < n; i++) {
        if (set[i].h == h) {
            set[i].last = now;
            set[i].n++;
            if (fresh)
                *fresh = false;
            return &set[i];
        }
        if (set[i].h == 0 && !empty) {
            victim = i;
            empty = true;
        } else if (!empty && set[i].last < set[victim].last) {
            victim = i;
        }
    }
    set[victim] = (struct seen){.h = h, .first = now, .last = now, .n = 1};
    if (fresh)
        *fresh = true;
    return &set[victim];
}

/* seen_count - entries of SET seen since SINCE. */
static unsigned seen_count(const struct seen *set, size_t n, time_t since)
{
    unsigned c = 0;
    for (size_t i = 0; i < n; i++)
        c += set[i].h != 0 && set[i].last >= since;
    return c;
}

/* ---- known correspondents ---- */

static bool bloom_has(const struct subject *s, uint64_t h)
{
    for (int i = 0; i < BLOOM_HASHES; i++) {
        unsigned bit = (unsigned)((h >> (i * 21)) % BLOOM_BITS);
        if (!(s->bloom[bit / 8] & (1u << (bit % 8))))
            return false;
    }
    return true;
}

static void bloom_add(struct subject *s, uint64_t h)
{
    for (int i = 0; i < BLOOM_HASHES; i++) {
        unsigned bit = (unsigned)((h >> (i * 21)) % BLOOM_BITS);
        s->bloom[bit / 8] |= (unsigned char)(1u << (bit % 8));
    }
}

/* ---- subjects ---- */

struct detector *detector_new(const struct config_detector *cfg)
{
    struct detector *d = calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    d->cfg = cfg;
    size_t keys = (size_t)cfg->max_subjects * 8;
    d->subjects = strmap_new();
    d->ips = strmap_new();
    d->changed = strmap_new();
    d->w1m = counters_new(MINUTE, keys);
    d->w10m = counters_new(TEN_MINUTES, keys);
    d->w1h = counters_new(HOUR, keys);
    if (!d->subjects || !d->ips || !d->changed || !d->w1m || !d->w10m || !d->w1h) {
        detector_free(d);
        return NULL;
    }
    return d;
}

void detector_free(struct detector *d)
{
    if (d == NULL)
        return;
    strmap_free(d->subjects, free);
    strmap_free(d->ips, free);
    strmap_free(d->changed, NULL);
    counters_free(d->w1m);
    counters_free(d->w10m);
    counters_free(d->w1h);
    free(d);
}

void detector_set_config(struct detector *d, const struct config_detector *cfg)
{
    d->cfg = cfg;
}

size_t detector_subjects(const struct detector *d)
{
    return strmap_count(d->subjects);
}

/* idle - may subject S be forgotten at NOW? */
static bool idle(const struct subject *s, time_t now)
{
    return s->level == DETECTOR_NONE && s->last < now - HOUR;
}

static bool keep_subject(const char *key, void *value, void *arg)
{
    return !idle(value, *(time_t *)arg);
}

static bool keep_ip(const char *key, void *value, void *arg)
{
    const struct ip_logins *l = value;
    time_t since = *(time_t *)arg - HOUR;
    return seen_count(l->ok, SET_SMALL, since) + seen_count(l->failed, SET_SMALL, since) > 0;
}

void detector_sweep(struct detector *d, time_t now)
{
    strmap_sweep(d->subjects, keep_subject, &now, free);
    strmap_sweep(d->ips, keep_ip, &now, free);
    counters_sweep(d->w1m, now);
    counters_sweep(d->w10m, now);
    counters_sweep(d->w1h, now);
}

/* subject_get - KEY's record, made when missing (NULL when the table is
 * full of subjects that may not be forgotten, or memory runs out). */
static struct subject *subject_get(struct detector *d, const char *key, time_t now)
{
    struct subject *s = strmap_get(d->subjects, key);
    if (s != NULL)
        return s;
    if (strmap_count(d->subjects) >= d->cfg->max_subjects)
        strmap_sweep(d->subjects, keep_subject, &now, free);
    if (strmap_count(d->subjects) >= d->cfg->max_subjects || (s = calloc(1, sizeof *s)) == NULL)
        return NULL;
    str_copy(s->key, key, sizeof s->key);
    s->hour = (long long)now / HOUR;
    s->last = now;
    if (strmap_put(d->subjects, key, s, NULL) < 0) {
        free(s);
        return NULL;
    }
    return s;
}

/* window - the counters key "SUBJECT\x1fMETRIC" in BUF. */
static const char *window(char *buf, size_t len, const char *subject, const char *metric)
{
    snprintf(buf, len, "%s" SEP "%s", subject, metric);
    return buf;
}

static void count(struct counters *c, const char *subject, const char *metric, unsigned n,
                  time_t now)
{
    char key[320];
    if (n > 0)
        counters_add(c, window(key, sizeof key, subject, metric), n, now);
}

static unsigned long get(const struct counters *c, const char *subject, const char *metric,
                         time_t now)
{
    char key[320];
    return counters_get(c, window(key, sizeof key, subject, metric), now);
}

/* roll_baseline - at the first event of a new hour, the hours gone by
 * enter the baseline (hours without activity as zeros). */
static void roll_baseline(struct subject *s, time_t now)
{
    long long hour = (long long)now / HOUR;
    if (hour <= s->hour)
        return;
    long long gone = hour - s->hour;
    for (int i = 0; i < SIG_N; i++) {
        double b = s->baseline[i] * (1 - BASELINE_ALPHA) + BASELINE_ALPHA * s->hour_max[i];
        if (gone > 1)
            b *= pow(1 - BASELINE_ALPHA, (double)(gone > 24 * 30 ? 24 * 30 : gone - 1));
        s->baseline[i] = b;
        s->hour_max[i] = 0;
    }
    s->hour = hour;
}

/* known_network - is NET among S's networks?  Learns it when not, and
 * returns whether it was new to a subject that already had networks. */
static bool learn_network(struct subject *s, uint64_t net, time_t now)
{
    size_t oldest = 0;
    for (size_t i = 0; i < s->n_known; i++) {
        if (s->known_net[i] == net) {
            s->known_last[i] = now;
            return false;
        }
        if (s->known_last[i] < s->known_last[oldest])
            oldest = i;
    }
    bool had = s->n_known > 0;
    size_t at = s->n_known < KNOWN_NETS ? s->n_known++ : oldest;
    s->known_net[at] = net;
    /* the first network of a new subject is its home, not news */
    s->known_first[at] = had ? now : 0;
    s->known_last[at] = now;
    return had;
}

/* new_networks - networks first seen within the hour (not the first). */
static unsigned new_networks(const struct subject *s, time_t now)
{
    unsigned n = 0;
    for (size_t i = 0; i < s->n_known; i++)
        n += s->known_first[i] != 0 && s->known_first[i] >= now - HOUR;
    return n;
}

/* note_ip - IP used by S (a message, or a login when LOGIN). */
static void note_ip(struct subject *s, const char *ip, bool login, time_t now)
{
    bool fresh;
    struct seen *e = seen_touch(s->ips, SET_SMALL, hash_lower(ip), now, &fresh);
    size_t i = (size_t)(e - s->ips);
    if (fresh)
        str_copy(s->ip_text[i], ip, sizeof s->ip_text[i]);
    if (login) {
        e->n--; /* n counts messages */
        e->extra++;
    }
    uint64_t net = network_of(ip);
    seen_touch(s->nets, SET_SMALL, net, now, NULL);
    learn_network(s, net, now);
}

/* ---- scoring ---- */

/* stuffing_logins - the accounts IP logged into in the hour before NOW,
 * when it also failed on accounts or was new to them (credential
 * stuffing); 0 otherwise. */
static unsigned stuffing_logins(struct detector *d, const char *ip, time_t now)
{
    const struct ip_logins *l = strmap_get(d->ips, ip);
    if (l == NULL)
        return 0;
    unsigned ok = 0, was_new = 0;
    for (size_t j = 0; j < SET_SMALL; j++)
        if (l->ok[j].h && l->ok[j].last >= now - HOUR) {
            ok++;
            was_new += l->ok[j].extra > 0;
        }
    unsigned failed = seen_count(l->failed, SET_SMALL, now - HOUR);
    /* An office behind one NAT address logs many accounts in from it;
     * what tells stuffing apart is the failures around the successes, or
     * an address new to each account. */
    return failed >= 2 || was_new >= 2 ? ok : 0;
}

/* stuffing_figure - the most accounts one of S's recent IPs logged into,
 * when that IP also failed on accounts or was new to them. */
static unsigned stuffing_figure(struct detector *d, const struct subject *s, time_t now)
{
    unsigned best = 0;
    for (size_t i = 0; i < SET_SMALL; i++) {
        if (s->ips[i].h == 0 || s->ips[i].last < now - HOUR)
            continue;
        unsigned ok = stuffing_logins(d, s->ip_text[i], now);
        if (ok > best)
            best = ok;
    }
    return best;
}

/* content_figure - messages of S's most repeated fingerprint in 10 min. */
static unsigned content_figure(const struct subject *s, time_t now)
{
    unsigned best = 0;
    for (size_t i = 0; i < SET_SMALL; i++)
        if (s->content[i].h && s->content[i].last >= now - TEN_MINUTES && s->content[i].n > best)
            best = s->content[i].n;
    return best;
}

/* percent - 100 * PART / WHOLE, 0 when PART < MIN. */
static double percent(unsigned long part, unsigned long whole, unsigned long min)
{
    return part < min || whole == 0 ? 0 : 100.0 * (double)part / (double)whole;
}

/* figures - every signal's figure for S at NOW. */
static void figures(struct detector *d, const struct subject *s, time_t now, double *f)
{
    const char *k = s->key;
    unsigned long all10 = get(d->w10m, k, "R", now), new10 = get(d->w10m, k, "n", now);
    unsigned long tried = get(d->w1h, k, "a", now);
    unsigned long all60 = get(d->w1h, k, "t", now), new60 = get(d->w1h, k, "N", now);
    f[SIG_MESSAGES] = (double)get(d->w1m, k, "m", now);
    f[SIG_RECIPIENTS] = (double)get(d->w10m, k, "r", now);
    /* mostly strangers: a busy person also writes to new people, but
     * among those they know */
    f[SIG_NEW_RECIPIENTS] = new10 * 2 >= all10 ? (double)new10 : 0;
    f[SIG_DOMAINS] = seen_count(s->domains, SET_DOMAINS, now - TEN_MINUTES);
    f[SIG_CONTENT] = content_figure(s, now);
    f[SIG_CLIENT_IPS] = seen_count(s->ips, SET_SMALL, now - HOUR);
    f[SIG_NETWORKS] = seen_count(s->nets, SET_SMALL, now - HOUR);
    f[SIG_NEW_NETWORK] = new_networks(s, now);
    f[SIG_FAILED_LOGINS] = s->fails_at >= now - HOUR ? s->fails_before_ok : 0;
    f[SIG_STUFFING] = stuffing_figure(d, s, now);
    unsigned froms = seen_count(s->froms, SET_SMALL, now - TEN_MINUTES);
    unsigned names = seen_count(s->names, SET_SMALL, now - TEN_MINUTES);
    f[SIG_FROM_CHANGES] = froms > names ? froms : names;
    f[SIG_REJECTS_UNKNOWN] = percent(get(d->w1h, k, "u", now), tried, MIN_UNKNOWN_REJECTS);
    f[SIG_REJECTS_POLICY] = percent(get(d->w1h, k, "p", now), tried, MIN_POLICY_REJECTS);
    f[SIG_BOUNCES] = (double)get(d->w1h, k, "b", now);
    f[SIG_CONCURRENT] = s->concurrent_at >= now - HOUR ? s->concurrent : 0;
    /* the same over an hour: a spammer that keeps each 10 minutes quiet
     * (slow and low) still writes to strangers hour after hour */
    f[SIG_NEW_RECIPIENTS_HOUR] = new60 * 2 >= all60 ? (double)new60 : 0;
}

/* effective_threshold - signal I's threshold for S: the configured one,
 * relaxed for a bulk sender's volume, and at least BASELINE_FACTOR times
 * what S does in a usual hour.  0: off. */
static double effective_threshold(const struct detector *d, const struct subject *s, int i)
{
    double t = threshold_of(d->cfg, (enum detector_signal)i);
    if (t == 0)
        return 0;
    if (s->bulk && signals[i].volume) {
        if (i == SIG_CONTENT)
            return 0; /* a newsletter is one content fanned out: that is what it is */
        t *= d->cfg->bulk_factor;
    }
    double b = s->baseline[i] * d->cfg->baseline_factor;
    return b > t ? b : t;
}

/* score - S's points at NOW into R's figures (R may be NULL). */
static unsigned score(struct detector *d, struct subject *s, time_t now, struct detector_report *r)
{
    double f[SIG_N];
    unsigned points = 0, kind_points[KIND_N] = {0};
    figures(d, s, now, f);
    for (int i = 0; i < SIG_N; i++) {
        if (s->level < DETECTOR_ALERT && f[i] > s->hour_max[i])
            s->hour_max[i] = f[i]; /* only quiet hours teach the baseline */
        double t = effective_threshold(d, s, i);
        if (t == 0 || f[i] < t)
            continue;
        double ratio = f[i] / t;
        unsigned p =
            (unsigned)lround(signals[i].weight * (ratio > signals[i].cap ? signals[i].cap : ratio));
        points += p;
        kind_points[signals[i].kind] += p;
        if (r)
            r->figures[r->n_figures++] = (struct detector_figure){
                .signal = (enum detector_signal)i, .value = f[i], .threshold = t, .points = p};
    }
    unsigned kinds = 0;
    for (int k = 0; k < KIND_N; k++)
        kinds += kind_points[k] > 0;
    /* One kind of evidence alone never opens an incident: the busy
     * salesman has volume, the travelling one a new network. */
    if (kinds < 2 && points >= d->cfg->alert_score)
        points = d->cfg->alert_score - 1;
    return points;
}

/* level_of - where SCORE stands on the ladder. */
static enum detector_level level_of(const struct config_detector *c, unsigned score)
{
    if (score >= c->contain_score)
        return DETECTOR_CONTAIN;
    if (score >= c->hold_score)
        return DETECTOR_HOLD;
    if (score >= c->alert_score)
        return DETECTOR_ALERT;
    if (score >= c->log_score)
        return DETECTOR_LOG;
    return DETECTOR_NONE;
}

/* raise - score S and climb (never descend: an admin ends an incident). */
static enum detector_level raise_level(struct detector *d, struct subject *s, time_t now)
{
    if (!d->cfg->enabled)
        return s->level;
    s->score = score(d, s, now, NULL);
    enum detector_level l = level_of(d->cfg, s->score);
    if (l > s->level) {
        s->level = l;
        s->changed = true;
        strmap_put(d->changed, s->key, s, NULL);
    }
    return s->level;
}

enum detector_level detector_evaluate(struct detector *d, const char *subject, time_t now)
{
    struct subject *s = strmap_get(d->subjects, subject);
    return s ? raise_level(d, s, now) : DETECTOR_NONE;
}

enum detector_level detector_level(const struct detector *d, const char *subject)
{
    const struct subject *s = strmap_get(d->subjects, subject);
    return s ? s->level : DETECTOR_NONE;
}

/* ---- events ---- */

static const char *domain_of(const char *address)
{
    const char *at = strrchr(address, '@');
    return at ? at + 1 : address;
}

/* session_live - is session slot E live at NOW? */
static bool session_live(const struct live_session *e, time_t now)
{
    return e->id != 0 && e->last >= now - SESSION_IDLE;
}

/* concurrent_networks - the most distinct far-apart networks of one
 * family among S's live sessions at NOW, when one of them is strange to
 * S: a laptop at the office and a phone on the carrier it always uses
 * are two places at once, and normal.  The families are counted apart: a
 * dual-stack home shows one IPv4 and one IPv6 address, and nothing tells
 * how far apart an IPv4 and an IPv6 address are. */
static unsigned concurrent_networks(const struct subject *s, time_t now)
{
    unsigned best = 0;
    bool strange = false;
    for (size_t i = 0; i < SESSIONS_MAX; i++)
        strange |= session_live(&s->sessions[i], now) && s->sessions[i].strange;
    if (!strange)
        return 0;
    for (int family = 4; family <= 6; family += 2) {
        uint64_t seen[SESSIONS_MAX];
        unsigned n = 0;
        for (size_t i = 0; i < SESSIONS_MAX; i++) {
            const struct live_session *e = &s->sessions[i];
            if (!session_live(e, now) || e->family != family)
                continue;
            bool dup = false;
            for (unsigned j = 0; j < n && !dup; j++)
                dup = seen[j] == e->far;
            if (!dup)
                seen[n++] = e->far;
        }
        if (n > best)
            best = n;
    }
    return best;
}

void detector_session_start(struct detector *d, const char *user, const char *ip,
                            unsigned long session, time_t now)
{
    int family;
    uint64_t far = detector_far_network(ip, &family);
    struct subject *s = subject_get(d, user, now);
    if (s == NULL || far == 0 || session == 0)
        return;
    /* a slot: this session's own (a second AUTH is refused anyway), a
     * free or dead one, or else the quietest */
    size_t at = 0;
    for (size_t i = 0; i < SESSIONS_MAX; i++) {
        const struct live_session *e = &s->sessions[i];
        if (e->id == session || !session_live(e, now)) {
            at = i;
            break;
        }
        if (e->last < s->sessions[at].last)
            at = i;
    }
    /* established: known for the subject before this hour (or its home) */
    uint64_t net = network_of(ip);
    bool strange = true;
    for (size_t i = 0; i < s->n_known; i++)
        if (s->known_net[i] == net && (s->known_first[i] == 0 || s->known_first[i] < now - HOUR))
            strange = false;
    s->sessions[at] = (struct live_session){
        .id = session, .far = far, .family = family, .strange = strange, .last = now};
    unsigned n = concurrent_networks(s, now);
    if (n >= s->concurrent || s->concurrent_at < now - HOUR) {
        s->concurrent = n;
        s->concurrent_at = now;
    }
}

void detector_session_end(struct detector *d, const char *user, unsigned long session)
{
    struct subject *s = strmap_get(d->subjects, user);
    for (size_t i = 0; s != NULL && session != 0 && i < SESSIONS_MAX; i++)
        if (s->sessions[i].id == session)
            s->sessions[i].id = 0;
}

/* session_touch - a message came on SESSION of S: still live. */
static void session_touch(struct subject *s, unsigned long session, time_t now)
{
    for (size_t i = 0; session != 0 && i < SESSIONS_MAX; i++)
        if (s->sessions[i].id == session)
            s->sessions[i].last = now;
}

/* note_sample - M as the newest of S's sample messages. */
static void note_sample(struct subject *s, const struct detector_message *m)
{
    struct detector_sample *x = &s->samples[s->n_samples++ % DETECTOR_SAMPLES];
    size_t o = 0;
    memset(x, 0, sizeof *x);
    str_copy(x->queue_id, m->queue_id ? m->queue_id : "", sizeof x->queue_id);
    str_copy(x->subject, m->subject_header ? m->subject_header : "", sizeof x->subject);
    for (size_t i = 0; i < m->n_rcpts && o + 1 < sizeof x->rcpts; i++) {
        int n = snprintf(x->rcpts + o, sizeof x->rcpts - o, "%s%s", i ? "," : "", m->rcpts[i]);
        if (n < 0 || (size_t)n >= sizeof x->rcpts - o) {
            x->rcpts[o] = '\0';
            break;
        }
        o += (size_t)n;
    }
}

/* note_label - the app password label used. */
static void note_label(struct subject *s, const char *label, time_t now)
{
    bool fresh;
    struct seen *e = seen_touch(s->labels, DETECTOR_LABELS_MAX, hash_lower(label), now, &fresh);
    if (fresh)
        str_copy(s->label_text[e - s->labels], label, sizeof s->label_text[0]);
}

/* note_recipients - count M's recipients: external ones, their domains,
 * the strangers among them; returns the external strangers. */
static unsigned note_recipients(struct detector *d, struct subject *s,
                                const struct detector_message *m, time_t now)
{
    unsigned external = 0, strangers = 0, far = 0;
    for (size_t i = 0; i < m->n_rcpts; i++) {
        uint64_t h = hash_lower(m->rcpts[i]);
        bool stranger = !bloom_has(s, h);
        if (stranger) {
            strangers++;
            /* a subject under suspicion teaches nothing: the spam run's
             * recipients must not become "known" */
            if (s->level < DETECTOR_ALERT)
                bloom_add(s, h);
        }
        if (m->rcpt_local && m->rcpt_local[i])
            continue;
        external++;
        far += stranger;
        seen_touch(s->domains, SET_DOMAINS, hash_lower(domain_of(m->rcpts[i])), now, NULL);
    }
    count(d->w10m, s->key, "R", (unsigned)m->n_rcpts, now);
    count(d->w10m, s->key, "r", external, now);
    count(d->w10m, s->key, "n", strangers, now);
    count(d->w1h, s->key, "t", (unsigned)m->n_rcpts, now);
    count(d->w1h, s->key, "N", strangers, now);
    return far;
}

enum detector_level detector_message(struct detector *d, const struct detector_message *m,
                                     time_t now)
{
    struct subject *s = subject_get(d, m->subject, now);
    if (s == NULL)
        return DETECTOR_NONE;
    roll_baseline(s, now);
    s->last = now;
    s->bulk = m->bulk;
    count(d->w1m, s->key, "m", 1, now);
    count(d->w1h, s->key, "M", 1, now);
    session_touch(s, m->session, now);
    if (m->client_ip)
        note_ip(s, m->client_ip, false, now);
    if (m->app_password)
        note_label(s, m->app_password, now);
    unsigned far = note_recipients(d, s, m, now);
    if (m->header_from && *m->header_from)
        seen_touch(s->froms, SET_SMALL, hash_lower(m->header_from), now, NULL);
    if (m->display_name && *m->display_name)
        seen_touch(s->names, SET_SMALL, hash_lower(m->display_name), now, NULL);
    uint64_t fps[2] = {m->subject_header && *m->subject_header
                           ? detector_fingerprint(m->subject_header, strlen(m->subject_header))
                           : 0,
                       m->body_fingerprint};
    /* content fanned out means out, to strangers: a notice to all-staff,
     * or "Order 17", "Order 18" to the usual supplier, is not what a spam
     * run looks like */
    for (int i = 0; i < 2 && far > 0; i++)
        if (fps[i] != 0) {
            /* subject and body fingerprints share the set: either one
             * repeated is the same content */
            struct seen *e = seen_touch(s->content, SET_SMALL, fps[i] ^ (uint64_t)i, now, NULL);
            e->extra += far;
        }
    note_sample(s, m);
    return raise_level(d, s, now);
}

/* ip_logins_get - IP's login record, made when missing. */
static struct ip_logins *ip_logins_get(struct detector *d, const char *ip, time_t now)
{
    struct ip_logins *l = strmap_get(d->ips, ip);
    if (l != NULL)
        return l;
    if (strmap_count(d->ips) >= d->cfg->max_subjects)
        strmap_sweep(d->ips, keep_ip, &now, free);
    if (strmap_count(d->ips) >= d->cfg->max_subjects || (l = calloc(1, sizeof *l)) == NULL)
        return NULL;
    if (strmap_put(d->ips, ip, l, NULL) < 0) {
        free(l);
        return NULL;
    }
    return l;
}

struct reeval_ctx {
    struct detector *d;
    uint64_t ip;
    time_t now;
};

static bool reevaluate_one(const char *key, void *value, void *arg)
{
    struct reeval_ctx *c = arg;
    struct subject *s = value;
    for (size_t i = 0; i < SET_SMALL; i++)
        if (s->ips[i].h == c->ip && s->ips[i].last >= c->now - HOUR) {
            raise_level(c->d, s, c->now);
            break;
        }
    return true;
}

void detector_auth(struct detector *d, const char *user, const char *ip, bool ok, time_t now)
{
    struct subject *s = subject_get(d, user, now);
    struct ip_logins *l = ip_logins_get(d, ip, now);
    if (s == NULL)
        return;
    roll_baseline(s, now);
    s->last = now;
    uint64_t h = hash_lower(user);
    if (!ok) {
        count(d->w1h, s->key, "f", 1, now);
        if (l)
            seen_touch(l->failed, SET_SMALL, h, now, NULL);
        return;
    }
    unsigned long fails = get(d->w1h, s->key, "f", now);
    if (fails > 0) {
        s->fails_before_ok = (unsigned)fails;
        s->fails_at = now;
    }
    unsigned known_before = s->n_known;
    bool net_new = false;
    for (size_t i = 0; i < s->n_known; i++)
        net_new = net_new || s->known_net[i] == network_of(ip);
    net_new = known_before > 0 && !net_new;
    note_ip(s, ip, true, now);
    if (l) {
        struct seen *e = seen_touch(l->ok, SET_SMALL, h, now, NULL);
        if (net_new)
            e->extra = 1;
    }
    if (l && seen_count(l->ok, SET_SMALL, now - HOUR) >= 2) {
        /* every account this IP logged into may now look stuffed */
        struct reeval_ctx c = {d, hash_lower(ip), now};
        strmap_sweep(d->subjects, reevaluate_one, &c, NULL);
    } else {
        raise_level(d, s, now);
    }
}

void detector_app_password(struct detector *d, const char *user, const char *label, time_t now)
{
    struct subject *s = strmap_get(d->subjects, user);
    if (s != NULL && label != NULL && *label)
        note_label(s, label, now);
}

struct stuffed_ctx {
    const struct subject *self;
    uint64_t ip;
    const char *ip_text;
    time_t now;
    struct detector_account *out;
    size_t n, max;
};

/* stuffed_one - another account the stuffing IP logged into, once. */
static bool stuffed_one(const char *key, void *value, void *arg)
{
    struct stuffed_ctx *c = arg;
    const struct subject *s = value;
    if (s == c->self || c->n >= c->max)
        return true;
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->out[i].subject, s->key) == 0)
            return true;
    for (size_t i = 0; i < SET_SMALL; i++) {
        const struct seen *e = &s->ips[i];
        /* extra counts its logins from that address */
        if (e->h != c->ip || e->extra == 0 || e->last < c->now - HOUR)
            continue;
        struct detector_account *a = &c->out[c->n++];
        memset(a, 0, sizeof *a);
        str_copy(a->subject, s->key, sizeof a->subject);
        str_copy(a->ip, c->ip_text, sizeof a->ip);
        for (size_t j = 0; j < DETECTOR_LABELS_MAX && !a->app_password[0]; j++)
            if (s->labels[j].h && s->labels[j].last >= c->now - HOUR)
                str_copy(a->app_password, s->label_text[j], sizeof a->app_password);
        break;
    }
    return true;
}

size_t detector_stuffed(struct detector *d, const char *subject, time_t now,
                        struct detector_account *out, size_t max)
{
    const struct subject *s = strmap_get(d->subjects, subject);
    if (s == NULL || threshold_of(d->cfg, SIG_STUFFING) == 0)
        return 0;
    struct stuffed_ctx c = {.self = s, .now = now, .out = out, .max = max};
    for (size_t i = 0; i < SET_SMALL; i++) {
        if (s->ips[i].h == 0 || s->ips[i].last < now - HOUR ||
            stuffing_logins(d, s->ip_text[i], now) < 2)
            continue;
        c.ip = s->ips[i].h;
        c.ip_text = s->ip_text[i];
        strmap_sweep(d->subjects, stuffed_one, &c, NULL);
    }
    return c.n;
}

enum detector_outcome detector_outcome_of(int code, const char *enh)
{
    if (code >= 200 && code < 300)
        return DETECTOR_DELIVERED;
    /* RFC 3463: X.1.x addressing (5.1.1 bad mailbox, 5.1.2 bad domain);
     * X.7.x security or policy; RFC 7372's 5.7.1 and the 4.7.x of
     * greylisting and reputation throttling */
    if (enh && enh[0] && enh[1] == '.' && enh[2] == '1' && enh[3] == '.' && code >= 500)
        return DETECTOR_REJECT_UNKNOWN;
    if (enh && enh[0] && enh[1] == '.' && enh[2] == '7' && enh[3] == '.')
        return DETECTOR_REJECT_POLICY;
    if (code == 550 && (enh == NULL || enh[0] == '\0'))
        return DETECTOR_REJECT_UNKNOWN; /* the usual "no such user" without a code */
    if (code == 554)
        return DETECTOR_REJECT_POLICY;
    return DETECTOR_OTHER_FAILURE;
}

void detector_delivery(struct detector *d, const char *subject, enum detector_outcome o, time_t now)
{
    struct subject *s = strmap_get(d->subjects, subject);
    if (s == NULL)
        return;
    count(d->w1h, s->key, "a", 1, now);
    if (o == DETECTOR_REJECT_UNKNOWN)
        count(d->w1h, s->key, "u", 1, now);
    else if (o == DETECTOR_REJECT_POLICY)
        count(d->w1h, s->key, "p", 1, now);
}

void detector_bounce(struct detector *d, const char *subject, time_t now)
{
    struct subject *s = strmap_get(d->subjects, subject);
    if (s != NULL)
        count(d->w1h, s->key, "b", 1, now);
}

bool detector_is_bounce(const char *sender, const char *report_type, const char *auto_submitted,
                        bool failed_recipients)
{
    /* RFC 6522 multipart/report with an RFC 3464 delivery-status part:
     * what Postfix, Sendmail, Exchange and the large providers send */
    if (strcasecmp(report_type, "delivery-status") == 0)
        return true;
    /* RFC 5321 4.5.5: notifications go out with the null reverse-path;
     * besides bounces that is read receipts (a report of another type,
     * RFC 8098) and auto-replies (Auto-Submitted, RFC 3834), which say
     * nothing about a failure.  Exim's plain-text bounce is marked
     * auto-replied too, but names the failed recipients. */
    if (*sender != '\0')
        return false;
    if (failed_recipients)
        return true;
    return *report_type == '\0' &&
           (*auto_submitted == '\0' || strcasecmp(auto_submitted, "no") == 0);
}

/* forget_windows - S's sliding windows start again. */
static void forget_windows(struct detector *d, struct subject *s)
{
    static const char *const metrics[] = {"m", "M", "R", "r", "n", "t",
                                          "N", "a", "u", "p", "b", "f"};
    char key[320];
    for (size_t i = 0; i < sizeof metrics / sizeof metrics[0]; i++) {
        window(key, sizeof key, s->key, metrics[i]);
        counters_reset(d->w1m, key);
        counters_reset(d->w10m, key);
        counters_reset(d->w1h, key);
    }
    memset(s->ips, 0, sizeof s->ips);
    memset(s->nets, 0, sizeof s->nets);
    memset(s->domains, 0, sizeof s->domains);
    memset(s->froms, 0, sizeof s->froms);
    memset(s->names, 0, sizeof s->names);
    memset(s->content, 0, sizeof s->content);
    s->fails_before_ok = 0;
    s->concurrent = 0;
    s->concurrent_at = 0;
    for (size_t i = 0; i < s->n_known; i++)
        s->known_first[i] = 0; /* its networks are now its own */
}

void detector_release(struct detector *d, const char *subject, time_t now)
{
    struct subject *s = strmap_get(d->subjects, subject);
    if (s == NULL)
        return;
    forget_windows(d, s);
    s->level = DETECTOR_NONE;
    s->score = 0;
    s->changed = false;
    strmap_del(d->changed, subject);
}

void detector_dismiss(struct detector *d, const char *subject, time_t now)
{
    struct subject *s = strmap_get(d->subjects, subject);
    if (s == NULL)
        return;
    double f[SIG_N];
    figures(d, s, now, f);
    /* A false positive: what it did is what it does.  Each figure enters
     * the baseline so that twice as much still stays under its threshold
     * (the baseline then decays as usual). */
    for (int i = 0; i < SIG_N; i++) {
        double b = 2 * f[i] / d->cfg->baseline_factor;
        if (b > s->baseline[i])
            s->baseline[i] = b;
    }
    detector_release(d, subject, now);
}

struct take_ctx {
    char *key;
    size_t len;
    bool found;
};

/* take_one - the first entry of the changed map (strmap_sweep as a
 * cursor: it drops the one taken and keeps the rest). */
static bool take_one(const char *k, void *value, void *arg)
{
    struct take_ctx *t = arg;
    struct subject *s = value;
    if (t->found)
        return true;
    t->found = true;
    str_copy(t->key, k, t->len);
    s->changed = false;
    return false;
}

bool detector_take_change(struct detector *d, char *key, size_t len)
{
    struct take_ctx t = {key, len, false};
    strmap_sweep(d->changed, take_one, &t, NULL);
    return t.found;
}

int detector_report(struct detector *d, const char *subject, time_t now, struct detector_report *r)
{
    struct subject *s = strmap_get(d->subjects, subject);
    if (s == NULL)
        return -1;
    memset(r, 0, sizeof *r);
    str_copy(r->subject, s->key, sizeof r->subject);
    r->bulk = s->bulk;
    r->level = s->level;
    r->score = score(d, s, now, r);
    for (size_t i = 0; i < SET_SMALL && r->n_ips < DETECTOR_IPS_MAX; i++)
        if (s->ips[i].h) {
            struct detector_ip *x = &r->ips[r->n_ips++];
            str_copy(x->ip, s->ip_text[i], sizeof x->ip);
            x->messages = s->ips[i].n;
            x->logins = s->ips[i].extra;
        }
    for (size_t i = 0; i < DETECTOR_LABELS_MAX; i++)
        if (s->labels[i].h)
            str_copy(r->labels[r->n_labels++], s->label_text[i], sizeof r->labels[0]);
    r->messages = get(d->w1h, s->key, "M", now);
    r->recipients = get(d->w1h, s->key, "t", now);
    /* the samples oldest first */
    unsigned n = s->n_samples < DETECTOR_SAMPLES ? s->n_samples : DETECTOR_SAMPLES;
    for (unsigned i = 0; i < n; i++)
        r->samples[r->n_samples++] = s->samples[(s->n_samples - n + i) % DETECTOR_SAMPLES];
    return 0;
}

/* ---- persistence ---- */

struct save_ctx {
    detector_emit_fn emit;
    void *arg;
    int rc;
};

static const char *const window_tags[] = {"W1", "W10", "W60"};

/* save_subject - "S\tKEY\tBULK\tLEVEL\tHOUR\tBASELINES\tHOURMAX\tNETS\tBLOOM\n". */
static bool save_subject(const char *key, void *value, void *arg)
{
    struct save_ctx *c = arg;
    const struct subject *s = value;
    static char line[BLOOM_BITS / 4 + 4096];
    if (c->rc < 0 || strpbrk(key, "\t\n") != NULL)
        return true;
    int o =
        snprintf(line, sizeof line, "S\t%s\t%d\t%d\t%lld\t", key, s->bulk, (int)s->level, s->hour);
    for (int i = 0; i < SIG_N; i++)
        o += snprintf(line + o, sizeof line - (size_t)o, "%s%.3f", i ? "," : "", s->baseline[i]);
    o += snprintf(line + o, sizeof line - (size_t)o, "\t");
    for (int i = 0; i < SIG_N; i++)
        o += snprintf(line + o, sizeof line - (size_t)o, "%s%.3f", i ? "," : "", s->hour_max[i]);
    o += snprintf(line + o, sizeof line - (size_t)o, "\t");
    for (size_t i = 0; i < s->n_known; i++)
        o += snprintf(line + o, sizeof line - (size_t)o, "%s%llx:%lld:%lld", i ? "," : "",
                      (unsigned long long)s->known_net[i], (long long)s->known_first[i],
                      (long long)s->known_last[i]);
    o += snprintf(line + o, sizeof line - (size_t)o, "\t");
    for (size_t i = 0; i < sizeof s->bloom; i++)
        o += snprintf(line + o, sizeof line - (size_t)o, "%02x", s->bloom[i]);
    o += snprintf(line + o, sizeof line - (size_t)o, "\n");
    if (c->emit(line, (size_t)o, c->arg) < 0)
        c->rc = -1;
    return true;
}

int detector_save(const struct detector *d, time_t now, detector_emit_fn emit, void *arg)
{
    struct save_ctx c = {emit, arg, 0};
    strmap_sweep(d->subjects, save_subject, &c, NULL);
    const struct counters *tables[] = {d->w1m, d->w10m, d->w1h};
    for (size_t i = 0; i < 3 && c.rc == 0; i++)
        c.rc = counters_save_tagged(tables[i], window_tags[i], now, emit, arg);
    return c.rc;
}

/* field - the next tab-separated field of *P (up to END) as a NUL-ended
 * copy in BUF; -1 when missing or too long. */
static int field(const char **p, const char *end, char *buf, size_t len)
{
    const char *q = *p;
    while (q < end && *q != '\t')
        q++;
    if (q == *p && q >= end)
        return -1;
    if ((size_t)(q - *p) >= len)
        return -1;
    memcpy(buf, *p, (size_t)(q - *p));
    buf[q - *p] = '\0';
    *p = q < end ? q + 1 : q;
    return 0;
}

/* load_doubles - N comma-separated numbers of TEXT into OUT.  Fewer are
 * read as zeros after them: a state saved before a signal was added. */
static int load_doubles(const char *text, double *out, int n)
{
    char *end;
    for (int i = 0; i < n; i++) {
        if (i > 0 && *text == '\0') {
            out[i] = 0;
            continue;
        }
        out[i] = strtod(text, &end);
        if (end == text || !isfinite(out[i]) || out[i] < 0 || out[i] > 1e12)
            return -1;
        text = *end == ',' ? end + 1 : end;
    }
    return 0;
}

/* load_nets - "HASH:FIRST:LAST,..." into S. */
static int load_nets(struct subject *s, const char *text)
{
    while (*text && s->n_known < KNOWN_NETS) {
        unsigned long long h;
        long long first, last;
        int used = 0;
        if (sscanf(text, "%llx:%lld:%lld%n", &h, &first, &last, &used) != 3)
            return -1;
        s->known_net[s->n_known] = h;
        s->known_first[s->n_known] = (time_t)first;
        s->known_last[s->n_known++] = (time_t)last;
        text += used;
        if (*text == ',')
            text++;
    }
    return 0;
}

/* load_bloom - hex into S's bloom filter. */
static int load_bloom(struct subject *s, const char *hex)
{
    if (strlen(hex) != 2 * sizeof s->bloom)
        return -1;
    for (size_t i = 0; i < sizeof s->bloom; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        s->bloom[i] = (unsigned char)v;
    }
    return 0;
}

/* load_subject - one "S" line (after "S\t"). */
static int load_subject(struct detector *d, const char *p, const char *end, time_t now)
{
    static char bloom[BLOOM_BITS / 4 + 8], nets[KNOWN_NETS * 64 + 8];
    char key[300], bulk[8], level[8], hour[24], base[SIG_N * 24], hmax[SIG_N * 24];
    if (field(&p, end, key, sizeof key) < 0 || field(&p, end, bulk, sizeof bulk) < 0 ||
        field(&p, end, level, sizeof level) < 0 || field(&p, end, hour, sizeof hour) < 0 ||
        field(&p, end, base, sizeof base) < 0 || field(&p, end, hmax, sizeof hmax) < 0 ||
        field(&p, end, nets, sizeof nets) < 0 || field(&p, end, bloom, sizeof bloom) < 0)
        return -1;
    struct subject tmp = {0};
    int lv = atoi(level);
    if (load_doubles(base, tmp.baseline, SIG_N) < 0 ||
        load_doubles(hmax, tmp.hour_max, SIG_N) < 0 || load_nets(&tmp, nets) < 0 ||
        load_bloom(&tmp, bloom) < 0 || lv < 0 || lv > DETECTOR_CONTAIN)
        return -1;
    struct subject *s = subject_get(d, key, now);
    if (s == NULL)
        return -1;
    s->bulk = bulk[0] == '1';
    s->level = (enum detector_level)lv;
    s->hour = atoll(hour);
    memcpy(s->baseline, tmp.baseline, sizeof s->baseline);
    memcpy(s->hour_max, tmp.hour_max, sizeof s->hour_max);
    memcpy(s->known_net, tmp.known_net, sizeof s->known_net);
    memcpy(s->known_first, tmp.known_first, sizeof s->known_first);
    memcpy(s->known_last, tmp.known_last, sizeof s->known_last);
    s->n_known = tmp.n_known;
    memcpy(s->bloom, tmp.bloom, sizeof s->bloom);
    s->last = now;
    return 0;
}

size_t detector_load(struct detector *d, const char *text, size_t len, time_t now)
{
    size_t loaded = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        struct counters *const tables[] = {d->w1m, d->w10m, d->w1h};
        if (eol - p > 2 && p[0] == 'S' && p[1] == '\t')
            loaded += load_subject(d, p + 2, eol, now) == 0;
        else
            counters_load_tagged(tables, window_tags, 3, p, (size_t)(eol - p), now);
        p = nl ? nl + 1 : end;
    }
    return loaded;
}
