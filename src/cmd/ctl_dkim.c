/* cmd/ctl_dkim - floodctl dkim.
 *
 * Room: cmd.  DKIM keys are made here, as files in the state dir and rows
 * in the store, and shown as the TXT record an administrator publishes in
 * the zone of the domain.  A domain's key is replaced by rotation only:
 * 'generate --rotate' makes a new selector that signs from then on, while
 * the old one stays published (mail signed with it may still be checked
 * by its receivers) until 'dkim retire' removes it (RFC 6376 3.1: a
 * selector per key, so that keys can be changed without breaking the
 * signatures in flight). */
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
#include "store/dkim_keys.h"

/* ---------------------------------------------------------------- usage */

const char usage_dkim[] =
    "  floodctl dkim generate DOMAIN [--selector S] [--algorithm rsa|ed25519] [--rotate] "
    "[--json]\n"
    "  floodctl dkim show DOMAIN [--json]\n"
    "  floodctl dkim list [DOMAIN] [--json]\n"
    "  floodctl dkim retire DOMAIN SELECTOR\n";

/* opts_dkim_generate - the options of dkim generate. */
static struct opt *opts_dkim_generate(void)
{
    static struct opt opts[] = {{"--selector", true, false, NULL},
                                {"--algorithm", true, false, NULL},
                                {"--rotate", false, false, NULL},
                                {NULL, false, false, NULL}};
    return opts;
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

/* dkim_default_selector - "fg" and this month, YYYYMM: a new month gives
 * a new name, so a key made later never clobbers the published one; a
 * second key in one month (a rotation) gets the day too, fgYYYYMMDD. */
static int dkim_default_selector(const char *state_dir, const char *domain, char *buf, size_t len)
{
    static const char *const forms[] = {"fg%Y%m", "fg%Y%m%d"};
    time_t now = time(NULL);
    struct tm tm;
    if (localtime_r(&now, &tm) == NULL)
        return fail("cannot read the clock to name a selector; give one with --selector");
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
        if (strftime(buf, len, forms[i], &tm) > 0 && !dkim_key_exists(state_dir, domain, buf))
            return EXIT_OK;
    return fail("%s already has keys with selectors of this month and day; "
                "name the new one with --selector",
                domain);
}

/* dkim_entry - ROW of store_dkim_keys_list as floodctl shows it: its
 * key's DNS name and TXT value, times in ISO 8601 UTC; *KEY gets the key
 * (the caller clears it).  NULL and ERR. */
static json_t *dkim_entry(const struct ctl *c, json_t *row, struct dkim_key *key, char *err,
                          size_t errlen)
{
    char name[DKIM_NAME_MAX], created[32], replaced[32];
    if (dkim_key_load_row(c->cfg->state_dir, row, key, err, errlen) < 0 ||
        dkim_dns_name(key, name, sizeof name, err, errlen) < 0)
        return NULL;
    char *value = dkim_dns_value(key, err, errlen);
    if (value == NULL)
        return NULL;
    json_t *when = json_object_get(row, "replaced");
    json_t *e = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "domain", key->domain, "selector", key->selector,
        "algorithm", key->algorithm, "state", str_of(row, "state"), "created",
        iso8601_utc((time_t)json_integer_value(json_object_get(row, "created")), created,
                    sizeof created),
        "name", name, "replaced",
        json_is_integer(when)
            ? json_string(iso8601_utc((time_t)json_integer_value(when), replaced, sizeof replaced))
            : json_null());
    if (e == NULL || json_object_set_new(e, "value", json_string(value)) < 0) {
        json_decref(e);
        e = NULL;
        snprintf(err, errlen, "out of memory");
    }
    free(value);
    return e;
}

/* dkim_entries - the keys of DOMAIN (NULL: every domain) as dkim_entry
 * gives them, each with its zone line in "record" (for the text output).
 * NULL after saying why. */
static json_t *dkim_entries(struct ctl *c, store_db *db, const char *domain)
{
    char err[512];
    json_t *rows = store_dkim_keys_list(db, domain, err, sizeof err), *out = json_array(), *row;
    size_t i;
    if (rows == NULL || out == NULL) {
        fail("%s", rows ? "out of memory" : err);
        json_decref(rows);
        json_decref(out);
        return NULL;
    }
    json_array_foreach(rows, i, row)
    {
        struct dkim_key key;
        json_t *e = dkim_entry(c, row, &key, err, sizeof err);
        char *line = e ? dkim_dns_record(&key, err, sizeof err) : NULL;
        dkim_key_clear(&key);
        if (line == NULL || json_object_set_new(e, "record", json_string(line)) < 0 ||
            json_array_append_new(out, e) < 0) {
            fail("%s", line ? "out of memory" : err);
            free(line);
            json_decref(rows);
            json_decref(out);
            return NULL;
        }
        free(line);
    }
    json_decref(rows);
    return out;
}

