/* accounts/password_policy - what a new password must be (libpwquality):
 * long enough, of enough character classes, free of the user's and the
 * domain's names (forwards or reversed, any case), and no dictionary word.
 * floodctl asks before it hashes anything. */
#ifndef FLOODGATE_ACCOUNTS_PASSWORD_POLICY_H
#define FLOODGATE_ACCOUNTS_PASSWORD_POLICY_H

#include <stddef.h>

#include "core/config.h"

#define POLICY_WORD_MIN 3 /* shorter parts of a name are not looked for */

/* password_policy_check - 0 when PW may become the password of ADDRESS
 * under P.  Otherwise -1 with MSG set to every problem found and what is
 * required: "password refused: it contains the user name 'alice'; it has
 * 9 characters. Required: ...".  -2 (MSG set) when the check itself
 * failed (out of memory). */
int password_policy_check(const struct config_passwords *p, const char *address, const char *pw,
                          char *msg, size_t msglen);

#endif
