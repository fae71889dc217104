/*
 * engine_ssh.c - the ssh:// transport: HTTP to a remote dockerd through
 * `ssh host docker system dial-stdio`, as the docker CLI does it.
 *
 * Each connection libcurl opens is one ssh process whose stdin and stdout
 * are the other end of libcurl's socket: parallel requests on the multi
 * handle are parallel ssh processes, a stream (exec, /events) is one ssh
 * for as long as it runs, and idle connections are reused as libcurl
 * reuses them.
 *
 * How libcurl gets that socket: the obvious way, a socketpair handed over
 * by CURLOPT_OPENSOCKETFUNCTION and declared connected by
 * CURLOPT_SOCKOPTFUNCTION (CURL_SOCKOPT_ALREADY_CONNECTED), fails with
 * libcurl 7.88 (Debian 12's), which calls connect() on it anyway ("Couldn't
 * connect to server"; curl issue #10626, fixed in 8.0).  So the engine
 * listens on a unix socket of its own, in a folder only this user may
 * enter (removed by engine_ssh_free()), that libcurl connects to as to
 * any unix socket (CURLOPT_UNIX_SOCKET_PATH); before each request
 * (CURLOPT_PREREQFUNCTION, once the connection is made) the connections
 * waiting there are accepted, each given to a new ssh as its stdin and
 * stdout.  Only this process's own connections are served (SO_PEERCRED):
 * another process on the machine that connects to the name is dropped.
 * When libcurl closes its end (CURLOPT_CLOSESOCKETFUNCTION) ssh reads the
 * end of its stdin and exits; exited children are reaped then, at the
 * next connection, or by engine_ssh_free(), which ends stragglers with
 * SIGTERM then SIGKILL: no zombie outlives the engine.
 *
 * Every descriptor made here is O_CLOEXEC and the child closes all but
 * 0-2 before exec, so no ssh holds another's socket, a lock file or the
 * store.  ssh runs in its own process group, so the terminal's Ctrl-C
 * reaches ttdeploy alone, which then finishes or undoes the step in
 * flight through ssh still running.  Its stderr goes to a pipe whose last
 * SSH_SAID_MAX bytes are kept: when an ssh exits with a failure ("Host
 * key verification failed.", "Permission denied (publickey).", "docker:
 * command not found") that text goes into the error the request gives.
 */
#include "engine_int.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SSH_SAID_MAX 2048
/* How long engine_ssh_said() waits for a failing ssh to exit, so that what it said is known. */
#define SSH_SAID_WAIT_MS 500
/* How long engine_ssh_free() waits after closing stdin, then after SIGTERM. */
#define SSH_END_WAIT_MS 1000

struct ssh_child {
    pid_t pid;
    int err_fd; /* the read end of its stderr */
    struct buf said;
};

struct engine_ssh {
    char *ssh;      /* the ssh found on PATH */
    char *argv[20]; /* its arguments; the strings below are owned here */
    char timeout_opt[40], port_text[12];
    char *user, *host;
    int listen_fd;
    char *dir;                                              /* private, holding the socket */
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* dir/s */
    struct ssh_child *kids;
    size_t n, cap;
    char *last_said; /* of the last ssh that failed */
};

/* The first executable "ssh" in $PATH (the caller frees), or NULL. */
static char *find_ssh(void)
{
    const char *path = getenv("PATH");
    struct buf b = {0};

    for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
        size_t n = strcspn(p, ":");
        buf_reset(&b);
        buf_printf(&b, "%.*s/ssh", (int)n, n ? p : ".");
        if (access(b.data, X_OK) == 0)
            return buf_detach(&b);
        p += n + (p[n] == ':');
    }
    buf_release(&b);
    return NULL;
}

/*
 * Listens on dir/s, dir a new folder only this user may enter (the
 * socket is a file, not an abstract name: libcurl 7.88 never reuses a
 * connection to an abstract socket, whose name it reads as empty).
 */