/* dkim_print_retiring - the keys of LIST that retire, with their records:
 * they stay published until retired. */
static void dkim_print_retiring(json_t *list)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        if (strcmp(str_of(e, "state"), "retiring") != 0)
            continue;
        printf("\nStill published: selector %s (%s), replaced %s; keep its record until mail "
               "signed with it has been delivered and checked (a week is plenty), then "
               "'floodctl dkim retire %s %s' and remove it from the zone:\n\n%s\n",
               str_of(e, "selector"), str_of(e, "algorithm"), str_of(e, "replaced"),
               str_of(e, "domain"), str_of(e, "selector"), str_of(e, "record"));
    }
}

/* dkim_show_domain - the keys of DOMAIN: the one that signs, as the TXT
 * record to publish and a hint, then those retiring; --json: the signing
 * key's {domain, selector, algorithm, name, value} and "retiring": [...]. */
static int dkim_show_domain(struct ctl *c, store_db *db, const char *domain, bool created)
{
    json_t *list = dkim_entries(c, db, domain);
    if (list == NULL)
        return EXIT_FAIL;
    json_t *active = json_array_get(list, 0);
    if (active == NULL || strcmp(str_of(active, "state"), "active") != 0) {
        json_decref(list);
        return fail("no DKIM key for %s: create one with 'floodctl dkim generate %s'", domain,
                    domain);
    }
    int rc = EXIT_OK;
    if (c->json) {
        json_t *out = json_pack(
            "{s:O, s:O, s:O, s:O, s:O, s:[]}", "domain", json_object_get(active, "domain"),
            "selector", json_object_get(active, "selector"), "algorithm",
            json_object_get(active, "algorithm"), "name", json_object_get(active, "name"), "value",
            json_object_get(active, "value"), "retiring");
        for (size_t i = 1; out && i < json_array_size(list); i++) {
            json_t *e = json_deep_copy(json_array_get(list, i));
            json_object_del(e, "record");
            json_array_append_new(json_object_get(out, "retiring"), e);
        }
        rc = out ? print_json(out) : fail("out of memory");
        json_decref(out);
    } else {
        printf("DKIM key %s %s: selector %s, %s.\nPublish this TXT record in the DNS zone of "
               "%s:\n\n%s\n\nhint: once published, 'dig +short TXT %s' must print the value "
               "above; receivers check signatures against it.\n",
               created ? "created for" : "of", domain, str_of(active, "selector"),
               str_of(active, "algorithm"), domain, str_of(active, "record"),
               str_of(active, "name"));
        if (strcmp(str_of(active, "algorithm"), "ed25519") == 0)
            puts("note: not every receiver verifies Ed25519 signatures yet (RFC 8463); "
                 "an RSA key is understood everywhere.");
        dkim_print_retiring(list);
    }
    json_decref(list);
    return rc;
}

/* dkim_active_selector - the selector of DOMAIN's signing key into SEL
 * ("" when none): 1, 0, or -1 after saying why. */
static int dkim_active_selector(store_db *db, const char *domain, char *sel, size_t len)
{
    char alg[16], file[PATH_MAX], err[512];
    int found = store_dkim_key_get(db, domain, sel, len, alg, sizeof alg, file, sizeof file, err,
                                   sizeof err);
    if (found < 0)
        fail("%s", err);
    if (found <= 0)
        sel[0] = '\0';
    return found;
}

/* dkim_generate_cmd - floodctl dkim generate DOMAIN [--selector S]
 * [--algorithm rsa|ed25519] [--rotate] */
