/* smtp/command - room: smtp (parser).  Splits a command line into its verb
 * and arguments, and reads the arguments of MAIL and RCPT with their
 * ESMTP parameters (RFC 5321 4.1.1, 4.1.2; SIZE RFC 1870, BODY RFC 6152,
 * SMTPUTF8 RFC 6531).  Pure functions over the caller's buffer. */
#include "smtp/command.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"

/* The verbs by name, indexed by enum smtp_verb. */
static const char *const verb_names[SMTP_VERB_COUNT] = {
    [SMTP_VERB_UNKNOWN] = "UNKNOWN",   [SMTP_VERB_HELO] = "HELO", [SMTP_VERB_EHLO] = "EHLO",
    [SMTP_VERB_MAIL] = "MAIL",         [SMTP_VERB_RCPT] = "RCPT", [SMTP_VERB_DATA] = "DATA",
    [SMTP_VERB_RSET] = "RSET",         [SMTP_VERB_NOOP] = "NOOP", [SMTP_VERB_QUIT] = "QUIT",
    [SMTP_VERB_HELP] = "HELP",         [SMTP_VERB_VRFY] = "VRFY", [SMTP_VERB_EXPN] = "EXPN",
    [SMTP_VERB_STARTTLS] = "STARTTLS", [SMTP_VERB_AUTH] = "AUTH",
};

