/* policy/detector - notice a hijacked account or an infected PC sending
 * spam, from what the server sees anyway: the messages a subject sends,
 * its logins, and what remote servers answer to its mail.
 *
 * Room: policy.  Pure: no I/O, no clock (every call takes NOW), no store;
 * the caller persists, acts and alerts.  A subject is an authenticated
 * account ("alice@example.org") or, for an unauthenticated client of a
 * trusted group (the infected PC on the LAN), "ip:ADDR".
 *
 * Each subject has sliding windows (1 minute, 10 minutes, 1 hour, on
 * policy/counters), small sets of what it recently used (client IPs and
 * their networks, recipient domains, header From addresses and display
 * names, content fingerprints), the networks and correspondents it is
 * known to use (a bloom filter), and a baseline per signal: a decaying
 * average of its own hourly figures.  Every signal compares a figure with
 * a threshold (the configured one, or BASELINE_FACTOR times the subject's
 * own baseline when that is higher) and earns points; the points make a
 * score, and the score climbs a ladder: log, alert, hold, contain.
 * docs/detector.md explains each signal and the trade-offs. */
#ifndef FLOODGATE_POLICY_DETECTOR_H
#define FLOODGATE_POLICY_DETECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/config.h"

enum detector_level {
    DETECTOR_NONE = 0,
    DETECTOR_LOG,     /* a log line: something is unusual */
    DETECTOR_ALERT,   /* an incident opens, the admin is told */
    DETECTOR_HOLD,    /* new messages are answered 250 and held */
    DETECTOR_CONTAIN, /* the account is suspended, its IPs banned */
};

/* The signals, each with its figure in a report. */
enum detector_signal {
    SIG_MESSAGES,            /* messages in the last minute */
    SIG_RECIPIENTS,          /* external recipients in 10 minutes */
    SIG_NEW_RECIPIENTS,      /* recipients never written to before, in 10 minutes */
    SIG_DOMAINS,             /* distinct external recipient domains in 10 minutes */
    SIG_CONTENT,             /* messages with one Subject/body fingerprint in 10 minutes */
    SIG_CLIENT_IPS,          /* distinct client IPs in an hour */
    SIG_NETWORKS,            /* distinct /24 (IPv6 /64) networks in an hour */
    SIG_NEW_NETWORK,         /* messages from a network never seen for the subject */
    SIG_FAILED_LOGINS,       /* failed logins in the hour before a success */
    SIG_STUFFING,            /* accounts its client IP logged into, with failures */
    SIG_FROM_CHANGES,        /* distinct header From addresses or display names, 10 minutes */
    SIG_REJECTS_UNKNOWN,     /* % of remote recipients refused as unknown (5.1.x), 1 hour */
    SIG_REJECTS_POLICY,      /* % refused as spam or policy (5.7.x, 4.7.x), 1 hour */
    SIG_BOUNCES,             /* delivery status notifications coming back, 1 hour */
    SIG_CONCURRENT,          /* far-apart networks with sessions live at once, 1 hour */
    SIG_NEW_RECIPIENTS_HOUR, /* recipients never written to before, in 1 hour */
    SIG_N
};

/* The kinds of evidence.  One kind alone never opens an incident: a busy
 * person has volume, a travelling one a new network. */
enum detector_kind { KIND_VOLUME, KIND_CONTENT, KIND_IDENTITY, KIND_FROM, KIND_FEEDBACK, KIND_N };

struct detector;

struct detector *detector_new(const struct config_detector *cfg);
void detector_free(struct detector *d);
/* detector_set_config - after a reload; CFG must outlive its use. */
void detector_set_config(struct detector *d, const struct config_detector *cfg);

/* One accepted message (recipients as given in RCPT: an alias counts once,
 * as its sender wrote it). */
