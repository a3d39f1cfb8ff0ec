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

void listeners_close(struct listener *list)
{
    while (list) {
        struct listener *next = list->next;
        evconnlistener_free(list->evl);
        free(list);
        list = next;
    }
}
