/* smtp/session_internal - the session structures shared by session.c (I/O),
 * commands.c (the command table) and auth.c (SMTP AUTH): the connection
 * (struct smtp_session), who is on it (struct origin, policy/origin.h) and
 * the mail transaction in progress (struct smtp_txn).  Not for other rooms. */
#ifndef FLOODGATE_SMTP_SESSION_INTERNAL_H
#define FLOODGATE_SMTP_SESSION_INTERNAL_H

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "smtp/auth_decode.h"
#include "smtp/command.h"
#include "smtp/data_reader.h"
#include "policy/engine.h"
#include "core/header_watch.h"
#include "policy/inbound.h"
#include "policy/origin.h"
#include "smtp/server.h"
#include "queue/envelope.h"
#include "queue/spool.h"

/* The session states, after OpenSMTPD's: a command's check function looks
 * at the state before anything happens. */
enum smtp_state {
    SMTP_STATE_CONNECTED, /* greeting sent, no HELO/EHLO yet */
    SMTP_STATE_HELO,      /* ready for MAIL */
    SMTP_STATE_MAIL,      /* MAIL accepted, collecting RCPT */
    SMTP_STATE_RCPT,      /* at least one RCPT accepted */
    SMTP_STATE_BODY,      /* reading DATA content */
    SMTP_STATE_AUTH,      /* in an AUTH exchange (334 sent) */
    SMTP_STATE_TLS,       /* STARTTLS handshake running */
    SMTP_STATE_QUIT,      /* closing after the last reply is flushed */
};

/* What the session is waiting for.  Its socket stays readable meanwhile
 * (turning EPOLLIN off and on again around every wait cost two epoll_ctl
 * calls each time): what the client sends is kept in the input buffer, up
 * to SMTP_INPUT_MAX, and read as commands, in order, once the wait ends
 * (RFC 2920 3.1). */
enum smtp_wait {
    SMTP_WAIT_NONE,
    SMTP_WAIT_STORE,
    SMTP_WAIT_AUTH,
    SMTP_WAIT_GREETING, /* greeting delay or reverse lookup (input is still read: early talkers) */
    SMTP_WAIT_DNS,      /* the sender domain's lookup */
    SMTP_WAIT_LOOKUP,   /* a store read on a lookup thread (smtp/lookup.c) */
};

/* SMTP_INPUT_MAX - the read high-watermark of a session's input buffer:
 * libevent stops reading the socket once this much waits in it (the
 * kernel's socket buffer and TCP flow control hold the rest), which bounds
 * what a client that floods while its session waits can make us keep.
 * More than the longest line (an AUTH line, SMTP_AUTH_LINE_MAX), so a
 * whole line always fits, and at least one of libevent's reads (16 KB):
 * the DATA reader, which empties the buffer at every read, reads as
 * before.  About 60 pipelined commands of the usual length. */
#define SMTP_INPUT_MAX 32768
_Static_assert(SMTP_INPUT_MAX > SMTP_AUTH_LINE_MAX + 2, "a whole AUTH line must fit");

/* What the session's one timer bounds now (session.c). */
enum smtp_deadline {
    SMTP_DEADLINE_NONE,
    SMTP_DEADLINE_IDLE,      /* the next command's first octet: command_timeout */
    SMTP_DEADLINE_COMMAND,   /* the rest of a command line, from its first octet */
    SMTP_DEADLINE_DATA,      /* the rest of a DATA line, from its first octet: data_timeout */
    SMTP_DEADLINE_DATA_RATE, /* DATA as a whole: min_data_rate */
    SMTP_DEADLINE_TLS,       /* the TLS handshake: tls_handshake_timeout */
    SMTP_DEADLINE_CLOSE,     /* our last reply leaving: command_timeout */
};

/* One mail transaction (RFC 5321 3.3): from MAIL to the end of DATA, or
 * RSET.  It lives inside its connection and is reset for the next one. */