struct detector_message {
    const char *subject; /* "user@domain" or "ip:ADDR" */
    const char *client_ip;
    const char *app_password; /* label, or NULL */
    bool bulk;                /* the account is marked a bulk sender */
    const char *queue_id;
    unsigned long session;    /* the SMTP session it came on (0: unknown) */
    const char *header_from;  /* addr-spec, or NULL */
    const char *display_name; /* of From:, or NULL */
    const char *subject_header;
    uint64_t body_fingerprint; /* detector_fingerprint of the body, 0: none */
    const char *const *rcpts;
    const bool *rcpt_local; /* per recipient: in a local domain */
    size_t n_rcpts;
};

/* detector_fingerprint - a fingerprint of TEXT that survives the usual
 * personalisation: case, digits, spaces and punctuation are ignored, and
 * only the first 4 KB of letters count.  0 (none) for a text of fewer
 * than 12 letters. */
uint64_t detector_fingerprint(const char *text, size_t len);

/* detector_message - count M at NOW; the subject's level afterwards. */
enum detector_level detector_message(struct detector *d, const struct detector_message *m,
                                     time_t now);
/* detector_auth - a login of USER (subject) from IP, OK or failed.  It
 * may raise the level of USER or of other accounts that IP logged into
 * (see detector_take_change). */
void detector_auth(struct detector *d, const char *user, const char *ip, bool ok, time_t now);
/* detector_app_password - USER logged in with the app password LABEL
 * (after detector_auth): what containment revokes when the account is
 * not to be suspended (detector.suspend_account = false). */
void detector_app_password(struct detector *d, const char *user, const char *label, time_t now);
/* An account a credential-stuffing address got into. */
struct detector_account {
    char subject[300];
    char ip[46];           /* the stuffing address */
    char app_password[64]; /* the label it used in the hour, or "" */
};
/* detector_stuffed - the OTHER accounts (not SUBJECT) that an address of
 * SUBJECT's hour logged into, when that address is stuffing credentials
 * (it failed on two accounts or was new to two, and got into two or
 * more): containing SUBJECT contains them too, or the stuffer keeps what
 * it broke once its first account is stopped.  At most MAX into OUT;
 * how many. */
size_t detector_stuffed(struct detector *d, const char *subject, time_t now,
                        struct detector_account *out, size_t max);
/* detector_session_start - USER logged in from IP on SMTP session
 * SESSION: it is live until detector_session_end (or 10 minutes without
 * a message on it).  Call it before detector_auth (which scores the
 * login): sessions of one account live at once from far-apart networks
 * are the signal SIG_CONCURRENT. */
void detector_session_start(struct detector *d, const char *user, const char *ip,
                            unsigned long session, time_t now);
/* detector_session_end - SESSION of USER ended. */
void detector_session_end(struct detector *d, const char *user, unsigned long session);
/* detector_far_network - the network IP belongs to when telling
 * far-apart places without a GeoIP database: its IPv4 /16 or IPv6 /32
 * (an IPv4-mapped IPv6 address as its IPv4), and the private ranges of a
 * family (RFC 1918, RFC 4193 ULA, link-local) as one place: the
 * organisation's own.  Hashed, never 0; its family (4 or 6) in *FAMILY;
 * 0 when IP is not an address. */
uint64_t detector_far_network(const char *ip, int *family);

/* Outcomes of remote delivery for SUBJECT's mail, per recipient. */
enum detector_outcome {
    DETECTOR_DELIVERED,
    DETECTOR_REJECT_UNKNOWN, /* 5.1.x: no such user */
    DETECTOR_REJECT_POLICY,  /* 5.7.x, 4.7.x: spam, policy, reputation */
    DETECTOR_OTHER_FAILURE,
};
void detector_delivery(struct detector *d, const char *subject, enum detector_outcome o,
                       time_t now);
/* detector_outcome_of - the outcome class of an SMTP reply CODE with its
 * enhanced status ENH ("5.1.1", may be NULL or ""). */
