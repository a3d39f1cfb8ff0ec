/* core/config - the daemon configuration: load floodgate.conf with libconfig,
 * validate every key, and report errors as "FILE:LINE: KEY: what is wrong". */
#ifndef FLOODGATE_CORE_CONFIG_H
#define FLOODGATE_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

#include "core/ipset.h"

enum tls_mode { TLS_MODE_NONE, TLS_MODE_STARTTLS, TLS_MODE_IMPLICIT };
enum auth_mode { AUTH_MODE_OFF, AUTH_MODE_OPTIONAL, AUTH_MODE_REQUIRED };
/* What DATA does with a bare LF (one not preceded by CR): reject the message
 * with 554 5.6.0, or store it as CR LF.  Neither ever ends the DATA phase. */
enum bare_lf_mode { BARE_LF_REJECT, BARE_LF_NORMALIZE };
/* What a NUL octet in DATA does (RFC 5322 2.3, RFC 2045 2.8: never in mail). */
enum nul_mode { NUL_REJECT, NUL_STRIP };

struct listener_config {
    char *name;                   /* unique, used in logs and the envelope */
    char *address;                /* as written: "127.0.0.1:2525", "[::1]:25" */
    struct sockaddr_storage addr; /* parsed address */
    socklen_t addrlen;
    enum tls_mode tls;
    enum auth_mode auth;
    bool plaintext_auth; /* offer AUTH before TLS (default false) */
};

/* What a setting that names IP groups grants their clients.  Every such
 * setting is one of these, and every group it names (with the groups those
 * include) passes the wide-entry guard of config.c. */
enum ip_grant {
    IP_GRANT_RELAY,     /* relay.allow_groups: relay without AUTH, trusted sender */
    IP_GRANT_NO_BANS,   /* hammering.exempt_groups: never banned automatically */
    IP_GRANT_NO_LIMITS, /* client_limits.exempt_groups: no per-IP client limits */
    IP_GRANT_COUNT
};

struct ip_group {
    char *name;
    struct ipset *set; /* includes the members of included groups */
    bool allow_wide;   /* ip_groups.NAME.allow_wide: its wide public entries are meant */
    unsigned grants;   /* bit 1 << IP_GRANT_* for each setting naming it directly */
    unsigned reached;  /* the same, also through "@group" includes */
};

struct config_limits {
    size_t max_message_size;          /* octets, SIZE= and DATA; default 25 MiB */
    unsigned max_recipients;          /* per message; default 100 */
    unsigned max_expanded_recipients; /* per message, after alias expansion; default 10000 */
    unsigned max_errors;              /* per session before 421; default 10 */
    unsigned max_connections;         /* whole server; default 1000 */
    unsigned command_timeout;         /* seconds; RFC 5321 4.5.3.2: 5 min */
    unsigned data_timeout;            /* seconds per DATA block; 3 min */
    unsigned data_end_timeout;        /* seconds waiting after "."; 10 min */
    unsigned tls_handshake_timeout;   /* seconds for a whole TLS handshake; 30 */
    unsigned
        min_data_rate; /* DATA octets/s that earn more time (smtpd_min_data_rate); 500, 0 = off */
    enum bare_lf_mode bare_lf;
    enum nul_mode nul; /* default reject (554 5.6.0) */
};

struct config_queue {
    unsigned quarantine_retention; /* seconds a quarantined message is kept; 0 = always; 30 d */
    unsigned retry_initial;        /* seconds before the first retry; default 300 */
    unsigned retry_max;            /* cap of the doubling backoff; default 3600 */
    unsigned lifetime;             /* seconds before a message bounces; default 5 days */
    unsigned group_commit_max;     /* messages per transaction at most; default 64 */
};

/* How the SMTP client uses STARTTLS toward MX hosts (RFC 3207). */
enum delivery_tls { DELIVERY_TLS_OPPORTUNISTIC, DELIVERY_TLS_REQUIRED, DELIVERY_TLS_OFF };