struct smtp_txn {
    struct smtp_mail_args mail;
    struct envelope env;
    unsigned rcpt_count;             /* RCPT commands accepted */
    struct policy_txn policy;        /* what the policy engine keeps of it */
    struct policy_store_facts facts; /* the store's word on the sender, read at MAIL */
    struct data_reader data;
    struct spool spool;
    const char **rcpt_list; /* the envelope's addresses, then the distinct RCPT TO
                               addresses, for the engine's hooks */
    bool *rcpt_orig_local;  /* of each RCPT TO address: it is ours (local or an alias) */
    char from_name[256];    /* From:'s display name (core/header_scan) */
    /* what tells a bounce (core/header_scan): the report-type of a
     * multipart/report, the Auto-Submitted keyword, X-Failed-Recipients */
    char report_type[32];
    char auto_submitted[32];
    bool failed_recipients;
    struct inbound_facts inbound; /* the inbound checks' findings (policy/inbound.h) */
    /* the header as DATA streams in, for the inbound checks: fields they
     * must see that lie past the part kept in memory (core/header_watch) */
    struct header_watch hwatch;
};

/* One connection. */
struct smtp_session {
    struct smtp_server *srv;
    const struct config *cfg;
    const struct listener_config *lc;
    struct bufferevent *bev;
    /* Replies of a plain-TCP session wait here, not in the bufferevent's
     * output: FLUSH (an event with no descriptor, made active by
     * smtp_reply) writes them with one writev at the end of the loop's
     * turn, so a reply costs no epoll_ctl and no extra wake-up for
     * EPOLLOUT.  What the socket does not take at once goes to the
     * bufferevent, which writes it when the socket drains.  NULL for TLS
     * (the TLS bufferevent does the writing). */
    struct evbuffer *out;
    struct event *flush;
    /* A plain-TCP session reads its socket itself (session_sock_read_cb),
     * into the bufferevent's input: libevent's own read asks the kernel
     * how much is waiting (ioctl FIONREAD) before every read and takes at
     * most 4 KB at a time.  NULL under TLS (the bufferevents read). */
    struct event *rd;
    struct smtp_session *next, *prev; /* srv->sessions */
    unsigned long serial;             /* session number for log lines */

    struct origin origin;      /* who is sending: IP, TLS, AUTH user, HELO */
    bool policy_counted;       /* accepted by policy_connect: tell policy_disconnect */
    struct event *greet_timer; /* client_limits.greeting_delay */
    unsigned greet_pending;    /* waits before the 220 (client_checks.c) */

    enum smtp_state state;
    enum smtp_wait wait;
    /* What the session is at, for the refusal counts (smtp/reply.c):
     * "connect", "helo", "auth", "mail", "rcpt", "data", "end_of_data",
     * "other" (a static string). */
    const char *stage;
    struct timespec data_ended; /* the end of DATA: acceptance latency */
    bool esmtp;
    unsigned errors;
    bool skipping; /* discarding the rest of an over-long line */
    bool closing;
    /* The client is gone (an error on its socket, or an EOF before the
     * greeting or while closing): nothing more is written. */
    bool peer_gone;
    /* EOF seen while waiting: the client sends nothing more, but what it
     * sent before is still answered, in order, when the wait ends (as
     * before, when a waiting session read nothing and saw the EOF only
     * afterwards); then the session closes. */
    bool peer_eof;
    bool input_full;      /* reading turned off while waiting: SMTP_INPUT_MAX reached */
    bool draining;        /* closed: freed once the last reply is written */
    unsigned close_polls; /* waits for the TLS stream to drain */
    /* The engine ended the session while it waited for an answer: its
     * 421 goes out when the wait ends. */
    char end_text[POLICY_THEN_MAX];

    /* The one timer of the session, re-armed as its deadline moves (never
     * one per read): monotonic milliseconds, 0 = none. */
    struct event *timer;
    enum smtp_deadline deadline_why;
    uint64_t deadline;     /* when the session is closed unless it progressed */
    uint64_t timer_at;     /* when the timer fires; at or before deadline */
    uint64_t record_start; /* first octet of the unfinished command or DATA line */
    uint64_t data_allowed; /* DATA: the time its octets have earned so far */

    /* AUTH exchange in progress */
    enum auth_step auth_step;
    char auth_login_user[AUTH_TEXT_MAX];

    struct smtp_txn txn;        /* the current transaction */
    struct smtp_lookup *lookup; /* the store read it waits for (SMTP_WAIT_LOOKUP) */
};