enum detector_outcome detector_outcome_of(int code, const char *enh);
/* detector_bounce - a delivery status notification came back to SUBJECT
 * (nothing when SUBJECT sent nothing lately: backscatter of mail forged
 * in its name is not its doing). */
void detector_bounce(struct detector *d, const char *subject, time_t now);
/* detector_is_bounce - is a message coming in a bounce?  SENDER is its
 * envelope sender ("" for the null reverse-path), REPORT_TYPE the
 * report-type of a multipart/report Content-Type ("" when none),
 * AUTO_SUBMITTED the Auto-Submitted field's keyword ("" when none),
 * FAILED_RECIPIENTS whether it has an X-Failed-Recipients field. */
bool detector_is_bounce(const char *sender, const char *report_type, const char *auto_submitted,
                        bool failed_recipients);

/* detector_level - the level SUBJECT stands at (DETECTOR_NONE if unknown). */
enum detector_level detector_level(const struct detector *d, const char *subject);
/* detector_evaluate - score SUBJECT at NOW (after auth or delivery news)
 * and raise its level; the new level. */
enum detector_level detector_evaluate(struct detector *d, const char *subject, time_t now);

/* detector_release - an admin released SUBJECT's incident: back to
 * DETECTOR_NONE, its windows start again.  detector_dismiss also feeds
 * the baseline with what fired, so that the same pattern stays quiet. */
void detector_release(struct detector *d, const char *subject, time_t now);
void detector_dismiss(struct detector *d, const char *subject, time_t now);

/* The evidence of a subject for an incident. */
#define DETECTOR_IPS_MAX 16
#define DETECTOR_SAMPLES 3
#define DETECTOR_SAMPLE_RCPTS 256
#define DETECTOR_LABELS_MAX 4
struct detector_figure {
    enum detector_signal signal;
    double value, threshold;
    unsigned points;
};
struct detector_ip {
    char ip[46];
    unsigned messages, logins;
};
struct detector_sample {
    char queue_id[17];
    char subject[128];
    char rcpts[DETECTOR_SAMPLE_RCPTS]; /* comma-separated, truncated */
};
struct detector_report {
    char subject[300];
    bool bulk;
    enum detector_level level;
    unsigned score;
    size_t n_figures; /* the signals that earned points */
    struct detector_figure figures[SIG_N];
    size_t n_ips;
    struct detector_ip ips[DETECTOR_IPS_MAX];
    size_t n_labels;
    char labels[DETECTOR_LABELS_MAX][64]; /* app passwords used */
    unsigned long messages, recipients;   /* accepted in the last hour */
    size_t n_samples;
    struct detector_sample samples[DETECTOR_SAMPLES];
};
/* detector_report - fill R for SUBJECT at NOW; -1 when it is unknown. */
int detector_report(struct detector *d, const char *subject, time_t now, struct detector_report *r);

/* detector_take_change - the next subject whose level rose since it was
 * last taken (auth news can raise subjects other than the one that
 * logged in), into KEY; false when none. */
bool detector_take_change(struct detector *d, char *key, size_t len);

const char *detector_signal_name(enum detector_signal s);
const char *detector_level_name(enum detector_level l);
/* detector_level_parse - "log", "alert", "hold", "contain" or "none"; -1. */
int detector_level_parse(const char *name);
size_t detector_subjects(const struct detector *d);
/* detector_sweep - forget subjects with nothing recent and no level. */
void detector_sweep(struct detector *d, time_t now);

/* Persistence (item: counters survive a restart): the state as text
 * lines, and back.  detector_save calls EMIT for each chunk of text. */
typedef int (*detector_emit_fn)(const char *text, size_t len, void *arg);
int detector_save(const struct detector *d, time_t now, detector_emit_fn emit, void *arg);
/* detector_load - read what detector_save wrote (TEXT, LEN octets);
 * unreadable lines are skipped.  Returns the subjects loaded. */
size_t detector_load(struct detector *d, const char *text, size_t len, time_t now);

#endif
