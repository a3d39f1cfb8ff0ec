/* smtp/reply - write one reply to the client, and count each refusal.
 * Replies are buffered (smtp_session_output) and written once the loop
 * has run the callbacks of its turn, so a pipelined batch of commands
 * gets its replies in one write.
 *
 * Every 4xx and 5xx a client gets is counted here, and only here, in
 * floodgate_messages_rejected_total{stage,reason}: the stage is what the
 * session was doing (smtp_session_stage), the reason the policy engine's
 * word (policy_decision.reason) when the refusal is its decision, else a
 * word for the reply code (RFC 3463 enhanced codes), so that a check
 * added to the engine is counted without a line here. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "core/log.h"
#include "core/metrics.h"
#include "store/committer.h"
#include "smtp/session_internal.h"

#define REJECTED "floodgate_messages_rejected_total"
#define REFUSALS "floodgate_smtp_refusals_total"

/* The reason of a refusal the engine did not decide, by the start of
 * its reply: the first entry that is a prefix of the line wins, so the
 * longer (enhanced code) entries come before the plain codes. */
static const struct {
    const char *prefix, *reason;
} code_reasons[] = {
    {"421 4.4.2", "timeout"},
    {"421 4.3.2", "unavailable"}, /* shutting down, or paused by the admin */
    {"421 4.7.0", "too_many_errors"},
    {"451 4.3.0", "local_error"},
    {"452 4.3.1", "storage_full"},
    {"454 4.7.0", "temporary_failure"},
    {"550 5.4.6", "alias_loop"},
    {"550 5.5.3", "too_many_recipients"},
    {"452 4.5.3", "too_many_recipients"},
    {"554 5.5.0", "early_talker"},
    {"554 5.6.0", "bad_content"},
    {"500 5.5.6", "syntax"},
    {"500", "syntax"},
    {"501", "syntax"},
    {"555", "syntax"},
    {"502", "not_available"},
    {"503", "bad_sequence"},
    {"530", "auth_required"},
    {"538", "encryption_required"},
    {"552", "too_big"},
    {"553", "bad_address"},
};

/* code_reason - the reason word for a refusal LINE nobody named. */
static const char *code_reason(const char *line)
{
    for (size_t i = 0; i < sizeof code_reasons / sizeof code_reasons[0]; i++)
        if (strncmp(line, code_reasons[i].prefix, strlen(code_reasons[i].prefix)) == 0)
            return code_reasons[i].reason;
    return "other";
}

void smtp_reply_declare_metrics(void)
{
    metrics_declare(REJECTED, METRIC_COUNTER,
                    "SMTP commands and messages refused (4xx, 5xx), by stage (connect, helo, "
                    "auth, mail, rcpt, data, end_of_data, other) and reason.");
    metrics_declare(REFUSALS, METRIC_COUNTER,
                    "SMTP replies that refused a command (4xx, 5xx), by class: what floodctl "
                    "monitor shows as rejected.");
}

/* reply_line - LINE as it is; a refusal is counted with REASON (NULL:
 * by its code) unless COUNT is false (the second line of a decision). */
static void reply_line(struct smtp_session *s, const char *reason, bool count, const char *fmt,
                       va_list ap)
{
    char line[1024];
    int n = vsnprintf(line, sizeof line - 2, fmt, ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof line - 3)
        n = (int)sizeof line - 3;
    /* Every 5xx counts toward max_errors (a client stuck in errors is a
     * client probing us). */
    if (line[0] == '5')
        s->errors++;
    if (line[0] == '4' || line[0] == '5') {
        if (count) {
            metrics_add(REFUSALS, 1, "class", line[0] == '5' ? "5xx" : "4xx", NULL);
            metrics_add(REJECTED, 1, "stage", s->stage ? s->stage : "other", "reason",
                        reason && reason[0] ? reason : code_reason(line), NULL);
        }
        log_info("event=reject session=%lu ip=%s reply=%s", s->serial, s->origin.ip,
                 log_quote(line));
    }
    line[n++] = '\r';
    line[n++] = '\n';
    evbuffer_add(smtp_session_output(s), line, (size_t)n);
}

/* reply_counted - reply_line with its arguments. */
static void reply_counted(struct smtp_session *s, const char *reason, bool count, const char *fmt,
                          ...) __attribute__((format(printf, 4, 5)));
static void reply_counted(struct smtp_session *s, const char *reason, bool count, const char *fmt,
                          ...)
{
    va_list ap;
    va_start(ap, fmt);
    reply_line(s, reason, count, fmt, ap);
    va_end(ap);
}

void smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    reply_line(s, NULL, true, fmt, ap);
    va_end(ap);
}

void smtp_reply_why(struct smtp_session *s, const char *reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    reply_line(s, reason, true, fmt, ap);
    va_end(ap);
}

/* smtp_reply_store_fault - RFC 5321 4.2.3 and RFC 3463: 452 with X.3.1
 * ("mail system full") only when the disk is full; a store that is locked,
 * corrupt or failing is a "local error in processing", 451 with X.3.0.
 * Both are temporary: the client keeps the message and tries again. */
void smtp_reply_store_fault(struct smtp_session *s, int fault)
{
    if (fault == STORE_FAULT_FULL)
        smtp_reply_why(s, "storage_full", "452 4.3.1 Insufficient system storage, try again later");
    else
        smtp_reply_why(s, "store_unavailable",
                       "451 4.3.0 Local error in processing (message store unavailable), "
                       "try again later");
}

/* smtp_reply_decision - the engine's answer, as it wrote it: a refusal
 * counted once, with the engine's reason. */
bool smtp_reply_decision(struct smtp_session *s, const struct policy_decision *d)
{
    if (d->text[0])
        reply_counted(s, d->reason, true, "%s", d->text);
    if (d->then[0]) /* the 421 that closes after a refusal: the same refusal */
        reply_counted(s, d->reason, d->text[0] == '\0', "%s", d->then);
    if (d->action == POLICY_DISCONNECT)
        smtp_session_close(s);
    return d->action == POLICY_ACCEPT || d->action == POLICY_HOLD;
}
