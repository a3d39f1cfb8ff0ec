/* queue/spool - where a message body collects during DATA: the first
 * SPOOL_MEM_LIMIT octets in memory (enough for the headers an admin
 * searches), the rest in an unlinked temporary file, so a 25 MB message
 * never sits whole in memory. */
#ifndef FLOODGATE_QUEUE_SPOOL_H
#define FLOODGATE_QUEUE_SPOOL_H

#include <stdbool.h>
#include <stddef.h>

#define SPOOL_MEM_LIMIT (256 * 1024)

struct spool {
    char *mem; /* first part of the body */
    size_t mem_len;
    size_t mem_cap;
    int fd; /* spill file, -1 until needed */
    size_t file_len;
    const char *dir; /* where spill files are made */
    bool failed;     /* an allocation or write failed: the body is incomplete */
};

void spool_init(struct spool *sp, const char *dir);
/* spool_append - add N octets; on failure sets sp->failed and returns -1. */
int spool_append(struct spool *sp, const char *p, size_t n);
size_t spool_size(const struct spool *sp);
/* spool_read - copy up to N octets from offset OFF into BUF; returns the
 * count (0 at the end) or -1 on an I/O error. */
long spool_read(const struct spool *sp, size_t off, char *buf, size_t n);
/* spool_copy - COPY becomes a copy of SP that another thread may
 * spool_read while SP's owner goes on (or ends): the head copied, the
 * spill file's descriptor duplicated.  spool_free(COPY) when done.  -1
 * (COPY empty) when memory or descriptors run out. */
int spool_copy(const struct spool *sp, struct spool *copy);
/* spool_reset - empty it for the next message, keeping the memory. */
void spool_reset(struct spool *sp);
void spool_free(struct spool *sp);

#endif
