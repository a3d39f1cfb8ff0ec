/* core/checkpassword - the checkpassword interface's input (the qmail
 * convention Dovecot's passdb checkpassword speaks): on file descriptor 3
 * the program reads at most CHECKPASSWORD_MAX octets, "user\0password\0"
 * followed by a timestamp and \0 (ignored here).  Pure: the caller reads. */
#ifndef FLOODGATE_CORE_CHECKPASSWORD_H
#define FLOODGATE_CORE_CHECKPASSWORD_H

#include <stddef.h>

#define CHECKPASSWORD_MAX 512 /* the convention's limit of the whole input */

/* checkpassword_parse - split BUF (LEN octets, LEN <= CHECKPASSWORD_MAX,
 * not NUL-terminated) into *USER and *PASSWORD, pointing into BUF: both
 * end at their \0.  -1 when the input is longer than the limit, lacks
 * either \0, or has an empty user. */
int checkpassword_parse(const char *buf, size_t len, const char **user, const char **password);

#endif
