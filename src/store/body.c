/* store/body - a message body read through an incremental blob handle
 * (see body.h): the body is never copied whole into memory here, so a
 * large message costs its reader's buffer, not its size. */
#include "store/body.h"

#include <stdlib.h>

#include "store/store_sql.h"

struct store_body {
    sqlite3_blob *blob;
    size_t size;
};

struct store_body *store_body_get(store_db *db, const char *qid)
{
    struct store_body *b = calloc(1, sizeof *b);
    if (b == NULL)
        return NULL;
    if (store_body_open(db, qid, &b->blob) < 0) {
        free(b);
        return NULL;
    }
    b->size = (size_t)sqlite3_blob_bytes(b->blob);
    return b;
}

size_t store_body_size(const struct store_body *b)
{
    return b->size;
}

long store_body_read(void *body, size_t off, char *buf, size_t n)
{
    struct store_body *b = body;
    if (off >= b->size)
        return 0;
    if (n > b->size - off)
        n = b->size - off;
    /* sqlite3_blob_read takes int sizes: a blob is below 2 GiB (SQLite's
     * own SQLITE_MAX_LENGTH), and N is clamped to what is left of it. */
    return sqlite3_blob_read(b->blob, buf, (int)n, (int)off) == SQLITE_OK ? (long)n : -1;
}

void store_body_close(struct store_body *b)
{
    if (b == NULL)
        return;
    sqlite3_blob_close(b->blob);
    free(b);
}
