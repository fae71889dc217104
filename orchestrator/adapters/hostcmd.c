/*
 * hostcmd.c - a command on the host with a deadline, its output captured
 * and capped, its process group ended and reaped whatever happens.
 *
 * The child is made with fork() and execve(); everything it needs (the
 * program's path, its environment, /dev/null) is prepared before the
 * fork, because ttdeploy has threads (the lock's heartbeat) and between
 * fork and exec only async-signal-safe calls may run.  An exec that fails
 * writes its errno into a close-on-exec pipe, so "not found" is an error
 * of ttdeploy's rather than an exit code 127 to guess about.
 *
 * The leader's end is noticed with waitid(WNOWAIT): the zombie keeps its
 * pid, so the group id cannot be reused while the group is signalled,
 * then it is reaped.
 */
#include "hostcmd.h"
#include "interrupt.h"
#include "monotime.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* The value of name in env (NAME=VALUE entries), else in the process environment, or NULL. */
static const char *env_value(const char *const *env, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; env && env[i]; i++)
        if (!strncmp(env[i], name, len) && env[i][len] == '=')
            return env[i] + len + 1;
    return getenv(name);
}

/* argv0 itself when it holds a '/', else its path on PATH (caller frees); NULL: not found. */
static char *find_program(const char *argv0, const char *const *env)
{
    if (strchr(argv0, '/'))
        return xstrdup(argv0);
    const char *path = env_value(env, "PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    struct buf b = {0};
    for (const char *p = path;; p++) {
        size_t n = strcspn(p, ":");
        buf_reset(&b);
        if (n)
            buf_add(&b, p, n);
        else
            buf_adds(&b, ".");
        buf_printf(&b, "/%s", argv0);
        struct stat st;
        if (stat(b.data, &st) == 0 && S_ISREG(st.st_mode) && access(b.data, X_OK) == 0)
            return buf_detach(&b);
        p += n;
        if (!*p)
            break;
    }
    buf_release(&b);
    return NULL;
}

/* The process environment with env's entries set over it (array and strings borrowed). */
static const char **child_env(const char *const *env)
{
    size_t n = 0, m = 0, k = 0;
    while (environ[n])
        n++;
    while (env && env[m])
        m++;
    const char **out = xcalloc(n + m + 1, sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        size_t len = strcspn(environ[i], "=");
        int replaced = 0;
        for (size_t j = 0; j < m && !replaced; j++)
            replaced = !strncmp(env[j], environ[i], len) && env[j][len] == '=';
        if (!replaced)
            out[k++] = environ[i];
    }
    for (size_t j = 0; j < m; j++)
        out[k++] = env[j];
    return out;
}

/*
 * Closes every descriptor from lo up but keep (which is close-on-exec).
 * close_range() may be missing (ENOSYS) or refused (seccomp): then one
 * close() per descriptor up to the limit; both are async-signal-safe.
 */
static void close_from(int lo, int keep)
{
    if ((keep <= lo || close_range((unsigned)lo, (unsigned)keep - 1, 0) == 0) &&
        close_range((unsigned)keep + 1, ~0U, 0) == 0)
        return;
    struct rlimit rl;
    int max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ? (int)rl.rlim_cur : 65536;
    for (int fd = lo; fd < max; fd++)
        if (fd != keep)
            close(fd);
}

/* In the child, between fork and exec: async-signal-safe calls only. */
static void exec_child(const char *path, const struct hostcmd *c, const char **envp, int devnull,
                       int out_w, int err_w)
{
    sigset_t none;
    /* ttdeploy's handlers go before the signals the parent blocked are let in */
    signal(SIGPIPE, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    setpgid(0, 0);
    if (dup2(devnull, 0) < 0 || dup2(out_w, 1) < 0 || dup2(out_w, 2) < 0)
        goto fail;
    if (err_w <= 2) /* never: 0, 1 and 2 are open in ttdeploy */
        goto fail;
    /* err_w is close-on-exec: everything from 3 but it goes at exec */
    close_from(3, err_w);
    execve(path, (char *const *)c->argv, (char *const *)envp);
fail:;
    int e = errno;
    ssize_t w = write(err_w, &e, sizeof(e));
    (void)w;
    _exit(127);
}

/* Keeps the last cap bytes of what was read into r->output. */
static void keep_tail(struct hostcmd_result *r, const char *data, size_t n, size_t cap)
{
    r->output_total += n;
    buf_add(&r->output, data, n);
    if (r->output.len > 2 * cap) { /* amortised: move only once twice the cap is held */
        memmove(r->output.data, r->output.data + r->output.len - cap, cap);
        r->output.len = cap;
        r->output.data[cap] = '\0';
    }
}

/*
 * Reads what the pipe holds now, at most 16 chunks (a command that writes
 * without pause must not keep the caller from its deadline); 1 at end of
 * file.
 */
static int drain(int fd, struct hostcmd_result *r, size_t cap)
{
    char chunk[8192];
    for (int reads = 0; reads < 16; reads++) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n > 0) {
            keep_tail(r, chunk, (size_t)n, cap);
            continue;
        }
        if (n == 0)
            return 1;
        return errno == EAGAIN || errno == EINTR ? 0 : 1;
    }
    return 0;
}

