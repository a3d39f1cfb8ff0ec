/* cmd/ctl_users - the user subcommands that live outside ctl_accounts.c:
 * password expiry, lockout and 'user show' (ctl_logins.c), 2FA and app
 * passwords (ctl_twofactor.c).  ctl_accounts.c puts them in the table of
 * the "user" command and reads new passwords for all of them. */
#ifndef FLOODGATE_CMD_CTL_USERS_H
#define FLOODGATE_CMD_CTL_USERS_H

#include <jansson.h>
#include <stddef.h>

#include "cmd/ctl.h"

/* ctl_accounts.c */
int check_address(const char *a);
/* user_store - check_address(ADDR), then ctl_store(C); NULL (said why)
 * when either fails. */
store_db *user_store(struct ctl *c, const char *addr);
/* new_hash - read a new password for NAME (terminal twice, or one line
 * of stdin), check it against the policy and hash it into HASH
 * (PASSWORD_HASH_MAX); EXIT_OK or EXIT_FAIL (said why). */
int new_hash(const struct config *cfg, const char *name, char *hash);

/* ctl_logins.c */
int user_expire(struct ctl *c, struct args *a, struct opt *o);
int user_unlock(struct ctl *c, struct args *a, struct opt *o);
int user_lockouts(struct ctl *c, struct args *a, struct opt *o);
int user_show(struct ctl *c, struct args *a, struct opt *o);
struct opt *opts_all(void);
/* login_summary - "expired", "expires in 3d", "locked until ..." or "ok"
 * for a user object of accounts_user_list annotated by login_annotate. */
const char *login_summary(json_t *u, char *buf, size_t len);

/* ctl_twofactor.c */
int user_2fa(struct ctl *c, struct args *a, struct opt *o);
struct opt *opts_2fa(void);
int user_app_password(struct ctl *c, struct args *a, struct opt *o);
struct opt *opts_app_password(void);
/* qr_print - the QR code of TEXT on stdout (terminal blocks, or "##"). */
void qr_print(const char *text);

#endif