static int dkim_generate_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    char sel[64], old[64], err[512];
    const char *domain = a->pos[0];
    const char *alg = o[1].value ? o[1].value : "rsa";
    if (strcmp(alg, "rsa") != 0 && strcmp(alg, "ed25519") != 0)
        return usage_error("dkim", "--algorithm must be rsa or ed25519, not '%s'", alg);
    store_db *db = ctl_store(c);
    if (db == NULL)
        return EXIT_FAIL;
    /* Only our own domains are signed: a key for another would be of no
     * use and would suggest we may send as it. */
    if (!accounts_domain_is_local(db, domain))
        return fail("%s is not a local domain: add it first with 'floodctl domain add %s'", domain,
                    domain);
    int active = dkim_active_selector(db, domain, old, sizeof old);
    if (active < 0)
        return EXIT_FAIL;
    /* Replacing the signing key at once would break the signatures of
     * the mail already sent with it, and its record may be all that
     * receivers have: a new key is a rotation, beside the old one. */
    if (active && !o[2].set)
        return fail("%s already has an active DKIM key (selector %s) that signs its mail; to "
                    "replace it, rotate: 'floodctl dkim generate %s --rotate' makes a new "
                    "selector that signs from then on, and keeps %s published until "
                    "'floodctl dkim retire %s %s'",
                    domain, old, domain, old, domain, old);
    if (o[0].value == NULL &&
        dkim_default_selector(c->cfg->state_dir, domain, sel, sizeof sel) != EXIT_OK)
        return EXIT_FAIL;
    const char *selector = o[0].value ? o[0].value : sel;
    if (dkim_key_exists(c->cfg->state_dir, domain, selector))
        return fail("%s already has a key with selector %s; a new key needs a new selector "
                    "(its record may be published): "
                    "floodctl dkim generate %s%s --selector NEW",
                    domain, selector, domain, active ? " --rotate" : "");
    if (dkim_key_generate(db, c->cfg->state_dir, domain, selector, alg, err, sizeof err) < 0)
        return fail("%s", err);
    log_info("event=dkim_key_generated domain=%s selector=%s algorithm=%s%s%s", log_quote(domain),
             log_quote(selector), alg, active ? " replaces=" : "", active ? log_quote(old) : "");
    return dkim_show_domain(c, db, domain, true);
}

/* dkim_show_cmd - floodctl dkim show DOMAIN */
static int dkim_show_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    store_db *db = ctl_store(c);
    if (db == NULL)
        return EXIT_FAIL;
    return dkim_show_domain(c, db, a->pos[0], false);
}

static int dkim_row(struct table *t, json_t *e, void *unused)
{
    const char *row[] = {str_of(e, "domain"), str_of(e, "selector"), str_of(e, "algorithm"),
                         str_of(e, "state"),  str_of(e, "created"),  str_of(e, "name")};
    return table_add(t, row, NULL);
}

/* dkim_list_cmd - floodctl dkim list [DOMAIN]: every key, the records to
 * publish below the table. */
static int dkim_list_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    static const char *const head[] = {"Domain", "Selector", "Algorithm",
                                       "State",  "Created",  "DNS name"};
    store_db *db = ctl_store(c);
    json_t *list = db ? dkim_entries(c, db, a->n > 0 ? a->pos[0] : NULL) : NULL;
    struct table t = {.ncols = 6, .head = head};
    if (list == NULL)
        return EXIT_FAIL;
    if (c->json) {
        size_t i;
        json_t *e;
        json_array_foreach(list, i, e) json_object_del(e, "record");
    }
    bool any = json_array_size(list) > 0;
    json_t *records = json_incref(list);
    int rc = print_list(c->json, list, &t, dkim_row, NULL,
                        "no DKIM keys; make one with 'floodctl dkim generate DOMAIN'");
    if (rc == EXIT_OK && !c->json && any) {
        size_t i;
        json_t *e;
        puts("\nThe TXT records to publish (every key listed, retiring ones included):\n");
        json_array_foreach(records, i, e) puts(str_of(e, "record"));
    }
    json_decref(records);
    return rc;
}

/* dkim_retire_cmd - floodctl dkim retire DOMAIN SELECTOR: a key a
 * rotation replaced leaves the store and the disk; its record may go. */
static int dkim_retire_cmd(struct ctl *c, struct args *a, struct opt *o)
{
    char active[64], err[512];
    const char *domain = a->pos[0], *selector = a->pos[1];
    store_db *db = ctl_store(c);
    if (db == NULL)
        return EXIT_FAIL;
    int found = dkim_active_selector(db, domain, active, sizeof active);
    if (found < 0)
        return EXIT_FAIL;
    if (found && strcmp(active, selector) == 0)
        return fail("%s is the active DKIM key of %s: its mail is signed with it; rotate first "
                    "('floodctl dkim generate %s --rotate'), then retire %s",
                    selector, domain, domain, selector);
    found = dkim_key_retire(db, c->cfg->state_dir, domain, selector, err, sizeof err);
    if (found < 0)
        return fail("%s", err);
    if (found == 0)
        return fail("%s has no retiring DKIM key with selector %s: see 'floodctl dkim list %s'",
                    domain, selector, domain);
    log_info("event=dkim_key_retired domain=%s selector=%s", log_quote(domain),
             log_quote(selector));
    printf("DKIM key %s of %s retired: remove the TXT record %s._domainkey.%s from the zone\n",
           selector, domain, selector, domain);
    return EXIT_OK;
}

/* ------------------------------------------------------------- commands */

const struct subcommand dkim_subs[] = {
    {"generate", 1, 1, dkim_generate_cmd, opts_dkim_generate},
    {"show", 1, 1, dkim_show_cmd, NULL},
    {"list", 0, 1, dkim_list_cmd, NULL},
    {"retire", 2, 2, dkim_retire_cmd, NULL},
    {NULL, 0, 0, NULL, NULL},
};
