/* smtp/listener - accept connections and start an SMTP session for each. */
#include "smtp/listener.h"

#include <errno.h>
#include <event2/listener.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "smtp/session.h"

struct listener {
    struct evconnlistener *evl;
    const struct listener_config *lc;
    struct smtp_server *srv;
    struct listener *next;
};

static void accept_cb(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    struct listener *l = arg;
    smtp_session_start(l->srv, l->lc, fd, sa, (socklen_t)salen);
}

/* accept_error_cb - EMFILE and friends: log, pause briefly, go on; never
 * take the whole server down for one failed accept(). */
static void accept_error_cb(struct evconnlistener *evl, void *arg)
{
    struct listener *l = arg;
    log_warnx("event=accept_error listener=%s error=%s", l->lc->name,
              log_quote(strerror(EVUTIL_SOCKET_ERROR())));
}

struct listener *listeners_open(struct smtp_server *srv, char *err, size_t errlen)
{
    struct listener *list = NULL;
    for (size_t i = 0; i < srv->cfg->n_listeners; i++) {
        const struct listener_config *lc = &srv->cfg->listeners[i];
        struct listener *l = calloc(1, sizeof *l);
        if (l == NULL) {
            snprintf(err, errlen, "out of memory");
            listeners_close(list);
            return NULL;
        }
        l->lc = lc;
        l->srv = srv;
        l->evl = evconnlistener_new_bind(srv->base, accept_cb, l,
                                         LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                             LEV_OPT_CLOSE_ON_EXEC,
                                         511, (const struct sockaddr *)&lc->addr,
                                         (int)lc->addrlen);
        if (l->evl == NULL) {
            snprintf(err, errlen, "%s: listener %s: cannot listen on %s: %s", srv->cfg->path,
                     lc->name, lc->address, strerror(errno));
            free(l);
            listeners_close(list);
            return NULL;
        }
        evconnlistener_set_error_cb(l->evl, accept_error_cb);
        l->next = list;
        list = l;
        log_info("event=listen listener=%s address=%s tls=%s auth=%s", lc->name, lc->address,
                 lc->tls == TLS_MODE_NONE       ? "none"
                 : lc->tls == TLS_MODE_STARTTLS ? "starttls"
                                                : "implicit",
                 lc->auth == AUTH_MODE_OFF        ? "off"
                 : lc->auth == AUTH_MODE_OPTIONAL ? "optional"
                                                  : "required");
    }
    return list;
}

/* find_listener - the listener called NAME in CFG, or NULL. */
static const struct listener_config *find_listener(const struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_listeners; i++)
        if (strcmp(cfg->listeners[i].name, name) == 0)
            return &cfg->listeners[i];
    return NULL;
}

/* find_bound - the bound listener called NAME, or NULL. */
static const struct listener *find_bound(const struct listener *list, const char *name)
{
    while (list && strcmp(list->lc->name, name) != 0)
        list = list->next;
    return list;
}

int listeners_check(const struct listener *list, const struct config *cfg, char *err, size_t errlen)
{
    for (const struct listener *l = list; l; l = l->next) {
        const struct listener_config *lc = find_listener(cfg, l->lc->name);
        if (lc == NULL) {
            snprintf(err, errlen,
                     "%s: listeners: listener %s is gone; a listener is bound at start: "
                     "restart floodgated to close it",
                     cfg->path, l->lc->name);
            return -1;
        }
        if (!listener_same_address(lc, l->lc)) {
            snprintf(err, errlen,
                     "%s: listeners: listener %s moved from %s to %s; a listener is bound at "
                     "start: restart floodgated to move it",
                     cfg->path, lc->name, l->lc->address, lc->address);
            return -1;
        }
    }
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        if (find_bound(list, cfg->listeners[i].name) == NULL) {
            snprintf(err, errlen,
                     "%s: listeners: listener %s is new; a listener is bound at start: "
                     "restart floodgated to open it",
                     cfg->path, cfg->listeners[i].name);
            return -1;
        }
    }
    return 0;
}

void listeners_use(struct listener *list, const struct config *cfg)
{
    for (struct listener *l = list; l; l = l->next) {
        const struct listener_config *lc = find_listener(cfg, l->lc->name);
        if (lc)
            l->lc = lc;
    }
}

void listeners_close(struct listener *list)
{
    while (list) {
        struct listener *next = list->next;
        evconnlistener_free(list->evl);
        free(list);
        list = next;
    }
}