/* is_alpha - ASCII letter, whatever the locale. */
static bool is_alpha(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* is_alnum - ASCII letter or digit. */
static bool is_alnum(char ch)
{
    return is_alpha(ch) || (ch >= '0' && ch <= '9');
}

/* verb_lookup - the verb spelled by the N letters at S, any case
 * (RFC 5321 2.4: verbs are case-insensitive). */
static enum smtp_verb verb_lookup(const char *s, size_t n)
{
    for (int v = SMTP_VERB_UNKNOWN + 1; v < SMTP_VERB_COUNT; v++) {
        if (strlen(verb_names[v]) == n && strncasecmp(s, verb_names[v], n) == 0)
            return (enum smtp_verb)v;
    }
    return SMTP_VERB_UNKNOWN;
}

/* smtp_command_split - the verb is the leading run of letters; it must be
 * followed by a space or the end of the line, else the line is unknown. */
void smtp_command_split(const char *line, size_t len, struct smtp_command *out)
{
    size_t n = 0;
    size_t start;
    size_t end = len;

    while (n < len && is_alpha(line[n]))
        n++;
    out->verb = SMTP_VERB_UNKNOWN;
    out->args = line + len;
    out->args_len = 0;
    if (n == 0 || (n < len && line[n] != ' '))
        return;
    out->verb = verb_lookup(line, n);
    start = n;
    while (start < len && line[start] == ' ')
        start++;
    while (end > start && line[end - 1] == ' ')
        end--;
    out->args = line + start;
    out->args_len = end - start;
}

/* smtp_verb_name - the verb in upper case, for logs. */
const char *smtp_verb_name(enum smtp_verb verb)
{
    if ((int)verb < 0 || verb >= SMTP_VERB_COUNT)
        return "UNKNOWN";
    return verb_names[verb];
}

/* One "KEY[=VALUE]" parameter, pointing into the arguments. */
struct esmtp_param {
    const char *key;
    size_t key_len;
    const char *value; /* NULL when there was no '=' */
    size_t value_len;
};

/* is_value_char - esmtp-value = 1*(%d33-60 / %d62-126) (RFC 5321 4.1.2);
 * RFC 6531 3.3 adds UTF-8, taken here as any octet >= 0x80. */
static bool is_value_char(char ch)
{
    unsigned char u = (unsigned char)ch;
    return (u >= 33 && u <= 126 && u != '=') || u >= 0x80;
}

/* next_param - read the parameter at *POS, which follows a space; false
 * when it breaks esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"). */
static bool next_param(const char *s, size_t len, size_t *pos, struct esmtp_param *p)
{
    size_t i = *pos;
    p->key = s + i;
    if (i >= len || !is_alnum(s[i]))
        return false;
    while (i < len && (is_alnum(s[i]) || s[i] == '-'))
        i++;
    p->key_len = (size_t)(s + i - p->key);
    p->value = NULL;
    p->value_len = 0;
    if (i < len && s[i] == '=') {
        p->value = s + ++i;
        while (i < len && is_value_char(s[i]))
            i++;
        p->value_len = (size_t)(s + i - p->value);
        if (p->value_len == 0)
            return false;
    }
    if (i < len && s[i] != ' ')
        return false;
    *pos = i;
    return true;
}

/* key_is - the parameter's keyword is NAME, any case. */
static bool key_is(const struct esmtp_param *p, const char *name)
{
    return p->key_len == strlen(name) && strncasecmp(p->key, name, p->key_len) == 0;
}

/* value_is - the parameter's value is NAME, any case. */
static bool value_is(const struct esmtp_param *p, const char *name)
{
    return p->value_len == strlen(name) && strncasecmp(p->value, name, p->value_len) == 0;
}

/* Which MAIL parameters were seen, to refuse duplicates. */
enum { SEEN_SIZE = 1, SEEN_BODY = 2, SEEN_UTF8 = 4, SEEN_AUTH = 8 };

/* mail_param_size - SIZE=n (RFC 1870 3): digits only, parsed bounded. */
static enum smtp_param_status mail_param_size(const struct esmtp_param *p,
                                              struct smtp_mail_args *out)
{
    uint64_t v;
    if (p->value == NULL || parse_u64(p->value, p->value_len, &v) != 0)
        return SMTP_PARAM_SYNTAX;
    out->size = v > SIZE_MAX ? SIZE_MAX : (size_t)v;
    return SMTP_PARAM_OK;
}

/* mail_param_body - BODY=7BIT|8BITMIME (RFC 6152 2).  BINARYMIME needs
 * CHUNKING, which is not offered, so it is a bad value here. */
static enum smtp_param_status mail_param_body(const struct esmtp_param *p,
                                              struct smtp_mail_args *out)
{
    if (p->value != NULL && value_is(p, "7BIT"))
        out->body = SMTP_BODY_7BIT;
    else if (p->value != NULL && value_is(p, "8BITMIME"))
        out->body = SMTP_BODY_8BITMIME;
    else
        return SMTP_PARAM_SYNTAX;
    return SMTP_PARAM_OK;
}

/* mail_param - apply one MAIL parameter; SEEN catches repeats. */
static enum smtp_param_status mail_param(const struct esmtp_param *p, unsigned *seen,
                                         struct smtp_mail_args *out)
{
    unsigned bit;
    if (key_is(p, "SIZE"))
        bit = SEEN_SIZE;
    else if (key_is(p, "BODY"))
        bit = SEEN_BODY;
    else if (key_is(p, "SMTPUTF8"))
        bit = SEEN_UTF8;
    else if (key_is(p, "AUTH"))
        bit = SEEN_AUTH;
    else
        return SMTP_PARAM_UNKNOWN; /* RFC 5321 4.1.1.11: 555 */
    if (*seen & bit)
        return SMTP_PARAM_SYNTAX;
    *seen |= bit;
    if (bit == SEEN_SIZE)
        return mail_param_size(p, out);
    if (bit == SEEN_BODY)
        return mail_param_body(p, out);
    /* RFC 4954 5: a server offering AUTH accepts AUTH=<mailbox> on MAIL.
     * We never trust a client's claim of who submitted the message, so the
     * value is checked for presence and otherwise ignored. */
    if (bit == SEEN_AUTH)
        return p->value != NULL && p->value_len > 0 ? SMTP_PARAM_OK : SMTP_PARAM_SYNTAX;
    if (p->value != NULL) /* RFC 6531 3.4: SMTPUTF8 takes no value */
        return SMTP_PARAM_SYNTAX;
    out->smtputf8 = true;
    return SMTP_PARAM_OK;
}

/* params_start - after the path only the end or a space may follow. */
static bool params_start(const char *s, size_t len, size_t pos)
{
    return pos == len || s[pos] == ' ';
}

/* skip_spaces - step over a run of spaces; tolerated between parameters. */
static size_t skip_spaces(const char *s, size_t len, size_t pos)
{
    while (pos < len && s[pos] == ' ')
        pos++;
    return pos;
}

/* mail_params - the Mail-parameters after the path, from POS. */
static enum smtp_param_status mail_params(const char *s, size_t len, size_t pos,
                                          struct smtp_mail_args *out)
{
    unsigned seen = 0;
    if (!params_start(s, len, pos))
        return SMTP_PARAM_SYNTAX;
    for (pos = skip_spaces(s, len, pos); pos < len; pos = skip_spaces(s, len, pos)) {
        struct esmtp_param p;
        enum smtp_param_status st;
        if (!next_param(s, len, &pos, &p))
            return SMTP_PARAM_SYNTAX;
        st = mail_param(&p, &seen, out);
        if (st != SMTP_PARAM_OK)
            return st;
    }
    return SMTP_PARAM_OK;
}

/* path_offset - where the path begins after the "FROM:"/"TO:" PREFIX (any
 * case), allowing one space after the colon as many clients send it.
 * Returns 0 when the prefix is missing. */
static size_t path_offset(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    if (len < n || strncasecmp(s, prefix, n) != 0)
        return 0;
    if (n < len && s[n] == ' ')
        n++;
    return n;
}

/* smtp_parse_mail - the path is read with UTF-8 allowed first, since the
 * SMTPUTF8 parameter that permits it comes after the path; the allowance
 * is enforced once the parameters are known. */
enum smtp_param_status smtp_parse_mail(const char *args, size_t len, struct smtp_mail_args *out,
                                       enum address_status *addr_status)
{
    size_t pos = path_offset(args, len, "FROM:");
    size_t used = 0;
    enum smtp_param_status st;

    memset(out, 0, sizeof(*out));
    *addr_status = ADDRESS_OK;
    if (pos == 0)
        return SMTP_PARAM_SYNTAX;
    *addr_status = address_parse_path(args + pos, len - pos, true, true, &out->from, &used);
    if (*addr_status != ADDRESS_OK)
        return SMTP_PARAM_ADDRESS;
    st = mail_params(args, len, pos + used, out);
    if (st != SMTP_PARAM_OK)
        return st;
    if (out->from.utf8 && !out->smtputf8) {
        *addr_status = ADDRESS_NEEDS_UTF8; /* RFC 6531 3.4 */
        memset(&out->from, 0, sizeof(out->from));
        return SMTP_PARAM_ADDRESS;
    }
    return SMTP_PARAM_OK;
}

/* rcpt_params - RCPT parameters: none are supported, so any well-formed one
 * is unknown (555) and a malformed one is a syntax error (501). */
static enum smtp_param_status rcpt_params(const char *s, size_t len, size_t pos)
{
    struct esmtp_param p;
    if (!params_start(s, len, pos))
        return SMTP_PARAM_SYNTAX;
    pos = skip_spaces(s, len, pos);
    if (pos == len)
        return SMTP_PARAM_OK;
    if (!next_param(s, len, &pos, &p))
        return SMTP_PARAM_SYNTAX;
    return SMTP_PARAM_UNKNOWN;
}

/* smtp_parse_rcpt - "TO:" Forward-path [SP Rcpt-parameters]; the null
 * path is never a recipient (RFC 5321 4.1.1.3). */
enum smtp_param_status smtp_parse_rcpt(const char *args, size_t len, bool utf8,
                                       struct smtp_rcpt_args *out, enum address_status *addr_status)
{
    size_t pos = path_offset(args, len, "TO:");
    size_t used = 0;
    enum smtp_param_status st;

    memset(out, 0, sizeof(*out));
    *addr_status = ADDRESS_OK;
    if (pos == 0)
        return SMTP_PARAM_SYNTAX;
    *addr_status = address_parse_path(args + pos, len - pos, false, utf8, &out->to, &used);
    if (*addr_status != ADDRESS_OK)
        return SMTP_PARAM_ADDRESS;
    st = rcpt_params(args, len, pos + used);
    if (st != SMTP_PARAM_OK)
        memset(&out->to, 0, sizeof(out->to));
    return st;
}
