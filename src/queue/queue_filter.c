/* queue/queue_filter - a selection of queued messages as the control
 * protocol carries it (JSON), and the durations an admin types ("15m").
 * The store turns a selection into SQL (store/queue_filter). */
#include "queue/queue_filter.h"

#include <ctype.h>
#include <stdlib.h>

#include <jansson.h>

/* The string members of a filter, by their JSON key. */
#define FILTER_STRINGS(X)                                                                          \
    X(auth_user)                                                                                   \
    X(ip) X(from) X(header_from) X(rcpt) X(rcpt_domain) X(subject) X(state) X(listener) X(sort)

/* queue_filter_from_json - the filter's keys, read back from OBJ. */
int queue_filter_from_json(json_t *obj, struct queue_filter *f, const char **ids, size_t max)
{
#define GET(k) f->k = json_string_value(json_object_get(obj, #k));
    FILTER_STRINGS(GET)
#undef GET
    f->unauthenticated = json_is_true(json_object_get(obj, "unauthenticated"));
    f->descending = json_is_true(json_object_get(obj, "descending"));
    f->older_than = json_integer_value(json_object_get(obj, "older_than"));
    f->newer_than = json_integer_value(json_object_get(obj, "newer_than"));
    f->limit = (unsigned)json_integer_value(json_object_get(obj, "limit"));
    json_t *arr = json_object_get(obj, "ids"), *v;
    size_t i;
    if (json_array_size(arr) > max)
        return -1;
    json_array_foreach(arr, i, v) ids[i] = json_string_value(v) ? json_string_value(v) : "";
    f->ids = ids;
    f->n_ids = json_array_size(arr);
    return 0;
}

/* queue_filter_to_json - only what is set: a string member that is not
 * NULL (an empty "from" is the null sender, a choice), a flag that is
 * true, a number that is not 0, the ids when there are any.
 * queue_filter_from_json reads a missing key as unset, and the audit
 * trail records the object as the admin's selection. */
json_t *queue_filter_to_json(const struct queue_filter *f)
{
    json_t *o = json_object();
    int bad = o == NULL;
#define PUT(k) bad |= f->k && json_object_set_new(o, #k, json_string(f->k)) < 0;
    if (!bad) {
        FILTER_STRINGS(PUT)
    }
#undef PUT
    if (!bad && f->unauthenticated)
        bad |= json_object_set_new(o, "unauthenticated", json_true()) < 0;
    if (!bad && f->descending)
        bad |= json_object_set_new(o, "descending", json_true()) < 0;
    if (!bad && f->older_than)
        bad |= json_object_set_new(o, "older_than", json_integer((json_int_t)f->older_than)) < 0;
    if (!bad && f->newer_than)
        bad |= json_object_set_new(o, "newer_than", json_integer((json_int_t)f->newer_than)) < 0;
    if (!bad && f->limit)
        bad |= json_object_set_new(o, "limit", json_integer((json_int_t)f->limit)) < 0;
    json_t *ids = !bad && f->n_ids > 0 ? json_array() : NULL;
    bad |= f->n_ids > 0 && ids == NULL;
    for (size_t i = 0; !bad && i < f->n_ids; i++)
        bad |= json_array_append_new(ids, json_string(f->ids[i])) < 0;
    if (!bad && ids != NULL)
        bad |= json_object_set_new(o, "ids", ids) < 0; /* takes IDS either way */
    else
        json_decref(ids);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* parse_duration - a number and one unit letter, at most a century. */
int parse_duration(const char *s, long long *out)
{
    char *end;
    if (s == NULL || !isdigit((unsigned char)*s))
        return -1;
    long long v = strtoll(s, &end, 10);
    long long unit = 1;
    switch (*end) {
    case '\0':
    case 's':
        unit = 1;
        break;
    case 'm':
        unit = 60;
        break;
    case 'h':
        unit = 3600;
        break;
    case 'd':
        unit = 86400;
        break;
    case 'w':
        unit = 7 * 86400;
        break;
    default:
        return -1;
    }
    if (*end && end[1] != '\0')
        return -1;
    if (v < 0 || v > 100LL * 365 * 86400 / unit)
        return -1;
    *out = v * unit;
    return 0;
}