static int listen_private(struct engine_ssh *s, struct tt_err *err)
{
    const char *tmp = getenv("TMPDIR");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct buf dir = {0};

    buf_printf(&dir, "%s/ttdeploy-ssh-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir.data)) {
        tt_error(err,
                 "ssh://%s: cannot make a folder in %s for the socket libcurl talks to ssh "
                 "through: %s",
                 s->host, tmp && *tmp ? tmp : "/tmp", strerror(errno));
        buf_release(&dir);
        return -1;
    }
    s->dir = buf_detach(&dir);
    if (strlen(s->dir) + 3 > sizeof(sa.sun_path))
        return tt_error(err,
                        "ssh://%s: the socket path %s/s is too long: set TMPDIR to a "
                        "shorter folder",
                        s->host, s->dir);
    snprintf(s->path, sizeof(s->path), "%s/s", s->dir);
    memcpy(sa.sun_path, s->path, strlen(s->path) + 1);
    s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s->listen_fd < 0 || bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(s->listen_fd, 128) < 0)
        return tt_error(err,
                        "ssh://%s: cannot listen on %s, the socket libcurl talks to ssh "
                        "through: %s",
                        s->host, s->path, strerror(errno));
    return 0;
}

struct engine_ssh *engine_ssh_new(const char *user, const char *host, int port, long connect_ms,
                                  struct tt_err *err)
{
    struct engine_ssh *s;
    char *ssh = find_ssh();
    int i = 0;

    if (!ssh) {
        tt_error(err,
                 "ssh://%s needs the ssh command, and there is none on PATH: install "
                 "openssh-client",
                 host);
        return NULL;
    }
    s = xcalloc(1, sizeof(*s));
    s->ssh = ssh;
    s->user = user ? xstrdup(user) : NULL;
    s->host = xstrdup(host);
    s->listen_fd = -1;
    if (listen_private(s, err) < 0) {
        engine_ssh_free(s);
        return NULL;
    }
    snprintf(s->timeout_opt, sizeof(s->timeout_opt), "ConnectTimeout=%ld",
             connect_ms > 0 ? (connect_ms + 999) / 1000 : 10);
    s->argv[i++] = "ssh";
    s->argv[i++] = "-T";
    s->argv[i++] = "-o";
    s->argv[i++] = "BatchMode=yes";
    s->argv[i++] = "-o";
    s->argv[i++] = s->timeout_opt;
    if (s->user) {
        s->argv[i++] = "-l";
        s->argv[i++] = s->user;
    }
    if (port) {
        snprintf(s->port_text, sizeof(s->port_text), "%d", port);
        s->argv[i++] = "-p";
        s->argv[i++] = s->port_text;
    }
    s->argv[i++] = "--";
    s->argv[i++] = s->host;
    s->argv[i++] = "docker";
    s->argv[i++] = "system";
    s->argv[i++] = "dial-stdio";
    s->argv[i] = NULL;
    return s;
}

/* Keeps what ssh wrote on stderr since last time (its last SSH_SAID_MAX bytes). */
static void drain_stderr(struct ssh_child *c)
{
    char chunk[1024];
    ssize_t n;

    while (c->err_fd >= 0 && (n = read(c->err_fd, chunk, sizeof(chunk))) > 0) {
        buf_add(&c->said, chunk, (size_t)n);
        if (c->said.len > SSH_SAID_MAX) {
            size_t cut = c->said.len - SSH_SAID_MAX;
            memmove(c->said.data, c->said.data + cut, SSH_SAID_MAX);
            c->said.len = SSH_SAID_MAX;
            c->said.data[c->said.len] = '\0';
        }
    }
}