/* Where local mail goes: written to the Maildir by Floodgate, or handed
 * to an LMTP server (Dovecot's, for Sieve and quotas; RFC 2033). */
enum delivery_local { DELIVERY_LOCAL_MAILDIR, DELIVERY_LOCAL_LMTP };
#define DELIVERY_LMTP_SOCKET "dovecot-lmtp" /* delivery.lmtp_socket's default, in state_dir */

struct config_delivery {
    unsigned mx_port;            /* 25; other values are for test setups */
    enum delivery_tls tls;       /* default opportunistic */
    bool tls_verify;             /* refuse certificates that do not verify; default no */
    unsigned connect_timeout;    /* seconds; default 30 */
    unsigned command_timeout;    /* RFC 5321 4.5.3.2: 300 */
    unsigned data_timeout;       /* waiting for the reply to the final "."; 600 */
    unsigned max_connections;    /* outbound connections at once; default 500 */
    unsigned max_per_domain;     /* per destination domain; default 4 */
    unsigned initial_per_domain; /* slow start: a destination's first window; default 2 */
    unsigned delay_warning;      /* seconds before a delay DSN; 0 = never; default 4 h */
    /* delivery.relayhost: send everything through this smarthost */
    char *relayhost;             /* host name or address; NULL = MX routing */
    unsigned relayhost_port;     /* default 587 */
    enum tls_mode relayhost_tls; /* default starttls */
    char *relayhost_user;        /* AUTH; NULL = none */
    char *relayhost_password;
    enum delivery_local local;         /* delivery.local; default maildir */
    char *lmtp_socket;                 /* UNIX socket of the LMTP server; relative: in state_dir */
    char *lmtp_address;                /* "IPv4:PORT" / "[IPv6]:PORT" instead of the socket; NULL */
    struct sockaddr_storage lmtp_addr; /* lmtp_address parsed */
    socklen_t lmtp_addrlen;
};

/* passwords: what floodctl accepts as a new password (libpwquality), and
 * how long one lasts. */
struct config_passwords {
    unsigned min_length;   /* default 12 */
    unsigned min_classes;  /* of lower, upper, digit, other; default 3 */
    bool dictionary_check; /* cracklib dictionary; default yes */
    unsigned max_age;      /* seconds before a password expires; 0 = never (default) */
    unsigned warn_before;  /* seconds before expiry to warn; default 14 days */
};

/* lockout: failed AUTH per account and client network (IPv4 /IPV4_PREFIX,
 * IPv6 /IPV6_PREFIX): FAILURES of them within WINDOW lock the account's
 * main password from that network for DURATION.  ACCOUNT_FAILURES from all
 * networks within ACCOUNT_WINDOW lock it from every network except those
 * it logged in from within KNOWN_NETWORK_AGE (the safety valve against
 * guessing spread over many networks).  App passwords stay usable (they
 * are long random strings nobody guesses), so a botnet hammering an
 * account cannot lock its owner's devices out. */
struct config_lockout {
    unsigned failures;          /* per network; default 10; 0 = no lockout per network */
    unsigned window;            /* seconds; default 900 */
    unsigned duration;          /* seconds; default 900 */
    unsigned ipv4_prefix;       /* bits of an IPv4 network; default 24 */
    unsigned ipv6_prefix;       /* bits of an IPv6 network; default 64 */
    unsigned account_failures;  /* all networks; default 200; 0 = no account-wide lock */
    unsigned account_window;    /* seconds; default 3600 */
    unsigned known_network_age; /* seconds; default 30 days; 0 = the valve spares none */
};

/* hammering: failed AUTH (and other failed commands) per client IP within
 * WINDOW ban the IP for BAN seconds, doubling for a repeat offender up to
 * BAN_MAX. */
