/*
 * test_hostcmd.c - a command on the host: exit codes and signals as they
 * were, the environment set over ttdeploy's, the deadline ending the whole
 * process group (SIGTERM, then SIGKILL for one that ignores it), the
 * output's tail kept under the cap, a stop signal ending it early, and no
 * descriptor of ours leaking into it.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hostcmd.h"
#include "interrupt.h"

static int run_sh(const char *script, long timeout_ms, size_t cap, const char *const *env,
                  struct hostcmd_result *r)
{
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    struct hostcmd c = {argv, env, timeout_ms, cap};
    struct tt_err err = {0};
    int rc = hostcmd_run(&c, r, &err);
    cr_assert_eq(rc, 0, "%s", err.msg);
    return rc;
}

/*
 * Whether a process whose command line matches "sleep NUMBER" is alive (the
 * pattern's [s] does not match the shell that runs pgrep).
 */
static int alive(const char *number)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "pgrep -f '[s]leep %s' >/dev/null", number);
    return system(cmd) == 0;
}

Test(hostcmd, exit_codes_and_output)
{
    struct hostcmd_result r;
    run_sh("echo out; echo err >&2; exit 3", 5000, 0, NULL, &r);
    cr_assert_eq(r.code, 3);
    cr_assert_eq(r.signal, 0);
    cr_assert(!r.timed_out && !r.interrupted);
    cr_assert_str_eq(r.output.data, "out\nerr\n");
    struct buf d = {0};
    hostcmd_describe(&r, 5000, &d);
    cr_assert(!strncmp(d.data, "exit 3 after", 12), "%s", d.data);
    buf_release(&d);
    hostcmd_result_clear(&r);

    run_sh("kill -USR1 $$", 5000, 0, NULL, &r);
    cr_assert_eq(r.code, -1);
    cr_assert_eq(r.signal, SIGUSR1);
    hostcmd_result_clear(&r);

    run_sh("read x; echo \"[$x]\"", 5000, 0, NULL, &r); /* stdin is /dev/null: no wait */
    cr_assert_str_eq(r.output.data, "[]\n");
    hostcmd_result_clear(&r);
}

Test(hostcmd, argv_is_looked_up_on_path_and_missing_is_an_error)
{
    const char *argv[] = {"true", NULL};
    struct hostcmd c = {argv, NULL, 5000, 0};
    struct hostcmd_result r;
    struct tt_err err = {0};
    cr_assert_eq(hostcmd_run(&c, &r, &err), 0, "%s", err.msg);
    cr_assert_eq(r.code, 0);
    hostcmd_result_clear(&r);
    const char *missing[] = {"ttdeploy-no-such-program", NULL};
    c.argv = missing;
    cr_assert_eq(hostcmd_run(&c, &r, &err), -1);
    cr_assert_str_eq(err.msg, "cannot run ttdeploy-no-such-program: not found on PATH");
    const char *noexec[] = {"/etc/hostname", NULL};
    c.argv = noexec;
    cr_assert_eq(hostcmd_run(&c, &r, &err), -1);
    cr_assert(!strncmp(err.msg, "cannot run /etc/hostname: ", 26), "%s", err.msg);
}

Test(hostcmd, env_is_set_over_ours)
{
    struct hostcmd_result r;
    const char *env[] = {"HOSTCMD_A=one", "HOME=/elsewhere", NULL};
    setenv("HOSTCMD_B", "two", 1);
    run_sh("echo $HOSTCMD_A $HOSTCMD_B $HOME", 5000, 0, env, &r);
    cr_assert_str_eq(r.output.data, "one two /elsewhere\n");
    hostcmd_result_clear(&r);
}

Test(hostcmd, the_deadline_ends_the_whole_group)
{
    struct hostcmd_result r;
    /* a background child, and a shell that ignores SIGTERM: SIGKILL 2 s later ends both */
    run_sh("sleep 913.17 & trap '' TERM; sleep 913.18; echo never", 500, 0, NULL, &r);
    cr_assert(r.timed_out);
    cr_assert_eq(r.signal, SIGKILL);
    cr_assert(r.seconds >= 0.5 && r.seconds < 0.5 + HOSTCMD_GRACE_MS / 1000.0 + 1.0, "%f",
              r.seconds);
    usleep(200 * 1000);
    cr_assert(!alive("913.1[78]"), "a process of its group is left");
    hostcmd_result_clear(&r);

    run_sh("sleep 913.19", 300, 0, NULL, &r); /* one that dies at SIGTERM goes at once */
    cr_assert(r.timed_out && r.signal == SIGTERM);
    cr_assert(r.seconds < 1.5, "%f", r.seconds);
    hostcmd_result_clear(&r);
}

Test(hostcmd, what_it_leaves_in_its_group_is_ended)
{
    struct hostcmd_result r;
    run_sh("sleep 913.21 >/dev/null 2>&1 & echo started", 5000, 0, NULL, &r);
    cr_assert_eq(r.code, 0);
    cr_assert(r.seconds < 2.0, "%f", r.seconds);
    usleep(200 * 1000);
    cr_assert(!alive("913.21"));
    hostcmd_result_clear(&r);
}

Test(hostcmd, the_output_keeps_its_tail_under_the_cap)
{
    struct hostcmd_result r;
    run_sh("i=0; while [ $i -lt 5000 ]; do echo line $i; i=$((i+1)); done", 20000, 1024, NULL, &r);
    cr_assert_eq(r.code, 0);
    cr_assert_eq(r.output.len, 1024);
    cr_assert(r.output_total > 20000);
    cr_assert(strstr(r.output.data, "line 4999\n"));
    cr_assert_null(strstr(r.output.data, "line 10\n"));
    hostcmd_result_clear(&r);
}

Test(hostcmd, no_descriptor_leaks_into_it)
{
    struct hostcmd_result r;
    int fd = open("/dev/null", O_RDONLY); /* not close-on-exec: the child must not get it */
    cr_assert(fd > 2);
    run_sh("ls /proc/self/fd | sort -n | tr '\\n' ' '", 5000, 0, NULL, &r);
    /* 0, 1, 2, and the one ls opens to read the folder */
    cr_assert_str_eq(r.output.data, "0 1 2 3 ", "%s", r.output.data);
    close(fd);
    hostcmd_result_clear(&r);
    /* and none of ours is left open after: as many as before */
    int before = 0, after = 0;
    for (int i = 0; i < 1024; i++)
        before += fcntl(i, F_GETFD) >= 0;
    run_sh("true", 5000, 0, NULL, &r);
    hostcmd_result_clear(&r);
    for (int i = 0; i < 1024; i++)
        after += fcntl(i, F_GETFD) >= 0;
    cr_assert_eq(before, after);
}

static void on_alarm(int sig)
{
    (void)sig;
    interrupt_note(SIGINT);
}

Test(hostcmd, a_stop_signal_ends_it_early)
{
    struct hostcmd_result r;
    interrupt_reset();
    signal(SIGALRM, on_alarm);
    alarm(1);
    run_sh("sleep 913.31", 30000, 0, NULL, &r);
    cr_assert(r.interrupted && !r.timed_out);
    cr_assert(r.seconds < 3.0, "%f", r.seconds);
    usleep(200 * 1000);
    cr_assert(!alive("913.31"));
    hostcmd_result_clear(&r);
    interrupt_reset();
}
