/* core/private_state - the state directory is private: 0700 directories,
 * 0600 files (they hold password hashes, TOTP secrets, DKIM keys and
 * mail).  Both programs run under umask 077, so what they create is born
 * private; this file narrows what an older version, a restored backup or
 * an admin's cp left wider, once, with one warning per path.
 *
 * Only the state directory and what is directly in it (the store and its
 * -wal/-shm, the log, the pid file, the socket, the marker, and the tops
 * of dkim/, mail/ and quarantine/) plus the DKIM keys are visited at each
 * start: the Maildirs and the quarantine may hold millions of files, and
 * behind a 0700 directory no other user can reach them anyway. */
#include "core/private_state.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/log.h"

/* narrow_one - take from PATH the mode bits outside KEEP; one warning when
 * something was taken.  Symbolic links are left alone (their target may
 * not be ours).  Returns 1 narrowed, 0 already private, -1 error. */
static int narrow_one(const char *path, mode_t keep)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -1;
    if (S_ISLNK(st.st_mode))
        return 0;
    mode_t was = st.st_mode & 07777;
    if ((was & ~keep) == 0)
        return 0;
    if (chmod(path, was & keep) < 0) {
        log_warnx("event=permissions_error path=%s was=%04o error=%s", log_quote(path),
                  (unsigned)was, log_quote(strerror(errno)));
        return -1;
    }
    log_warnx("event=permissions_narrowed path=%s was=%04o now=%04o", log_quote(path),
              (unsigned)was, (unsigned)(was & keep));
    return 1;
}

int private_narrow(const char *path, bool is_log)
{
    /* A log may stay readable by its group (Debian's adm reads
     * /var/log/mail.log): the admin gave it that group on purpose. */
    return narrow_one(path, is_log ? 0740 : 0700);
}

/* narrow_dir_entries - narrow DIR and every entry directly in it. */
static int narrow_dir_entries(const char *dir, const char *log_file)
{
    int n = 0, k;
    if ((k = private_narrow(dir, false)) > 0)
        n += k;
    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT ? n : -1;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path)
            continue;
        bool is_log = log_file && strcmp(path, log_file) == 0;
        if ((k = private_narrow(path, is_log)) > 0)
            n += k;
    }
    closedir(d);
    return n;
}

int private_state_narrow(const char *state_dir, const char *log_file)
{
    /* The real places: a state_dir that is a symbolic link (/var/lib/x ->
     * /srv/x) is narrowed where it points, and the log is recognised
     * however its path is spelled. */
    char dkim[4096], real_dir[PATH_MAX], real_log[PATH_MAX];
    if (realpath(state_dir, real_dir) != NULL)
        state_dir = real_dir;
    if (log_file && strcmp(log_file, "-") != 0 && realpath(log_file, real_log) != NULL)
        log_file = real_log;
    int n = narrow_dir_entries(state_dir, log_file);
    if (n < 0)
        return -1;
    if (snprintf(dkim, sizeof dkim, "%s/dkim", state_dir) < (int)sizeof dkim) {
        int k = narrow_dir_entries(dkim, NULL);
        n += k > 0 ? k : 0;
    }
    if (log_file && strcmp(log_file, "-") != 0) {
        int k = private_narrow(log_file, true);
        n += k > 0 ? k : 0;
    }
    return n;
}
