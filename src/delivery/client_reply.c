/* delivery/client_reply - parse remote SMTP replies line by line. */
#include "delivery/client_reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool keyword_is(const char *s, size_t len, const char *kw)
{
    size_t k = strlen(kw);
    return len >= k && strncasecmp(s, kw, k) == 0 && (len == k || s[k] == ' ');
}

/* note_capability - one EHLO keyword line (RFC 5321 4.1.1.1). */
static void note_capability(struct ehlo_caps *c, const char *s, size_t len)
{
    if (keyword_is(s, len, "STARTTLS"))
        c->starttls = true;
    else if (keyword_is(s, len, "PIPELINING"))
        c->pipelining = true;
    else if (keyword_is(s, len, "8BITMIME"))
        c->eightbitmime = true;
    else if (keyword_is(s, len, "SMTPUTF8"))
        c->smtputf8 = true;
    else if (keyword_is(s, len, "SIZE")) {
        c->size = true;
        char num[24] = "";
        if (len > 5 && len - 5 < sizeof num) {
            memcpy(num, s + 5, len - 5);
            c->size_max = strtoul(num, NULL, 10);
        }
    } else if (keyword_is(s, len, "AUTH")) {
        /* "AUTH PLAIN LOGIN ..." - look for the mechanisms we speak */
        for (size_t i = 4; i < len; i++) {
            if (s[i - 1] != ' ')
                continue;
            if (keyword_is(s + i, len - i, "PLAIN"))
                c->auth_plain = true;
            if (keyword_is(s + i, len - i, "LOGIN"))
                c->auth_login = true;
        }
    }
}

static void append_text(struct smtp_reply *r, const char *s, size_t len)
{
    size_t have = strlen(r->text);
    size_t room = sizeof r->text - have - 1;
    if (have && room > 3) {
        memcpy(r->text + have, " / ", 3);
        have += 3;
        room -= 3;
    }
    size_t n = len < room ? len : room;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        r->text[have + i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    r->text[have + n] = '\0';
}

enum reply_status reply_feed_line(struct smtp_reply *r, const char *line, size_t len,
                                  const char **err)
{
    if (len > SMTP_REPLY_LINE_MAX) {
        *err = "reply line too long";
        return REPLY_BAD;
    }
    if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' ||
        line[2] < '0' || line[2] > '9' || (len > 3 && line[3] != ' ' && line[3] != '-')) {
        *err = "malformed reply line";
        return REPLY_BAD;
    }
    int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (r->lines > 0 && code != r->code) {
        *err = "reply code changed inside a multi-line reply";
        return REPLY_BAD;
    }
    if (r->lines >= SMTP_REPLY_LINES_MAX) {
        *err = "multi-line reply too long";
        return REPLY_BAD;
    }
    r->lines++;
    r->code = code;
    const char *text = len > 4 ? line + 4 : "";
    size_t tlen = len > 4 ? len - 4 : 0;
    if (r->lines > 1)
        note_capability(&r->caps, text, tlen);
    /* Keep the code and the first lines of text: enough for a log line or
     * a DSN, never a whole hostile reply. */
    if (r->lines == 1)
        append_text(r, line, len);
    else if (r->lines <= 3)
        append_text(r, text, tlen);
    return len > 3 && line[3] == '-' ? REPLY_MORE : REPLY_DONE;
}

void smtp_dot_stuff(const char *p, size_t n, bool *line_start,
                    void (*emit)(void *arg, const char *piece, size_t len), void *arg)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (*line_start && p[i] == '.') {
            emit(arg, p + start, i - start);
            emit(arg, ".", 1);
            start = i;
        }
        *line_start = p[i] == '\n';
    }
    emit(arg, p + start, n - start);
}
