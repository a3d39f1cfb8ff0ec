/* tests/fuzz/fuzz_command - room: tests.  libFuzzer target for
 * smtp/command: split a line, then read its arguments as MAIL and as RCPT
 * (with and without SMTPUTF8), as the session would. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/command.h"

/* check_mailbox - a parsed mailbox is terminated and within its limits. */
static void check_mailbox(const struct mailbox *mb)
{
    char text[ADDRESS_TEXT_MAX];
    if (strlen(mb->local) > ADDRESS_LOCAL_MAX || strlen(mb->domain) > ADDRESS_DOMAIN_MAX)
        abort();
    address_format(mb, text, sizeof(text));
}

/* LLVMFuzzerTestOneInput - DATA is one command line without CR LF. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *line = (const char *)data;
    struct smtp_command cmd;
    struct smtp_mail_args mail;
    struct smtp_rcpt_args rcpt;
    enum address_status ast;

    smtp_command_split(line, size, &cmd);
    if (cmd.args < line || cmd.args + cmd.args_len > line + size ||
        smtp_verb_name(cmd.verb) == NULL)
        abort();
    if (smtp_parse_mail(cmd.args, cmd.args_len, &mail, &ast) == SMTP_PARAM_OK) {
        check_mailbox(&mail.from);
        if (mail.from.utf8 && !mail.smtputf8)
            abort();
    }
    for (int utf8 = 0; utf8 < 2; utf8++) {
        if (smtp_parse_rcpt(cmd.args, cmd.args_len, utf8, &rcpt, &ast) == SMTP_PARAM_OK) {
            check_mailbox(&rcpt.to);
            if (rcpt.to.null_path || (rcpt.to.utf8 && !utf8))
                abort();
        }
    }
    return 0;
}
