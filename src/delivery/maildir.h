/* delivery/maildir - deliver one message into a Maildir in the layout
 * Dovecot reads: <state>/mail/<domain>/<user>/Maildir/{tmp,new,cur}. */
#ifndef FLOODGATE_DELIVERY_MAILDIR_H
#define FLOODGATE_DELIVERY_MAILDIR_H

#include <stddef.h>
#include <time.h>

/* A source of the message octets: returns the count read at OFF (0 at
 * the end), -1 on error. */
typedef long (*maildir_read_fn)(void *ctx, size_t off, char *buf, size_t n);

/* maildir_deliver - write Return-Path and Delivered-To, then the message,
 * to tmp/, fsync, link into new/, fsync the directory (the order the
 * Maildir spec asks for).  BASE is the directory holding "mail/".  Returns
 * 0, or -1 with ERR set. */
int maildir_deliver(const char *base, const char *address, const char *sender, maildir_read_fn read,
                    void *ctx, char *err, size_t errlen);

/* maildir_path - "<base>/mail/<domain>/<local>/Maildir" for ADDRESS;
 * -1 when the address cannot name a safe directory. */
int maildir_path(const char *base, const char *address, char *buf, size_t len);

/* maildir_sweep_tmp - the Maildir convention's clean-up: remove every file
 * in <base>/mail/<domain>/<user>/Maildir/tmp/ not touched since BEFORE
 * (what a delivery cut short by a crash left; the convention's age is
 * 36 hours).  SWEPT (may be NULL) is told each path removed.  Returns the
 * count removed, -1 (errno set) when a directory cannot be read or a
 * file removed. */
typedef void (*maildir_swept_fn)(const char *path, void *arg);
int maildir_sweep_tmp(const char *base, time_t before, maildir_swept_fn swept, void *arg);

#endif
