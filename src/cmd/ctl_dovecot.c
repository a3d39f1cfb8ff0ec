/* cmd/ctl_dovecot - floodctl dovecot: IMAP with Dovecot on Floodgate's
 * accounts.
 *
 * Room: cmd.  "dovecot config" prints a whole dovecot.conf (Dovecot 2.3)
 * that `dovecot -F -c FILE` runs as it is: IMAP on --listen, Floodgate's
 * TLS certificate, the Maildirs Floodgate delivers to, and every login
 * asked of the running daemon through "dovecot checkpassword" (Dovecot's
 * passdb checkpassword), so that suspension, lockout, 2FA with app
 * passwords and IP bans hold for IMAP as for SMTP AUTH, and failed IMAP
 * logins count toward the same bans.  With delivery.local = "lmtp" it
 * also opens the LMTP listener Floodgate delivers to.
 *
 * "dovecot checkpassword PROG [ARG...]" is that passdb program (the
 * checkpassword interface): it reads "user\0password\0..." from fd 3,
 * asks the daemon ("login.check" with Dovecot's TCPREMOTEIP and SERVICE),
 * and on success runs PROG (Dovecot's checkpassword-reply) with USER set
 * to the account; exit 1 refuses the login, 111 is a temporary failure
 * (the daemon is not running, the store could not say). */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd/ctl.h"
#include "core/checkpassword.h"
#include "core/config.h"
#include "core/util.h"

#define DOVECOT_BASE_DIR "/run/floodgate-dovecot"
#define DOVECOT_LISTEN "*:143"
#define CHECKPASSWORD_TEMPFAIL 111 /* the convention's temporary failure */

const char usage_dovecot[] =
    "  floodctl dovecot config [--listen ADDRESS:PORT] [--base-dir DIR]\n"
    "                                        print a dovecot.conf on Floodgate's accounts\n"
    "                                        (default *:143, " DOVECOT_BASE_DIR ")\n"
    "  floodctl dovecot checkpassword PROG [ARG...]   Dovecot's passdb program (fd 3)\n";

/* The mail user: who owns the Maildirs, and as whom Dovecot's auth
 * process runs the checkpassword program (it must reach control.sock). */
struct mail_owner {
    char name[64];
    uid_t uid;
    gid_t gid;
};

/* mail_owner - CFG's user, else the owner of the state dir.  Never root:
 * Dovecot refuses to open mail as root, and so should we. */
static int mail_owner(const struct config *cfg, struct mail_owner *o)
{
    struct passwd *pw = NULL;
    struct stat st;
    if (cfg->user && *cfg->user) {
        if ((pw = getpwnam(cfg->user)) == NULL)
            return fail("user %s (floodgate.conf 'user') does not exist", cfg->user);
    } else if (stat(cfg->state_dir, &st) == 0) {
        pw = getpwuid(st.st_uid);
        o->uid = st.st_uid, o->gid = st.st_gid;
    } else {
        return fail("state_dir %s: %s (start floodgated once, or set 'user' in %s)", cfg->state_dir,
                    strerror(errno), cfg->path);
    }
    if (pw) {
        o->uid = pw->pw_uid, o->gid = pw->pw_gid;
        str_copy(o->name, pw->pw_name, sizeof o->name);
    } else {
        return fail("the owner (uid %u) of %s has no name: set 'user' in %s", (unsigned)o->uid,
                    cfg->state_dir, cfg->path);
    }
    if (o->uid == 0)
        return fail("the Maildirs would belong to root: set 'user' in %s (e.g. user = "
                    "\"floodgate\";) and restart floodgated",
                    cfg->path);
    return EXIT_OK;
}

/* split_listen - "ADDRESS:PORT" ("*:143", "127.0.0.1:10143",
 * "[::1]:143") into Dovecot's address and the port. */