/* Whether the leader has ended (kept a zombie: its pid stays the group's). */
static int leader_ended(pid_t pid)
{
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
}

/* Waits for the group: output read, deadline and stop signal minded, leader reaped. */
static void supervise(pid_t pid, int out_r, const struct hostcmd *c, struct hostcmd_result *r,
                      double t0)
{
    size_t cap = c->output_cap ? c->output_cap : HOSTCMD_OUTPUT_CAP;
    double deadline = t0 + c->timeout_ms / 1000.0, term_at = 0;
    int eof = 0, status = 0;

    for (;;) {
        double now = monotime_now();
        if (leader_ended(pid)) {
            if (!eof)
                drain(out_r, r, cap);
            break;
        }
        if (!term_at && (now >= deadline || interrupt_signal())) {
            r->interrupted = interrupt_signal() != 0 && now < deadline;
            r->timed_out = !r->interrupted;
            kill(-pid, SIGTERM);
            term_at = now;
        }
        if (term_at && now >= term_at + HOSTCMD_GRACE_MS / 1000.0) {
            kill(-pid, SIGKILL);
            break; /* dies: reaped below */
        }
        struct pollfd p = {.fd = out_r, .events = POLLIN};
        int wait_ms = 50; /* the leader's end is polled: no SIGCHLD handler to disturb */
        if (!eof && poll(&p, 1, wait_ms) > 0)
            eof = drain(out_r, r, cap);
        else if (eof)
            poll(NULL, 0, wait_ms);
    }
    kill(-pid, SIGKILL); /* what it left in its group; the zombie leader holds the group id */
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!eof)
        drain(out_r, r, cap); /* what is there now; a holder outside the group is not waited */
    r->code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    if (r->output.len > cap) {
        memmove(r->output.data, r->output.data + r->output.len - cap, cap);
        r->output.len = cap;
        r->output.data[cap] = '\0';
    }
}

int hostcmd_run(const struct hostcmd *c, struct hostcmd_result *r, struct tt_err *err)
{
    int out[2] = {-1, -1}, ep[2] = {-1, -1}, devnull = -1, rc = -1;
    char *path = NULL;
    const char **envp = NULL;
    double t0 = monotime_now();

    memset(r, 0, sizeof(*r));
    r->code = -1;
    if (!c->argv || !c->argv[0] || !c->argv[0][0])
        return tt_error(err, "no command to run");
    if (!(path = find_program(c->argv[0], c->env)))
        return tt_error(err, "cannot run %s: not found on PATH", c->argv[0]);
    envp = child_env(c->env);
    if ((devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0 || pipe2(out, O_CLOEXEC) < 0 ||
        pipe2(ep, O_CLOEXEC) < 0) {
        tt_error(err, "cannot run %s: %s", c->argv[0], strerror(errno));
        goto out;
    }
    sigset_t all, was;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &was); /* no handler of ttdeploy's runs in the child */
    pid_t pid = fork();
    if (pid == 0)
        exec_child(path, c, envp, devnull, out[1], ep[1]);
    pthread_sigmask(SIG_SETMASK, &was, NULL);
    if (pid < 0) {
        tt_error(err, "cannot run %s: fork: %s", c->argv[0], strerror(errno));
        goto out;
    }
    setpgid(pid, pid); /* also here: no signal to the group can come before the child's own */
    close(out[1]);
    close(ep[1]);
    out[1] = ep[1] = -1;
    int child_errno = 0;
    ssize_t n;
    while ((n = read(ep[0], &child_errno, sizeof(child_errno))) < 0 && errno == EINTR)
        ;
    if (n == sizeof(child_errno)) { /* the exec failed: the child exits 127 at once */
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        tt_error(err, "cannot run %s: %s", path, strerror(child_errno));
        goto out;
    }
    fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
    supervise(pid, out[0], c, r, t0);
    r->seconds = monotime_now() - t0;
    rc = 0;
out:
    for (int i = 0; i < 2; i++) {
        if (out[i] >= 0)
            close(out[i]);
        if (ep[i] >= 0)
            close(ep[i]);
    }
    if (devnull >= 0)
        close(devnull);
    free(envp);
    free(path);
    return rc;
}

void hostcmd_result_clear(struct hostcmd_result *r)
{
    buf_release(&r->output);
}

void hostcmd_describe(const struct hostcmd_result *r, long timeout_ms, struct buf *out)
{
    if (r->timed_out)
        buf_printf(out,
                   "timed out after %.1f s (the limit is %.1f s): its process group was "
                   "terminated",
                   r->seconds, timeout_ms / 1000.0);
    else if (r->interrupted)
        buf_printf(out, "stopped by ttdeploy's stop signal after %.1f s", r->seconds);
    else if (r->signal)
        buf_printf(out, "killed by SIG%s after %.1f s",
                   sigabbrev_np(r->signal) ? sigabbrev_np(r->signal) : "?", r->seconds);
    else
        buf_printf(out, "exit %d after %.1f s", r->code, r->seconds);
}
