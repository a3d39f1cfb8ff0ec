/* smtp/auth - SMTP AUTH (RFC 4954) with the PLAIN (RFC 4616) and LOGIN
 * mechanisms.  The password check runs argon2id on a worker thread, and an
 * unknown user is checked against a dummy hash, so the reply takes the same
 * time whether the account exists or not and the loop never blocks. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "accounts/accounts.h"
#include "accounts/password.h"
#include "core/log.h"
#include "core/util.h"
#include "smtp/session_internal.h"

struct auth_job {
    struct smtp_session *s;
    char user[256];
    char hash[PASSWORD_HASH_MAX];
    char *password;
    bool known;
    bool suspended;
    bool ok;
};

/* b64_decode - decode IN (LEN octets) into a new NUL-terminated buffer;
 * *OUTLEN gets the decoded length.  NULL on invalid base64. */
static char *b64_decode(const char *in, size_t len, size_t *outlen)
{
    if (len % 4 != 0 || len > SMTP_AUTH_LINE_MAX)
        return NULL;
    unsigned char *out = malloc(len / 4 * 3 + 1);
    if (out == NULL)
        return NULL;
    int n = len ? EVP_DecodeBlock(out, (const unsigned char *)in, (int)len) : 0;
    if (n < 0) {
        free(out);
        return NULL;
    }
    /* EVP_DecodeBlock counts the padding as zero octets. */
    for (size_t i = len; i > 0 && in[i - 1] == '='; i--)
        n--;
    out[n] = '\0';
    *outlen = (size_t)n;
    return (char *)out;
}

static void auth_fail_reply(struct smtp_session *s, const char *reply)
{
    s->state = SMTP_STATE_HELO;
    smtp_reply(s, "%s", reply);
}

static void auth_verify_work(void *arg)
{
    struct auth_job *j = arg;
    const char *hash = j->known ? j->hash : password_dummy_hash();
    j->ok = password_verify(hash, j->password) && j->known;
}

static void auth_verify_done(void *arg)
{
    struct auth_job *j = arg;
    struct smtp_session *s = j->s;
    OPENSSL_cleanse(j->password, strlen(j->password));
    free(j->password);
    s->state = SMTP_STATE_HELO;
    if (j->ok && !j->suspended && (s->auth_user = strdup(j->user)) != NULL) {
        log_info("event=auth result=ok session=%lu user=%s ip=%s listener=%s", s->serial,
                 log_quote(j->user), s->ip, s->lc->name);
        smtp_reply(s, "235 2.7.0 Authentication successful");
    } else {
        const char *why = !j->known ? "unknown_user" : !j->ok ? "bad_password" : "suspended";
        log_info("event=auth result=fail session=%lu user=%s ip=%s listener=%s reason=%s",
                 s->serial, log_quote(j->user), s->ip, s->lc->name, why);
        smtp_reply(s, "535 5.7.8 Authentication credentials invalid");
        smtp_session_note_failure(s, "auth");
    }
    free(j);
    smtp_session_resume(s);
}

/* auth_verify - look the user up here (a quick indexed read) and hand the
 * expensive hash comparison to a worker. */
static void auth_verify(struct smtp_session *s, const char *user, const char *password)
{
    struct auth_job *j = calloc(1, sizeof *j);
    if (j == NULL || (j->password = strdup(password)) == NULL) {
        free(j);
        auth_fail_reply(s, "454 4.7.0 Temporary authentication failure");
        return;
    }
    j->s = s;
    str_copy(j->user, user, sizeof j->user);
    char key[256];
    str_copy(key, user, sizeof key);
    int found = accounts_user_credentials(s->srv->db, str_lower(key), j->hash, sizeof j->hash,
                                          &j->suspended);
    if (found < 0) {
        OPENSSL_cleanse(j->password, strlen(j->password));
        free(j->password);
        free(j);
        auth_fail_reply(s, "454 4.7.0 Temporary authentication failure");
        return;
    }
    j->known = found == 1;
    s->wait = SMTP_WAIT_AUTH;
    bufferevent_disable(s->bev, EV_READ);
    worker_pool_submit(s->srv->workers, auth_verify_work, auth_verify_done, j);
}

