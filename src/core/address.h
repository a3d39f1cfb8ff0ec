/* core/address - strict RFC 5321 4.1.2 parser for reverse-path and
 * forward-path.  Knows no sockets and no policy; it reports what it saw so
 * that policy can refuse routes, literals and other relay tricks. */
#ifndef FLOODGATE_CORE_ADDRESS_H
#define FLOODGATE_CORE_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>

#define ADDRESS_LOCAL_MAX 64   /* RFC 5321 4.5.3.1.1 */
#define ADDRESS_DOMAIN_MAX 255 /* RFC 5321 4.5.3.1.2 */
#define ADDRESS_PATH_MAX 256   /* RFC 5321 4.5.3.1.3, with the brackets */
/* A buffer this big always holds address_format's text, even a local part
 * that needs quoting with every octet escaped. */
#define ADDRESS_TEXT_MAX (2 * ADDRESS_LOCAL_MAX + 2 + 1 + ADDRESS_DOMAIN_MAX + 1)

struct mailbox {
    char local[ADDRESS_LOCAL_MAX + 1];   /* as sent, quotes removed */
    char domain[ADDRESS_DOMAIN_MAX + 1]; /* lowercased (ASCII); "" for <> */
    bool null_path;                      /* "<>" */
    bool quoted_local;                   /* local part was a quoted-string */
    bool literal;                        /* domain was an address literal [1.2.3.4] */
    bool utf8;                           /* non-ASCII octets present (needs SMTPUTF8) */
};

enum address_status {
    ADDRESS_OK = 0,
    ADDRESS_SYNTAX,       /* not a valid path */
    ADDRESS_TOO_LONG,     /* a part over its RFC 5321 limit */
    ADDRESS_SOURCE_ROUTE, /* "<@a,@b:user@c>": refused, never a relay path */
    ADDRESS_NEEDS_UTF8,   /* non-ASCII without SMTPUTF8 */
};

/* address_parse_path - parse a "<...>" path at the start of S (LEN octets).
 * ALLOW_NULL admits "<>" (reverse-path).  ALLOW_UTF8 admits UTF-8 octets
 * (RFC 6531).  *CONSUMED gets the octets used, up to and including '>'. */
enum address_status address_parse_path(const char *s, size_t len, bool allow_null, bool allow_utf8,
                                       struct mailbox *out, size_t *consumed);

/* address_format - "local@domain" (or "" for the null path) into BUF;
 * the local part is re-quoted if it needs quotes.  Returns BUF. */
char *address_format(const struct mailbox *mb, char *buf, size_t len);

/* address_status_text - a short human reason for a status. */
const char *address_status_text(enum address_status st);

#endif
