/* core/config_loader - what the files that load floodgate.conf share
 * (config.c and the section loaders beside it).  Not for other rooms: they
 * see only struct config.
 *
 * Every cfg_get_* leaves *OUT alone when the key is absent, so the caller
 * sets the default first; each returns -1 after recording the error
 * ("FILE:LINE: KEY: ...") in the loader. */
#ifndef FLOODGATE_CORE_CONFIG_LOADER_H
#define FLOODGATE_CORE_CONFIG_LOADER_H

#include <libconfig.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"

/* Room for a dotted key path; longer ones are cut with "...". */
#define KEY_MAX 256
/* Room for one formatted error or warning line. */
#define MSG_MAX 1024
/* Entries one group (or a union of groups) may hold once includes are
 * merged: without a bound, groups including each other many times over
 * would grow exponentially. */
#define GROUP_ENTRIES_MAX 100000

/* Bookkeeping for one entry of ip_groups while the sets are built. */
struct group_build {
    const config_setting_t *decl; /* ip_groups.NAME as declared: array or group */
    const config_setting_t *s;    /* the array of entries (decl, or its addresses) */
    int state;                    /* 0 not built, 1 being built (a cycle if met again), 2 built */
    int everything;               /* index of its first entry covering the whole Internet, or -1 */
    int wide;                     /* index of its first IPSET_BREADTH_WIDE-or-worse entry, or -1 */
    unsigned height;              /* longest chain of "@group" includes below it */
    unsigned checked;             /* 1 << IP_GRANT_* once the wide-entry guard ran for that grant */
    bool wide_warned;             /* allow_wide let a wide entry through, and the log was told */
};

/* Everything one config_load call carries around. */
struct loader {
    const char *path;
    struct config *cfg;
    struct group_build *gb; /* one per cfg->groups entry */
    char *include_dir;      /* directory of PATH, or NULL when PATH has none */
    char *err;
    size_t errlen;
};

/* Dotted key paths: "limits" + "max_errors", "listeners" + [1]. */
const char *cfg_key_child(char *buf, size_t len, const char *parent, const char *name);
const char *cfg_key_index(char *buf, size_t len, const char *parent, unsigned i);

int cfg_fail(struct loader *ld, const config_setting_t *s, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int cfg_fail_oom(struct loader *ld, const config_setting_t *s, const char *key);
/* cfg_warn - a legal but suspicious setting, kept for the log. */
int cfg_warn(struct loader *ld, const config_setting_t *s, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

int cfg_expect(struct loader *ld, const config_setting_t *s, const char *key, int type);
int cfg_expect_sequence(struct loader *ld, const config_setting_t *s, const char *key);
/* cfg_check_keys - every member of G must be one of ALLOWED (NULL-ended). */
int cfg_check_keys(struct loader *ld, const config_setting_t *g, const char *key,
                   const char *const allowed[]);

int cfg_get_group(struct loader *ld, const config_setting_t *g, const char *gkey, const char *name,
                  const char *const allowed[], const config_setting_t **out);
int cfg_get_string(struct loader *ld, const config_setting_t *g, const char *gkey, const char *name,
                   bool required, char **out);
int cfg_get_bool(struct loader *ld, const config_setting_t *g, const char *gkey, const char *name,
                 bool *out);
int cfg_get_number(struct loader *ld, const config_setting_t *g, const char *gkey, const char *name,
                   uint64_t min, uint64_t max, uint64_t *out);
int cfg_get_unsigned(struct loader *ld, const config_setting_t *g, const char *gkey,
                     const char *name, unsigned min, unsigned max, unsigned *out);
int cfg_get_choice(struct loader *ld, const config_setting_t *g, const char *gkey, const char *name,
                   const char *const names[], int *out);

/* cfg_group_index - the index of IP group NAME in cfg->groups, or -1. */
int cfg_group_index(const struct config *cfg, const char *name);

/* cfg_load_group_list - member NAME of G (at GKEY), an array of IP group
 * names whose clients get GRANT: the union of the groups into SET, each
 * group passing the wide-entry guard (and, for relay, the open-relay
 * guard).  Every setting that names IP groups is loaded with it. */
int cfg_load_group_list(struct loader *ld, const config_setting_t *g, const char *gkey,
                        const char *name, enum ip_grant grant, struct ipset *set);

/* cfg_get_socket_address - member NAME of G (at GKEY), required, as
 * "IPv4:PORT" or "[IPv6]:PORT" (numeric): the text into *TEXT, the parsed
 * address into ADDR and ADDRLEN. */
int cfg_get_socket_address(struct loader *ld, const config_setting_t *g, const char *gkey,
                           const char *name, char **text, struct sockaddr_storage *addr,
                           socklen_t *addrlen);
/* config_load_reputation - the reputation section (config_reputation.c). */
int config_load_reputation(struct loader *ld, const config_setting_t *root);
void config_free_reputation(struct config *cfg);
/* cfg_printable - are the N octets at S all printable ASCII, with no space
 * and none of EXCEPT (NULL: none)?  For values that go as they are into a
 * reply, a header, a URL, a command line or the log. */
bool cfg_printable(const char *s, size_t n, const char *except);

/* cfg_zone_ok - a DNS zone name as a blocklist: labels of letters, digits,
 * '-' and '_', dots between, no more than 200 octets. */
bool cfg_zone_ok(const char *z);
/* config_load_inbound - the inbound section (config_inbound.c); after the
 * hostname is known. */
int config_load_inbound(struct loader *ld, const config_setting_t *root);
void config_free_inbound(struct config *cfg);

/* config_load_web - the web section (config_web.c). */
int config_load_web(struct loader *ld, const config_setting_t *root);
void config_free_web(struct config *cfg);
/* config_load_security - the sections that shut the doors a spammer uses
 * (config_security.c). */
int config_security_defaults(struct config *cfg); /* -1: out of memory */
int config_load_security(struct loader *ld, const config_setting_t *root);
void config_free_security(struct config *cfg);

/* The detector { } and alerts { } sections (config_detector.c). */
int config_load_detector(struct loader *ld, const config_setting_t *root);
void config_free_detector(struct config *cfg);

#endif