/* auth_plain - RFC 4616: [authzid] NUL authcid NUL passwd.  We act only
 * as ourselves: an authzid naming someone else is refused. */
static void auth_plain(struct smtp_session *s, const char *b64, size_t len)
{
    size_t n;
    char *msg = b64_decode(b64, len, &n);
    if (msg == NULL) {
        auth_fail_reply(s, "501 5.5.2 Cannot decode the AUTH response (base64)");
        return;
    }
    const char *authz = msg;
    const char *sep1 = memchr(msg, '\0', n);
    const char *sep2 = sep1 ? memchr(sep1 + 1, '\0', n - (size_t)(sep1 + 1 - msg)) : NULL;
    if (sep2 == NULL || sep1 + 1 == sep2 ||
        memchr(sep2 + 1, '\0', n - (size_t)(sep2 + 1 - msg))) {
        OPENSSL_cleanse(msg, n);
        free(msg);
        auth_fail_reply(s, "501 5.5.2 Malformed AUTH PLAIN response");
        return;
    }
    const char *user = sep1 + 1;
    const char *password = sep2 + 1;
    if (*authz && strcasecmp(authz, user) != 0) {
        OPENSSL_cleanse(msg, n);
        free(msg);
        auth_fail_reply(s, "535 5.7.8 Authentication credentials invalid");
        return;
    }
    auth_verify(s, user, password);
    OPENSSL_cleanse(msg, n);
    free(msg);
}

void smtp_auth_start(struct smtp_session *s, const char *args, size_t len)
{
    const char *sp = memchr(args, ' ', len);
    size_t mech_len = sp ? (size_t)(sp - args) : len;
    const char *initial = sp ? sp + 1 : NULL;
    size_t initial_len = sp ? len - mech_len - 1 : 0;
    s->state = SMTP_STATE_AUTH;
    if (mech_len == 5 && strncasecmp(args, "PLAIN", 5) == 0) {
        s->auth_step = AUTH_STEP_PLAIN;
        /* RFC 4954 4: "=" is an empty initial response. */
        if (initial && !(initial_len == 1 && initial[0] == '='))
            auth_plain(s, initial, initial_len);
        else if (initial)
            auth_plain(s, "", 0);
        else
            smtp_reply(s, "334 ");
    } else if (mech_len == 5 && strncasecmp(args, "LOGIN", 5) == 0) {
        s->auth_step = AUTH_STEP_LOGIN_USER;
        if (initial)
            smtp_auth_continue(s, initial, initial_len);
        else
            smtp_reply(s, "334 VXNlcm5hbWU6"); /* "Username:" */
    } else {
        auth_fail_reply(s, "504 5.5.4 Unrecognized authentication type");
    }
}

void smtp_auth_continue(struct smtp_session *s, const char *line, size_t len)
{
    if (len == 1 && line[0] == '*') {
        auth_fail_reply(s, "501 5.0.0 Authentication aborted");
        return;
    }
    if (s->auth_step == AUTH_STEP_PLAIN) {
        auth_plain(s, line, len);
        return;
    }
    size_t n;
    char *text = b64_decode(line, len, &n);
    if (text == NULL || strlen(text) != n || n >= sizeof s->auth_login_user) {
        if (text)
            OPENSSL_cleanse(text, n);
        free(text);
        auth_fail_reply(s, "501 5.5.2 Cannot decode the AUTH response (base64)");
        return;
    }
    if (s->auth_step == AUTH_STEP_LOGIN_USER) {
        str_copy(s->auth_login_user, text, sizeof s->auth_login_user);
        s->auth_step = AUTH_STEP_LOGIN_PASS;
        smtp_reply(s, "334 UGFzc3dvcmQ6"); /* "Password:" */
    } else {
        auth_verify(s, s->auth_login_user, text);
        OPENSSL_cleanse(text, n);
    }
    free(text);
}