static int split_listen(const char *text, char *addr, size_t len, unsigned *port)
{
    const char *colon = strrchr(text, ':');
    unsigned char buf[16];
    if (colon == NULL || colon == text)
        return -1;
    size_t n = (size_t)(colon - text);
    if (text[0] == '[' && n > 2 && text[n - 1] == ']')
        text++, n -= 2;
    if (n >= len)
        return -1;
    memcpy(addr, text, n);
    addr[n] = '\0';
    uint64_t p;
    if (parse_u64(colon + 1, strlen(colon + 1), &p) < 0 || p == 0 || p > 65535)
        return -1;
    *port = (unsigned)p;
    if (strcmp(addr, "*") == 0 || strcmp(addr, "::") == 0)
        return 0;
    return inet_pton(strchr(addr, ':') ? AF_INET6 : AF_INET, addr, buf) == 1 ? 0 : -1;
}

/* plain_path - PATH may go into a checkpassword command line, which
 * Dovecot splits at spaces, and into dovecot.conf unquoted. */
static bool plain_path(const char *path)
{
    return path[0] == '/' && strpbrk(path, " \t\n\"#{}") == NULL;
}

/* absolute - PATH as an absolute path into BUF, or NULL. */
static const char *absolute(const char *path, char *buf)
{
    return realpath(path, buf);
}

/* lmtp_listener - the LMTP listener block, when delivery.local = "lmtp":
 * on delivery.lmtp_address as the config loader parsed it, else on the
 * socket. */
