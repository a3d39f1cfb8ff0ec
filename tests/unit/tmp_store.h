/* tests/unit/tmp_store - a real store in a fresh temporary directory for the
 * unit tests that need SQLite (no mocks: the schema, pragmas and locking are
 * the daemon's own). */
#ifndef FLOODGATE_TESTS_TMP_STORE_H
#define FLOODGATE_TESTS_TMP_STORE_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

#include "store/store.h"

/* tmp_store_open - make /tmp/NAME.XXXXXX into DIR and open a new store in
 * it (schema created); PATH receives the store's path.  NULL on failure,
 * with the reason on stderr. */
static inline sqlite3 *tmp_store_open(const char *name, char *dir, size_t dirlen, char *path,
                                      size_t pathlen)
{
    char err[256];
    snprintf(dir, dirlen, "/tmp/%s.XXXXXX", name);
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return NULL;
    }
    sqlite3 *db = store_open(store_path(dir, path, pathlen), err, sizeof err);
    if (db == NULL)
        fprintf(stderr, "%s: %s\n", path, err);
    return db;
}

/* tmp_store_remove_one - nftw callback: delete PATH. */
static inline int tmp_store_remove_one(const char *path, const struct stat *st, int flag,
                                       struct FTW *ftw)
{
    return remove(path);
}

/* tmp_store_remove - delete DIR and everything under it. */
static inline int tmp_store_remove(const char *dir)
{
    return nftw(dir, tmp_store_remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

#endif
