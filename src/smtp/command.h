/* smtp/command - split an SMTP command line into verb and arguments, and
 * parse the MAIL/RCPT parameters.  Pure functions over a buffer. */
#ifndef FLOODGATE_SMTP_COMMAND_H
#define FLOODGATE_SMTP_COMMAND_H

#include <stdbool.h>
#include <stddef.h>

#include "core/address.h"

#define SMTP_LINE_MAX 512        /* RFC 5321 4.5.3.1.4, with CRLF */
#define SMTP_AUTH_LINE_MAX 12288 /* RFC 4954 4 */

enum smtp_verb {
    SMTP_VERB_UNKNOWN = 0,
    SMTP_VERB_HELO,
    SMTP_VERB_EHLO,
    SMTP_VERB_MAIL,
    SMTP_VERB_RCPT,
    SMTP_VERB_DATA,
    SMTP_VERB_RSET,
    SMTP_VERB_NOOP,
    SMTP_VERB_QUIT,
    SMTP_VERB_HELP,
    SMTP_VERB_VRFY,
    SMTP_VERB_EXPN,
    SMTP_VERB_STARTTLS,
    SMTP_VERB_AUTH,
    SMTP_VERB_COUNT
};

struct smtp_command {
    enum smtp_verb verb;
    const char *args; /* after the verb and one space; points into the line */
    size_t args_len;  /* trailing spaces trimmed */
};

/* smtp_command_split - find the verb (case-insensitive) of LINE, which has no
 * CR LF.  Unknown verbs give SMTP_VERB_UNKNOWN.  Never fails otherwise. */
void smtp_command_split(const char *line, size_t len, struct smtp_command *out);

const char *smtp_verb_name(enum smtp_verb verb);

enum smtp_body_type { SMTP_BODY_7BIT, SMTP_BODY_8BITMIME };

struct smtp_mail_args {
    struct mailbox from;
    size_t size; /* SIZE=, 0 when absent */
    enum smtp_body_type body;
    bool smtputf8;
};

struct smtp_rcpt_args {
    struct mailbox to;
};

enum smtp_param_status {
    SMTP_PARAM_OK = 0,
    SMTP_PARAM_SYNTAX,  /* 501 5.5.4: no "FROM:"/"TO:", bad path, bad parameter value */
    SMTP_PARAM_UNKNOWN, /* 555 5.5.4: parameter not recognised (RFC 5321 4.1.1.11) */
    SMTP_PARAM_ADDRESS, /* 553 5.1.3 or 501: address problem, see addr_status */
};

/* smtp_parse_mail - parse the arguments of MAIL: "FROM:<path> [SIZE=n]
 * [BODY=7BIT|8BITMIME] [SMTPUTF8]".  A space after the colon is tolerated. */
enum smtp_param_status smtp_parse_mail(const char *args, size_t len, struct smtp_mail_args *out,
                                       enum address_status *addr_status);

/* smtp_parse_rcpt - parse "TO:<path>"; UTF8 says SMTPUTF8 was given on MAIL. */
enum smtp_param_status smtp_parse_rcpt(const char *args, size_t len, bool utf8,
                                       struct smtp_rcpt_args *out,
                                       enum address_status *addr_status);

#endif
