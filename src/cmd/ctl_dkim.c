/* cmd/ctl_dkim - floodctl dkim.
 *
 * Room: cmd.  DKIM keys are made here, as files in the state dir and rows
 * in the store, and shown as the TXT record an administrator publishes in
 * the zone of the domain. */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "accounts/accounts.h"
#include "cmd/ctl.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "delivery/dkim.h"

/* ---------------------------------------------------------------- usage */

const char usage_dkim[] =
    "  floodctl dkim generate DOMAIN [--selector S] [--algorithm rsa|ed25519] [--json]\n"
    "  floodctl dkim show DOMAIN [--json]\n";

/* opts_dkim_generate - the options of dkim generate. */
static struct opt *opts_dkim_generate(void)
{
    static struct opt opts[] = {{"--selector", true, false, NULL},
                                {"--algorithm", true, false, NULL},
                                {NULL, false, false, NULL}};
    return opts;
}

/* dkim_default_selector - "fg" and this month, YYYYMM: a new month gives
 * a new name, so a key made later never clobbers the published one. */
static int dkim_default_selector(char *buf, size_t len)
{
    time_t now = time(NULL);
    struct tm tm;
    if (localtime_r(&now, &tm) == NULL || strftime(buf, len, "fg%Y%m", &tm) == 0)
        return fail("cannot read the clock to name a selector; give one with --selector");
    return EXIT_OK;
}

/* dkim_key_exists - whether STATE_DIR/dkim/DOMAIN.SELECTOR.key is there
 * already (dkim_key_generate refuses it; this gives the better message). */
static bool dkim_key_exists(const char *state_dir, const char *domain, const char *selector)
{
    char path[PATH_MAX], sel[64];
    struct stat st;
    if (!str_copy(sel, selector, sizeof sel))
        return false; /* too long: dkim_key_generate says so */
    str_lower(sel);
    int n = snprintf(path, sizeof path, "%s/%s/%s.%s.key", state_dir, DKIM_DIR, domain, sel);
    return n > 0 && (size_t)n < sizeof path && lstat(path, &st) == 0;
}

/* dkim_print - KEY as the TXT record to publish and a hint (or as JSON):
 * what an administrator pastes into the zone of the domain. */
static int dkim_print(struct ctl *c, const struct dkim_key *key, const char *headline)
{
    char name[DKIM_NAME_MAX], err[512];
    if (dkim_dns_name(key, name, sizeof name, err, sizeof err) < 0)
        return fail("%s", err);
    char *value = dkim_dns_value(key, err, sizeof err);
    char *line = value ? dkim_dns_record(key, err, sizeof err) : NULL;
    int rc = EXIT_OK;
    if (line == NULL) {
        rc = fail("%s", err);
    } else if (c->json) {
        json_t *out =
            json_pack("{s:s, s:s, s:s, s:s, s:s}", "domain", key->domain, "selector", key->selector,
                      "algorithm", key->algorithm, "name", name, "value", value);
        rc = out ? print_json(out) : fail("out of memory");
        json_decref(out);
    } else {
        printf("%s\nPublish this TXT record in the DNS zone of %s:\n\n%s\n\n"
               "hint: once published, 'dig +short TXT %s' must print the value above; "
               "receivers check signatures against it.\n",
               headline, key->domain, line, name);
        if (strcmp(key->algorithm, "ed25519") == 0)
            puts("note: not every receiver verifies Ed25519 signatures yet (RFC 8463); "
                 "an RSA key is understood everywhere.");
    }
    free(line);
    free(value);
    return rc;
}

/* dkim_load_print - load the key of DOMAIN from the store and print it,
 * saying whether it was CREATED just now. */
static int dkim_load_print(struct ctl *c, store_db *db, const char *domain, bool created)
{
    char err[512], headline[512];
    struct dkim_key key;
    int found = dkim_key_load(db, c->cfg->state_dir, domain, &key, err, sizeof err);
    if (found < 0)
        return fail("%s", err);
    if (found == 0)
        return fail("no DKIM key for %s: create one with 'floodctl dkim generate %s'", domain,
                    domain);
    snprintf(headline, sizeof headline, "DKIM key %s %s: selector %s, %s.",
             created ? "created for" : "of", key.domain, key.selector, key.algorithm);
    int rc = dkim_print(c, &key, headline);
    dkim_key_clear(&key);
    return rc;
}

/* dkim_generate_cmd - floodctl dkim generate DOMAIN [--selector S]
 * [--algorithm rsa|ed25519] */
static int dkim_generate_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    char sel[64], err[512];
    const char *domain = a->pos[0];
    const char *alg = o[1].value ? o[1].value : "rsa";
    if (strcmp(alg, "rsa") != 0 && strcmp(alg, "ed25519") != 0)
        return usage_error("dkim", "--algorithm must be rsa or ed25519, not '%s'", alg);
    if (o[0].value == NULL && dkim_default_selector(sel, sizeof sel) != EXIT_OK)
        return EXIT_FAIL;
    const char *selector = o[0].value ? o[0].value : sel;
    store_db *db = ctl_store(c);
    if (db == NULL)
        return EXIT_FAIL;
    /* Only our own domains are signed: a key for another would be of no
     * use and would suggest we may send as it. */
    if (!accounts_domain_is_local(db, domain))
        return fail("%s is not a local domain: add it first with 'floodctl domain add %s'", domain,
                    domain);
    if (dkim_key_exists(c->cfg->state_dir, domain, selector))
        return fail("%s already has a key with selector %s; a new key needs a new selector "
                    "(its record may be published): "
                    "floodctl dkim generate %s --selector NEW",
                    domain, selector, domain);
    if (dkim_key_generate(db, c->cfg->state_dir, domain, selector, alg, err, sizeof err) < 0)
        return fail("%s", err);
    log_info("event=dkim_key_generated domain=%s selector=%s algorithm=%s", log_quote(domain),
             log_quote(selector), alg);
    return dkim_load_print(c, db, domain, true);
}

/* dkim_show_cmd - floodctl dkim show DOMAIN */
static int dkim_show_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    store_db *db = ctl_store(c);
    if (db == NULL)
        return EXIT_FAIL;
    return dkim_load_print(c, db, a->pos[0], false);
}

/* ------------------------------------------------------------- commands */

const struct subcommand dkim_subs[] = {
    {"generate", 1, 1, dkim_generate_cmd, opts_dkim_generate},
    {"show", 1, 1, dkim_show_cmd, NULL},
    {NULL, 0, 0, NULL, NULL},
};