struct config_hammering {
    unsigned failures;    /* default 10; 0 = never ban */
    unsigned window;      /* seconds; default 60 */
    unsigned ban;         /* seconds; default 300 */
    unsigned ban_max;     /* seconds; default 86400 */
    struct ipset *exempt; /* union of hammering.exempt_groups */
};

/* client_limits: per client IP (SMTP security options). */
struct config_client_limits {
    unsigned max_connections;        /* at once per IP; default 20; 0 = no limit */
    unsigned messages_per_hour;      /* per IP; default 0 = no limit */
    unsigned max_unknown_recipients; /* per IP per hour before a ban; default 20; 0 = off */
    unsigned unknown_recipients_ban; /* seconds; default 3600 */
    unsigned greeting_delay;         /* seconds; default 0; talking early is refused */
    bool require_reverse_dns;        /* refuse clients without PTR; default no */
    bool require_sender_domain;      /* refuse MAIL FROM domains without A/AAAA/MX; default no */
    struct ipset *exempt;            /* union of client_limits.exempt_groups */
};

/* sending_limits: per authenticated user (or trusted unauthenticated IP),
 * over the last hour; per-user overrides live in the store. 0 = no limit. */
struct config_sending_limits {
    unsigned messages_per_hour;   /* default 500 */
    unsigned recipients_per_hour; /* default 2000 */
    unsigned domains_per_hour;    /* distinct recipient domains; default 300 */
};

/* detector: the outbreak detector (policy/detector.c, docs/detector.md).
 * Score thresholds climb the ladder; the signal thresholds are where a
 * signal starts to earn points.  0 turns a signal off. */
struct config_detector {
    bool enabled;                      /* default yes */
    unsigned log_score;                /* default 20 */
    unsigned alert_score;              /* default 40: an incident opens */
    unsigned hold_score;               /* default 60 */
    unsigned contain_score;            /* default 90 */
    unsigned messages_per_minute;      /* default 20 */
    unsigned recipients_per_10min;     /* external recipients; default 150 */
    unsigned new_recipients_per_10min; /* never written to before; default 30 */
    unsigned domains_per_10min;        /* distinct external domains; default 30 */
    unsigned same_content;             /* messages of one fingerprint in 10 min; default 10 */
    unsigned client_ips_per_hour;      /* default 4 */
    unsigned networks_per_hour;        /* /24 or /64; default 3 */
    unsigned new_networks;             /* networks never seen before, per hour; default 1 */
    unsigned failed_logins;            /* in the hour before a success; default 3 */
    unsigned stuffing_accounts;        /* accounts one IP logged into; default 3 */
    unsigned from_changes;             /* distinct From or display names in 10 min; default 4 */
    unsigned rejects_unknown_percent;  /* 5.1.x share of remote recipients; default 20 */
    unsigned rejects_policy_percent;   /* 5.7.x/4.7.x share; default 10 */
    unsigned bounces_per_hour;         /* DSNs coming back; default 10 */
    unsigned concurrent_networks;      /* far-apart networks with live sessions at once; 2 */
    unsigned new_recipients_per_hour;  /* never written to before, 1 hour; default 25 */
    unsigned bulk_factor;              /* volume thresholds times this for bulk senders; 100 */
    unsigned baseline_factor;          /* a threshold is at least this times the baseline; 3 */
    unsigned max_subjects;             /* accounts and IPs followed at once; default 10000 */
    bool suspend_account;              /* contain: suspend the account (no: revoke only the
                                          app password used, when one was); default yes */
    unsigned ban_seconds;              /* contain: how long the IPs are banned; default 86400 */
};

/* alerts: who hears of an incident. */
struct config_alerts {
    char *mail_to;            /* address; NULL: the log line only */
    unsigned min_interval;    /* seconds between two alerts about one incident; default 300 */
    char *webhook_url;        /* http:// or https://; NULL: no webhook (policy/alert_hooks.c) */
    char *webhook_token;      /* sent as "Authorization: Bearer TOKEN"; NULL: none */
    unsigned webhook_timeout; /* seconds per attempt; default 10 */
    char *command;            /* absolute path run with the incident on stdin; NULL: none */
    unsigned command_timeout; /* seconds before it is killed; default 30 */
};