/* Records, for messages, what a failed ssh said: its stderr on one line, and how it ended. */
static void remember_failure(struct engine_ssh *s, struct ssh_child *c, int status)
{
    struct buf b = {0};
    const char *p = c->said.data ? c->said.data : "";

    for (; *p; p++) {
        if (*p == '\r')
            continue;
        if (*p == '\n') {
            if (b.len && p[1])
                buf_adds(&b, " / ");
        } else {
            buf_addc(&b, *p);
        }
    }
    if (WIFEXITED(status))
        buf_printf(&b, "%s(ssh exit status %d)", b.len ? " " : "", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        buf_printf(&b, "%s(ssh killed by signal %d)", b.len ? " " : "", WTERMSIG(status));
    free(s->last_said);
    s->last_said = buf_detach(&b);
}

/* Reaps the children that have exited (remembering what a failed one said); how many are left. */
static size_t reap(struct engine_ssh *s)
{
    for (size_t i = 0; i < s->n;) {
        struct ssh_child *c = &s->kids[i];
        int status;
        drain_stderr(c);
        pid_t r = waitpid(c->pid, &status, WNOHANG);
        if (r == 0 || (r < 0 && errno == EINTR)) {
            i++;
            continue;
        }
        drain_stderr(c);
        if (r == c->pid && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
            remember_failure(s, c, status);
        if (c->err_fd >= 0)
            close(c->err_fd);
        buf_release(&c->said);
        s->kids[i] = s->kids[--s->n];
    }
    return s->n;
}

/* In the child, between fork and exec: async-signal-safe calls only. */
static void exec_ssh(const struct engine_ssh *s, int sock, int err_w)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    setpgid(0, 0); /* the terminal's Ctrl-C is for ttdeploy, which decides */
    if (dup2(sock, 0) < 0 || dup2(sock, 1) < 0 || dup2(err_w, 2) < 0)
        _exit(126);
    close_range(3, ~0U, 0);
    execv(s->ssh, s->argv);
    _exit(127);
}

/* Starts one ssh speaking for connection sock (then closed here: ssh holds it). */
static void spawn(struct engine_ssh *s, int sock)
{
    int ep[2];
    pid_t pid;

    if (pipe2(ep, O_CLOEXEC) < 0) {
        close(sock); /* libcurl sees the connection end: the request fails, naming it */
        return;
    }
    fcntl(ep[0], F_SETFL, O_NONBLOCK);
    pid = fork();
    if (pid == 0)
        exec_ssh(s, sock, ep[1]);
    close(sock);
    close(ep[1]);
    if (pid < 0) {
        close(ep[0]);
        return;
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->kids = xrealloc(s->kids, s->cap * sizeof(*s->kids));
    }
    s->kids[s->n++] = (struct ssh_child){.pid = pid, .err_fd = ep[0]};
}

/* Gives each connection libcurl has made since last time its ssh; drops strangers'. */
static void accept_pending(struct engine_ssh *s)
{
    int fd;

    while ((fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
        struct ucred cred;
        socklen_t len = sizeof(cred);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.pid != getpid()) {
            close(fd);
            continue;
        }
        spawn(s, fd);
    }
}

static int on_prereq(void *clientp, char *primary_ip, char *local_ip, int primary_port,
                     int local_port)
{
    (void)primary_ip, (void)local_ip, (void)primary_port, (void)local_port;
    reap(clientp);
    accept_pending(clientp);
    return CURL_PREREQFUNC_OK;
}

static int on_close(void *clientp, curl_socket_t fd)
{
    close(fd); /* its ssh reads the end of its stdin and exits */
    reap(clientp);
    return 0;
}

void engine_ssh_setup(struct engine_ssh *s, void *curl)
{
    curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, s->path);
    curl_easy_setopt(curl, CURLOPT_PREREQFUNCTION, on_prereq);
    curl_easy_setopt(curl, CURLOPT_PREREQDATA, s);
    curl_easy_setopt(curl, CURLOPT_CLOSESOCKETFUNCTION, on_close);
    curl_easy_setopt(curl, CURLOPT_CLOSESOCKETDATA, s);
}

/* Waits up to wait_ms for the children to exit (after sig, when not 0). */
static void end_all(struct engine_ssh *s, int sig, long wait_ms)
{
    struct timespec tick = {0, 10 * 1000 * 1000};

    for (size_t i = 0; sig && i < s->n; i++)
        kill(s->kids[i].pid, sig);
    for (long waited = 0; reap(s) && waited < wait_ms; waited += 10)
        nanosleep(&tick, NULL);
}

const char *engine_ssh_said(struct engine_ssh *s)
{
    struct timespec tick = {0, 10 * 1000 * 1000};

    if (!s)
        return NULL;
    /* A request failed: the ssh behind it is exiting, or has; what it said is the reason. */
    for (long waited = 0; !s->last_said && waited < SSH_SAID_WAIT_MS; waited += 10) {
        reap(s);
        if (!s->last_said)
            nanosleep(&tick, NULL);
    }
    return s->last_said;
}

void engine_ssh_free(struct engine_ssh *s)
{
    if (!s)
        return;
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->path[0])
        unlink(s->path);
    if (s->dir)
        rmdir(s->dir);
    free(s->dir);
    end_all(s, 0, SSH_END_WAIT_MS);
    end_all(s, SIGTERM, SSH_END_WAIT_MS);
    end_all(s, SIGKILL, SSH_END_WAIT_MS);
    free(s->kids);
    free(s->ssh);
    free(s->user);
    free(s->host);
    free(s->last_said);
    free(s);
}
