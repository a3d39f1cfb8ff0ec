/* core/privs - dropping root privileges. */
#include "core/privs.h"

#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void chown_tree_top(const char *dir, uid_t uid, gid_t gid)
{
    if (chown(dir, uid, gid) < 0)
        return;
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        /* the group stays: a log file the admin gave to a reading group
         * (adm) keeps it */
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path)
            if (lchown(path, uid, (gid_t)-1) < 0)
                continue;
    }
    closedir(d);
}

int privs_drop(const char *user, const char *state_dir, char *err, size_t errlen)
{
    if (geteuid() != 0)
        return 0;
    if (user == NULL || *user == '\0') {
        snprintf(err, errlen, "started as root but the config names no 'user' to run as; "
                              "add for example: user = \"floodgate\";");
        return -1;
    }
    struct passwd *pw = getpwnam(user);
    if (pw == NULL) {
        snprintf(err, errlen, "user \"%s\" does not exist; create it (useradd --system %s) or "
                              "change 'user' in the config", user, user);
        return -1;
    }
    if (pw->pw_uid == 0)
        return 0; /* the admin asked for root explicitly */
    chown_tree_top(state_dir, pw->pw_uid, pw->pw_gid);
    if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
        snprintf(err, errlen, "cannot become user %s: %s", user, strerror(errno));
        return -1;
    }
    if (setuid(0) == 0) {
        snprintf(err, errlen, "privileges could be regained after dropping them");
        return -1;
    }
    return 0;
}