enum sender_policy_mode { SENDER_POLICY_REJECT, SENDER_POLICY_LOG };

/* sender_policy: which addresses an authenticated user may send as. */
struct config_sender_policy {
    enum sender_policy_mode mode; /* default reject */
    char **log_domains;           /* local domains where violations are only logged */
    size_t n_log_domains;
    bool anti_spoofing; /* unauthenticated + untrusted IP may not use a local sender domain;
                           default yes */
};

/* web: the embedded HTTP server (control/web.c); off unless configured. */
enum web_tls { WEB_TLS_NONE, WEB_TLS_IMPLICIT };
struct config_web {
    bool enabled;                 /* a web section with an address */
    char *address;                /* as written: "127.0.0.1:8080" */
    struct sockaddr_storage addr; /* parsed */
    socklen_t addrlen;
    enum web_tls tls;          /* "implicit": HTTPS with tls.certificate */
    char *metrics_token;       /* bearer token /metrics asks for; NULL: none */
    char *api_token;           /* bearer token /api/v1/ asks for; NULL: API off */
    char *public_url;          /* "https://mail.example.com:8443" as users reach it; NULL: unset */
    unsigned session_idle;     /* seconds a web login lasts without a request; default 1800 */
    unsigned session_lifetime; /* seconds a web login lasts at most; default 43200 (12 h) */
};

/* reputation: the server's own public addresses, which floodctl doctor
 * checks in DNS (config_reputation.c). */
#define REPUTATION_ADDRESSES_MAX 16
#define REPUTATION_BLOCKLISTS_MAX 16
struct config_reputation {
    char *public_addresses[REPUTATION_ADDRESSES_MAX]; /* as text */
    size_t n_public;
    bool discovered;                             /* not configured: the listeners' own addresses */
    char *blocklists[REPUTATION_BLOCKLISTS_MAX]; /* DNSBL zones the addresses are checked on */
    size_t n_blocklists;
    unsigned check_interval; /* seconds between the daemon's checks; 0 = never; 3600 */
};

/* inbound: the checks of mail coming in from other servers (unauthenticated
 * clients outside relay.allow_groups): DNSBL scoring of the client address,
 * SPF of the envelope sender, DKIM signatures, DMARC of the header From
 * (config_inbound.c). */
#define INBOUND_DNSBL_MAX 16
enum inbound_action { INBOUND_MARK, INBOUND_REJECT };
enum inbound_dns_failure { INBOUND_DNS_SKIP, INBOUND_DNS_DEFER };
struct config_inbound_dnsbl {
    char *zone;
    unsigned weight; /* default 1 */
};
struct config_inbound {
    struct config_inbound_dnsbl dnsbl[INBOUND_DNSBL_MAX]; /* none by default */
    size_t n_dnsbl;
    unsigned dnsbl_threshold;             /* score that rejects (554 5.7.1); default 1 */
    bool spf;                             /* evaluate SPF at MAIL FROM; default no */
    enum inbound_action spf_fail;         /* default reject (550 5.7.23) */
    enum inbound_action spf_softfail;     /* default mark */
    bool dmarc;                           /* honour the From: domain's DMARC policy; default no */
    bool dkim;                            /* verify DKIM signatures; default: as dmarc */
    unsigned dkim_max_signatures;         /* signatures verified per message; default 5 */
    enum inbound_dns_failure dns_failure; /* SERVFAIL or timeout: default skip */
    unsigned dns_timeout;                 /* seconds per DNS try (two tries); default 2 */
    char *authserv_id;                    /* Authentication-Results: default the hostname */
    /* the Public Suffix List, for DMARC's organizational domain (RFC 7489
     * 3.2); default INBOUND_PSL_DEFAULT (Debian's package publicsuffix) */
    char *public_suffix_list;
};
#define INBOUND_PSL_DEFAULT "/usr/share/publicsuffix/public_suffix_list.dat"

