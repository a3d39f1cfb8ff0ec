/* smtp/reply - write one reply to the client.  Replies are buffered
 * (smtp_session_output) and written once the loop has run the callbacks
 * of its turn, so a pipelined batch of commands gets its replies in one
 * write. */
#include <stdarg.h>
#include <stdio.h>

#include <event2/buffer.h>

#include "core/log.h"
#include "core/metrics.h"
#include "store/committer.h"
#include "smtp/session_internal.h"

void smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 2, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof line - 3)
        n = (int)sizeof line - 3;
    /* Every 5xx counts toward max_errors (a client stuck in errors is a
     * client probing us). */
    if (line[0] == '5')
        s->errors++;
    if (line[0] == '4' || line[0] == '5') {
        static bool declared; /* on the loop only */
        if (!declared)
            declared = metrics_declare("floodgate_smtp_refusals_total", METRIC_COUNTER,
                                       "SMTP replies that refused a command (4xx, 5xx), by "
                                       "class: what floodctl monitor shows as rejected.") == 0;
        metrics_add("floodgate_smtp_refusals_total", 1, "class", line[0] == '5' ? "5xx" : "4xx",
                    NULL);
        log_info("event=reject session=%lu ip=%s reply=%s", s->serial, s->origin.ip,
                 log_quote(line));
    }
    line[n++] = '\r';
    line[n++] = '\n';
    evbuffer_add(smtp_session_output(s), line, (size_t)n);
}

/* smtp_reply_store_fault - RFC 5321 4.2.3 and RFC 3463: 452 with X.3.1
 * ("mail system full") only when the disk is full; a store that is locked,
 * corrupt or failing is a "local error in processing", 451 with X.3.0.
 * Both are temporary: the client keeps the message and tries again. */
void smtp_reply_store_fault(struct smtp_session *s, int fault)
{
    if (fault == STORE_FAULT_FULL)
        smtp_reply(s, "452 4.3.1 Insufficient system storage, try again later");
    else
        smtp_reply(s, "451 4.3.0 Local error in processing (message store unavailable), "
                      "try again later");
}

/* smtp_reply_decision - the engine's answer, as it wrote it. */
bool smtp_reply_decision(struct smtp_session *s, const struct policy_decision *d)
{
    if (d->text[0])
        smtp_reply(s, "%s", d->text);
    if (d->then[0])
        smtp_reply(s, "%s", d->then);
    if (d->action == POLICY_DISCONNECT)
        smtp_session_close(s);
    return d->action == POLICY_ACCEPT || d->action == POLICY_HOLD;
}
