/* daemon/detach - going to the background like any daemon, but so that
 * whatever fails during start-up (a port taken, the store refused, the
 * switch of user) is still reported by the command the admin typed: the
 * parent waits on a pipe that is the child's stderr. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "daemon/daemon_internal.h"

/* True in a detached child until it serves: its stderr is then the pipe
 * to the waiting parent, so that fatal()'s message reaches the admin. */
static bool detached_starting;

/* wait_for_child - the parent of a detaching start: copy what the child
 * writes on the pipe FD to our stderr until it says it serves (a NUL
 * octet) or ends.  The exit code of floodgated -c FILE. */
static int wait_for_child(pid_t pid, int fd)
{
    char buf[4096];
    ssize_t n;
    bool ready = false, said = false;
    while ((n = read(fd, buf, sizeof buf)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        char *nul = memchr(buf, '\0', (size_t)n);
        size_t text = nul ? (size_t)(nul - buf) : (size_t)n;
        said |= text > 0;
        if (text > 0 && write_full(2, buf, text) < 0)
            break;
        if (nul) {
            ready = true;
            break;
        }
    }
    if (ready)
        return 0;
    int status = 0;
    if (waitpid(pid, &status, 0) == pid && WIFSIGNALED(status))
        fprintf(stderr, "floodgated: the server was killed by signal %d during start-up\n",
                WTERMSIG(status));
    else if (!said)
        fputs("floodgated: the server stopped during start-up without saying why; see the log\n",
              stderr);
    return 1;
}

/* daemon_detach - without -d: detach first, so that a later failure is
 * reported by the waiting parent, which exits 0 only when the child serves
 * (daemon_ready), else 1 with the child's error. */
void daemon_detach(void)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        fatal("event=start error=pipe_failed");
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        fatal("event=start error=fork_failed");
    if (pid > 0) {
        close(p[1]);
        _exit(wait_for_child(pid, p[0]));
    }
    close(p[0]);
    signal(SIGPIPE, SIG_IGN); /* a parent gone must not kill the start */
    setsid();
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, 0);
        dup2(fd, 1);
        if (fd > 2)
            close(fd);
    }
    dup2(p[1], 2);
    close(p[1]);
    detached_starting = true;
}

/* daemon_ready - the listeners and the control socket are open: tell the
 * waiting parent (one NUL octet) and let go of its pipe. */
void daemon_ready(void)
{
    if (!detached_starting)
        return;
    detached_starting = false;
    ssize_t w = write(2, "", 1);
    (void)w;
    int fd = open("/dev/null", O_WRONLY);
    if (fd >= 0) {
        dup2(fd, 2);
        if (fd > 2)
            close(fd);
    }
}