static void lmtp_listener(const struct config *cfg, const struct mail_owner *o)
{
    const struct config_delivery *d = &cfg->delivery;
    char host[NI_MAXHOST], port[NI_MAXSERV];
    printf("# delivery.local = \"lmtp\": Floodgate hands local mail to this listener.\n"
           "service lmtp {\n");
    if (d->lmtp_address &&
        getnameinfo((const struct sockaddr *)&d->lmtp_addr, d->lmtp_addrlen, host, sizeof host,
                    port, sizeof port, NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
        printf("  inet_listener lmtp {\n    address = %s\n    port = %s\n  }\n", host, port);
    } else {
        const char *sock = d->lmtp_socket ? d->lmtp_socket : DELIVERY_LMTP_SOCKET;
        printf("  unix_listener %s%s%s {\n    mode = 0600\n    user = %s\n  }\n",
               sock[0] == '/' ? "" : cfg->state_dir, sock[0] == '/' ? "" : "/", sock, o->name);
    }
    printf("}\n"
           "protocol lmtp {\n"
           "  # Sieve: apt-get install dovecot-sieve, then\n"
           "  # mail_plugins = $mail_plugins sieve\n"
           "  postmaster_address = postmaster@%s\n"
           "}\n",
           cfg->hostname);
}

/* print_config - the whole dovecot.conf. */
static void print_config(const struct config *cfg, const struct mail_owner *o, const char *floodctl,
                         const char *conf, const char *listen, unsigned port, const char *base)
{
    char now[32];
    bool lmtp = cfg->delivery.local == DELIVERY_LOCAL_LMTP;
    printf("# dovecot.conf for Floodgate: IMAP on Floodgate's accounts.\n"
           "# Made by 'floodctl dovecot config' at %s from %s.\n"
           "# Run it: dovecot -F -c THIS_FILE (see floodctl(8), admin guide \"IMAP with "
           "Dovecot\").\n\n",
           iso8601_utc(time(NULL), now, sizeof now), conf);
    printf("base_dir = %s\nstate_dir = %s/state\ninstance_name = floodgate-dovecot\n"
           "protocols = imap%s\nlisten = %s\n"
           "log_path = syslog\nsyslog_facility = mail\n\n",
           base, base, lmtp ? " lmtp" : "", strcmp(listen, "*") == 0 ? "*, ::" : listen);
    printf("# Logins: every one is asked of the running floodgated (login.check), which\n"
           "# applies bans, suspension, lockout and 2FA (app passwords only) and counts\n"
           "# failures toward its bans.  Dovecot caches nothing, so a suspension holds at once.\n"
           "auth_mechanisms = plain login\nauth_username_format = %%Lu\nauth_cache_size = 0\n"
           "passdb {\n  driver = checkpassword\n  args = %s -c %s dovecot checkpassword\n}\n",
           floodctl, conf);
    printf("# The Maildirs floodgated delivers to, all owned by its user (%s).\n"
           "userdb {\n  driver = static\n"
           "  args = uid=%u gid=%u home=%s/mail/%%d/%%n allow_all_users=yes\n}\n"
           "mail_location = maildir:~/Maildir\nfirst_valid_uid = %u\nlast_valid_uid = %u\n"
           "first_valid_gid = %u\nlast_valid_gid = %u\n\n",
           o->name, (unsigned)o->uid, (unsigned)o->gid, cfg->state_dir, (unsigned)o->uid,
           (unsigned)o->uid, (unsigned)o->gid, (unsigned)o->gid);
    printf("# The auth process runs as %s: the checkpassword program reaches control.sock.\n"
           "service auth {\n  user = %s\n}\n"
           "# Floodgate's hammering bans and lockout replace Dovecot's per-IP login delay.\n"
           "service anvil {\n  unix_listener anvil-auth-penalty {\n    mode = 0\n  }\n}\n",
           o->name, o->name);
    printf("service imap-login {\n  inet_listener imap {\n    port = %u\n  }\n"
           "  inet_listener imaps {\n    port = 0\n  }\n}\n",
           port);
    if (cfg->tls_certificate && cfg->tls_key)
        printf("# Floodgate's certificate; passwords only under TLS (STARTTLS on port %u).\n"
               "ssl = required\nssl_cert = <%s\nssl_key = <%s\ndisable_plaintext_auth = yes\n",
               port, cfg->tls_certificate, cfg->tls_key);
    else
        printf("# No tls.certificate in %s: no TLS, and Dovecot takes passwords only\n"
               "# from the local host itself.  Give Floodgate a certificate, then run this again.\n"
               "ssl = no\ndisable_plaintext_auth = yes\n",
               conf);
    if (lmtp) {
        putchar('\n');
        lmtp_listener(cfg, o);
    }
}

/* dovecot_config - floodctl dovecot config [--listen A:P] [--base-dir DIR] */
static int dovecot_config(struct ctl *c, struct args *a, struct opt *opts)
{
    (void)a;
    char host[INET6_ADDRSTRLEN + 2], floodctl[PATH_MAX], conf[PATH_MAX];
    unsigned port;
    const char *listen = opts[0].set ? opts[0].value : DOVECOT_LISTEN;
    const char *base = opts[1].set ? opts[1].value : DOVECOT_BASE_DIR;
    if (split_listen(listen, host, sizeof host, &port) < 0)
        return usage_error("dovecot", "--listen '%s' is not ADDRESS:PORT (e.g. 127.0.0.1:143)",
                           listen);
    if (!plain_path(base))
        return usage_error("dovecot", "--base-dir '%s' must be an absolute path without spaces",
                           base);
    if (absolute(c->config_path, conf) == NULL)
        return fail("%s: %s", c->config_path, strerror(errno));
    if (!ctl_ready(c))
        return EXIT_FAIL;
    struct mail_owner o;
    if (mail_owner(c->cfg, &o) != EXIT_OK)
        return EXIT_FAIL;
    if (absolute("/proc/self/exe", floodctl) == NULL)
        return fail("cannot find floodctl's own path: %s", strerror(errno));
    if (!plain_path(floodctl) || !plain_path(conf) || !plain_path(c->cfg->state_dir))
        return fail("%s, %s and state_dir %s must be paths without spaces (Dovecot splits its"
                    " checkpassword command at spaces)",
                    floodctl, conf, c->cfg->state_dir);
    print_config(c->cfg, &o, floodctl, conf, host, port, base);
    return EXIT_OK;
}

static struct opt *opts_config(void)
{
    static struct opt o[] = {
        {"--listen", true, false, NULL}, {"--base-dir", true, false, NULL}, {0}};
    return o;
}

/* read_input - the checkpassword input from fd 3, up to its limit. */
static long read_input(char *buf, size_t len)
{
    size_t n = 0;
    while (n < len) {
        ssize_t r = read(3, buf + n, len - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        n += (size_t)r;
    }
    return (long)n;
}

/* ask_daemon - the daemon's verdict on USER / PASSWORD from Dovecot's
 * client: the result object, or NULL (printed why) when it cannot say. */
static json_t *ask_daemon(struct ctl *c, const char *user, const char *password)
{
    const char *ip = getenv("TCPREMOTEIP"), *service = getenv("SERVICE");
    int not_running;
    if (ip == NULL || *ip == '\0')
        ip = getenv("REMOTE_IP");
    if (ip == NULL || *ip == '\0') {
        fprintf(stderr, "floodctl: no client IP (TCPREMOTEIP) from Dovecot: login refused\n");
        return NULL;
    }
    json_t *r = ctl_call(c,
                         json_pack("{s:s, s:s, s:s, s:s, s:s}", "cmd", "login.check", "user", user,
                                   "password", password, "ip", ip, "service",
                                   service && *service ? service : "imap"),
                         &not_running);
    if (r == NULL && not_running)
        fprintf(stderr, "floodctl: floodgated is not running: IMAP logins wait for it\n");
    return r;
}

/* dovecot_checkpassword - floodctl dovecot checkpassword PROG [ARG...] */
static int dovecot_checkpassword(struct ctl *c, struct args *a, struct opt *opts)
{
    (void)opts;
    char buf[CHECKPASSWORD_MAX + 1];
    const char *user, *password;
    if (getenv("AUTHORIZED")) { /* a lookup without a password: we give out nothing */
        fprintf(stderr, "floodctl: Floodgate answers logins only, not lookups (use userdb "
                        "static as 'floodctl dovecot config' writes it)\n");
        return CHECKPASSWORD_TEMPFAIL;
    }
    long n = read_input(buf, sizeof buf);
    if (n < 0 || checkpassword_parse(buf, (size_t)n, &user, &password) < 0) {
        fprintf(stderr, "floodctl: unreadable checkpassword input on fd 3\n");
        OPENSSL_cleanse(buf, sizeof buf);
        return n < 0 ? CHECKPASSWORD_TEMPFAIL : EXIT_FAIL;
    }
    json_t *r = ask_daemon(c, user, password);
    OPENSSL_cleanse(buf, sizeof buf);
    if (r == NULL)
        return CHECKPASSWORD_TEMPFAIL;
    bool ok = json_is_true(json_object_get(r, "ok"));
    bool temporary = json_is_true(json_object_get(r, "temporary"));
    const char *account = str_of(r, "user");
    if (!ok || account == NULL) {
        json_decref(r);
        return temporary ? CHECKPASSWORD_TEMPFAIL : EXIT_FAIL;
    }
    if (setenv("USER", account, 1) < 0) {
        json_decref(r);
        return CHECKPASSWORD_TEMPFAIL;
    }
    json_decref(r);
    ctl_close(c);
    a->raw[a->n] = NULL; /* argv of PROG: its slot after the last was NULL already */
    execvp(a->raw[0], a->raw);
    fprintf(stderr, "floodctl: cannot run %s: %s\n", a->raw[0], strerror(errno));
    return CHECKPASSWORD_TEMPFAIL;
}

const struct subcommand dovecot_subs[] = {
    {"config", 0, 0, dovecot_config, opts_config},
    {"checkpassword", 1, 64, dovecot_checkpassword, NULL},
    {NULL, 0, 0, NULL, NULL},
};
