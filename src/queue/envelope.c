/* queue/envelope - recipients of a message and its insertion in the store. */
#include "queue/envelope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/queue.h"
#include "store/store.h"

/* Past this many recipients, duplicates are found through a hash index
 * instead of a scan: a list of 10,000 would otherwise cost 50 million
 * comparisons. */
#define RCPT_INDEX_FROM 16

static char indexed; /* the value of every index entry */

/* rcpt_index - build ENV's index of its recipients; -1 out of memory. */
static int rcpt_index(struct envelope *env)
{
    if ((env->rcpt_index = strmap_new()) == NULL)
        return -1;
    for (size_t i = 0; i < env->n_rcpts; i++)
        if (strmap_put(env->rcpt_index, env->rcpts[i].address, &indexed, NULL) < 0)
            return -1;
    return 0;
}

/* has_rcpt - is ADDRESS among ENV's recipients?  -1 out of memory. */
static int has_rcpt(struct envelope *env, const char *address)
{
    if (env->rcpt_index == NULL && env->n_rcpts < RCPT_INDEX_FROM) {
        for (size_t i = 0; i < env->n_rcpts; i++)
            if (strcmp(env->rcpts[i].address, address) == 0)
                return 1;
        return 0;
    }
    if (env->rcpt_index == NULL && rcpt_index(env) < 0)
        return -1;
    return strmap_get(env->rcpt_index, address) != NULL;
}

int envelope_add_rcpt(struct envelope *env, const char *address, const char *orig, bool local)
{
    int has = has_rcpt(env, address);
    if (has != 0)
        return has > 0 ? 0 : -1;
    if (env->n_rcpts == env->cap_rcpts) {
        size_t cap = env->cap_rcpts ? env->cap_rcpts * 2 : 4;
        struct envelope_rcpt *r = realloc(env->rcpts, cap * sizeof *r);
        if (r == NULL)
            return -1;
        env->rcpts = r;
        env->cap_rcpts = cap;
    }
    struct envelope_rcpt *r = &env->rcpts[env->n_rcpts];
    r->address = strdup(address);
    r->orig = strdup(orig);
    r->local = local;
    r->deferred_why = NULL;
    r->deferred_until = 0;
    if (r->address == NULL || r->orig == NULL ||
        (env->rcpt_index && strmap_put(env->rcpt_index, address, &indexed, NULL) < 0)) {
        free(r->address);
        free(r->orig);
        return -1;
    }
    env->n_rcpts++;
    return 1;
}

void envelope_truncate(struct envelope *env, size_t n)
{
    while (env->n_rcpts > n) {
        struct envelope_rcpt *r = &env->rcpts[--env->n_rcpts];
        if (env->rcpt_index)
            strmap_del(env->rcpt_index, r->address);
        free(r->address);
        free(r->orig);
        free(r->deferred_why);
    }
}

void envelope_clear(struct envelope *env)
{
    char **fields[] = {&env->sender,     &env->auth_user,   &env->auth_app_password,
                       &env->client_ip,  &env->helo,        &env->tls,
                       &env->listener,   &env->header_from, &env->subject,
                       &env->message_id, &env->trace};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        free(*fields[i]);
        *fields[i] = NULL;
    }
    for (size_t i = 0; i < env->n_rcpts; i++) {
        free(env->rcpts[i].address);
        free(env->rcpts[i].orig);
        free(env->rcpts[i].deferred_why);
    }
    env->n_rcpts = 0;
    strmap_free(env->rcpt_index, NULL);
    env->rcpt_index = NULL;
    env->body = NULL;
    env->held = false;
}

size_t envelope_size(const struct envelope *env)
{
    return (env->trace ? strlen(env->trace) : 0) + (env->body ? spool_size(env->body) : 0);
}

/* fill_from_spool - the store's reader of the body: the spool SP. */
static long fill_from_spool(void *sp, size_t off, char *buf, size_t n)
{
    return spool_read(sp, off, buf, n);
}

/* envelope_store - the message row, one row per recipient, then the
 * body: the trace header and the spool, in the caller's transaction. */
int envelope_store(store_db *db, const struct envelope *env, char *err, size_t errlen)
{
    size_t size = envelope_size(env);
    const struct store_message m = {
        .id = env->id,
        .created = env->created,
        .size = (long long)size,
        .sender = env->sender,
        .auth_user = env->auth_user,
        .client_ip = env->client_ip,
        .client_port = env->client_port,
        .helo = env->helo,
        .tls = env->tls,
        .listener = env->listener,
        .header_from = env->header_from,
        .subject = env->subject,
        .message_id = env->message_id,
        .auth_app_password = env->auth_app_password,
    };
    if (store_queue_insert_message(db, &m, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < env->n_rcpts; i++) {
        const struct envelope_rcpt *r = &env->rcpts[i];
        if (store_queue_insert_recipient(db, env->id, r->address, r->orig, r->local, env->created,
                                         env->held, (long long)r->deferred_until,
                                         r->deferred_why, err, errlen) < 0)
            return -1;
    }
    return store_queue_insert_body(
        db, env->id, size, env->trace, env->trace ? strlen(env->trace) : 0,
        env->body ? fill_from_spool : NULL, (void *)env->body, err, errlen);
}
