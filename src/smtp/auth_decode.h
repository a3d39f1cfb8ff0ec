/* smtp/auth_decode - the client's side of an SMTP AUTH exchange (RFC 4954 4)
 * read without a session: one response line, base64 (RFC 4648 4) decoded
 * and checked against what the mechanism expects at this step, PLAIN
 * (RFC 4616 2) or LOGIN.  Pure and bounded, so that a fuzz target can call
 * it (tests/fuzz/fuzz_auth.c) and the session only acts on the verdict. */
#ifndef FLOODGATE_SMTP_AUTH_DECODE_H
#define FLOODGATE_SMTP_AUTH_DECODE_H

#include <stddef.h>

#include "smtp/command.h"

/* Where an exchange is: the response it waits for. */
enum auth_step { AUTH_STEP_PLAIN, AUTH_STEP_LOGIN_USER, AUTH_STEP_LOGIN_PASS };

/* The longest user name or LOGIN text taken, with its NUL. */
#define AUTH_TEXT_MAX 256

enum auth_decode_status {
    AUTH_DECODE_OK,
    AUTH_DECODE_CANCELLED,  /* "*": the client ends the exchange (RFC 4954 4) */
    AUTH_DECODE_TOO_LONG,   /* over SMTP_AUTH_LINE_MAX (RFC 4954 4) */
    AUTH_DECODE_BAD_BASE64, /* not base64 */
    AUTH_DECODE_MALFORMED,  /* base64, but not what the mechanism expects */
    AUTH_DECODE_NO_MEMORY,
};

/* What a response says.  TEXT is the decoded octets (NUL-terminated, owned,
 * cleared by auth_response_clear); USER and PASSWORD point into it. */
struct auth_response {
    char *text;
    size_t len;
    const char *authzid;  /* PLAIN: the identity to act as, "" for none */
    const char *user;     /* PLAIN: authcid; LOGIN user step: the name */
    const char *password; /* PLAIN: passwd; LOGIN password step */
};

/* auth_decode_response - read the response LINE (LEN octets, no CR LF) to
 * the challenge of STEP into *OUT.  Only with AUTH_DECODE_OK does *OUT hold
 * anything (and must then be cleared). */
enum auth_decode_status auth_decode_response(enum auth_step step, const char *line, size_t len,
                                             struct auth_response *out);

/* auth_response_clear - wipe the decoded secret and free it. */
void auth_response_clear(struct auth_response *r);

/* auth_decode_status_name - a log word for STATUS ("cancelled", ...). */
const char *auth_decode_status_name(enum auth_decode_status status);

#endif