/* lookup.c - store reads off the loop.  WORK runs on a lookup thread with
 * that thread's connection (NULL when the store cannot be opened) and
 * touches nothing but ARG; DONE runs on the loop with the session, which
 * meanwhile ran no command; FREE_ARG(ARG) after DONE, or when the job
 * comes back to a session that is gone. */
struct smtp_lookup;
typedef void (*smtp_lookup_work_fn)(store_db *db, void *arg);
typedef void (*smtp_lookup_done_fn)(struct smtp_session *s, void *arg);
void smtp_lookup_start(struct smtp_session *s, smtp_lookup_work_fn work, smtp_lookup_done_fn done,
                       void (*free_arg)(void *arg), void *arg);
/* smtp_lookup_start_checks - the same on the inbound checks' threads
 * (srv->checks): for a job that waits on the DNS (policy/inbound.h). */
void smtp_lookup_start_checks(struct smtp_session *s, smtp_lookup_work_fn work,
                              smtp_lookup_done_fn done, void (*free_arg)(void *arg), void *arg);
/* smtp_lookup_cancel - S ends while its lookup runs: the answer will find
 * no session.  S waits for nothing afterwards. */
void smtp_lookup_cancel(struct smtp_session *s);

/* reply.c */
void smtp_reply(struct smtp_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* smtp_reply_why - smtp_reply, a refusal counted with REASON (a word from
 * a small fixed set) rather than the word for its code. */
void smtp_reply_why(struct smtp_session *s, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* smtp_reply_declare_metrics - the refusal counters, once at start. */
void smtp_reply_declare_metrics(void);
/* smtp_reply_store_fault - the 4xx for a store that failed with FAULT (an
 * enum store_fault): 452 4.3.1 when it is full, 451 4.3.0 otherwise. */
void smtp_reply_store_fault(struct smtp_session *s, int fault);
/* smtp_reply_decision - write the engine's reply D (its text, then its
 * second line); a DISCONNECT closes the session.  True when D accepts. */
bool smtp_reply_decision(struct smtp_session *s, const struct policy_decision *d);

/* session.c */
void smtp_session_close(struct smtp_session *s);
/* smtp_session_output - where a reply goes now (plain TCP: the session's
 * own buffer, flushed at the end of the loop's turn). */
struct evbuffer *smtp_session_output(struct smtp_session *s);
/* smtp_session_reading - turn the reading of the client's input on or
 * off (our own read event for plain TCP, the bufferevent's under TLS). */
void smtp_session_reading(struct smtp_session *s, bool on);
/* smtp_session_flush - write the replies waiting in the session's buffer
 * now; what the socket does not take goes to the bufferevent. */
void smtp_session_flush(struct smtp_session *s);
void smtp_session_resume(struct smtp_session *s);
void smtp_session_reset_transaction(struct smtp_session *s);
/* smtp_session_wait_deadline - S starts waiting for its own lookup: it has
 * command_timeout from now, however long its client was idle before. */
void smtp_session_wait_deadline(struct smtp_session *s);
void smtp_session_begin_data(struct smtp_session *s);
void smtp_session_starttls(struct smtp_session *s);
/* smtp_session_note_failure - a failed AUTH (WHAT "auth") or a refused
 * command counts toward banning the client IP (anti-hammering). */
void smtp_session_note_failure(struct smtp_session *s, const char *what);

/* commands.c */
void smtp_mail_accept(struct smtp_session *s); /* MAIL passed its checks: policy, limits, 250 */
void smtp_commands_dispatch(struct smtp_session *s, const char *line, size_t len);
void smtp_commands_ehlo_reply(struct smtp_session *s);
bool smtp_auth_offered(const struct smtp_session *s);

/* auth.c */
void smtp_auth_drop_ip(struct smtp_server *srv, const char *ip);
void smtp_auth_drop_all(struct smtp_server *srv); /* shutdown: logins not checked yet */
void smtp_auth_start(struct smtp_session *s, const char *args, size_t len);
void smtp_auth_continue(struct smtp_session *s, const char *line, size_t len);
/* smtp_auth_refuse - a response line that cannot be used (ST says why,
 * also for a line the session refused: too long, bare LF): the exchange
 * ends with RFC 4954's reply and counts as one failed login. */
void smtp_auth_refuse(struct smtp_session *s, enum auth_decode_status st);

#endif