/* policy: how the policy engine (src/policy/engine.h) decides when a
 * lookup it needs fails. */
struct config_policy {
    bool fail_open; /* a failed store lookup lets the client on; default no (451 4.3.0) */
};

struct config {
    char *path;            /* the file it was read from */
    char *hostname;        /* greeting, Received:, HELO; default: gethostname() */
    char *state_dir;       /* store, mail, control socket; required */
    char *user;            /* user to drop to when started as root; NULL = none */
    char *log_file;        /* NULL: syslog or the journal (floodgated(8), Logs); "-" = stderr */
    char *syslog_socket;   /* the syslog daemon's socket; default "/dev/log" */
    char *tls_certificate; /* PEM; required when a listener uses TLS */
    char *tls_key;
    bool disclose_auth_user;   /* name the AUTH user in Received:; default no */
    unsigned shutdown_timeout; /* seconds SIGTERM waits for sessions and deliveries; 10 */
    char *postmaster;          /* RFC 5321 4.5.1: where postmaster@ a local domain without
                                  such a user or alias goes (lowercased); NULL: its own Maildir */

    struct listener_config *listeners;
    size_t n_listeners;

    struct ip_group *groups;
    size_t n_groups;

    struct ipset *relay_clients; /* union of relay.allow_groups */
    bool open_relay;             /* relay.open_relay */

    struct config_limits limits;
    struct config_queue queue;
    struct config_delivery delivery;

    struct config_passwords passwords;
    struct config_lockout lockout;
    struct config_hammering hammering;
    struct config_client_limits client_limits;
    struct config_sending_limits sending_limits;
    struct config_sender_policy sender_policy;
    struct config_detector detector;
    struct config_alerts alerts;
    struct config_policy policy;

    struct config_web web;
    struct config_reputation reputation;
    struct config_inbound inbound;

    char **dns_servers; /* "ip:port" strings; none = system resolver */
    size_t n_dns_servers;

    char **warnings; /* non-fatal findings with file:line, for the log */
    size_t n_warnings;

    unsigned refs; /* its users: see config_ref; 1 after config_load */
};

/* config_detector_defaults - the defaults of the detector { } and
 * alerts { } sections into CFG (config_load sets them; tests use them). */
void config_detector_defaults(struct config *cfg);

/* config_load - read and validate PATH.  On error returns NULL and writes
 * "PATH:LINE: KEY: message" into ERR. */
struct config *config_load(const char *path, char *err, size_t errlen);
void config_free(struct config *cfg);

/* config_ref - one more user of CFG.  A reload replaces the daemon's
 * current config while sessions, delivery jobs and listeners still read
 * the old one: each holds a reference, and the last config_unref frees
 * it.  Safe from any thread.  Returns CFG. */
struct config *config_ref(struct config *cfg);
/* config_unref - a user is done with CFG (NULL is fine). */
void config_unref(const struct config *cfg);
/* config_count - how many configs this process holds now: after a reload
 * 1 plus those still used by sessions or jobs from before it. */
unsigned config_count(void);

/* listener_same_address - whether A and B listen on one address. */
bool listener_same_address(const struct listener_config *a, const struct listener_config *b);

/* config_group - the IP group called NAME, or NULL. */
const struct ip_group *config_group(const struct config *cfg, const char *name);

/* config_grant_key - the setting behind GRANT ("relay.allow_groups"). */
const char *config_grant_key(enum ip_grant grant);

/* config_describe - who may do what on each listener, for floodgated -n
 * (config_describe.c): relay, exemptions, AUTH and TLS, written to OUT. */
void config_describe(const struct config *cfg, FILE *out);

#endif
