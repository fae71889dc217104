/*
 * test_state_volume.c - the engine side of --state engine that needs no
 * daemon: the tar the archive endpoints speak, and which copy a download
 * takes from the volume's two slots (a fake engine answers the archive).
 */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fake_dockerd.h"
#include "sha256.h"
#include "state_volume.h"

struct seen {
    char names[8][64];
    size_t lens[8];
    char first[8];
    int n;
};

static int collect(void *ctx, const char *name, const char *data, size_t len)
{
    struct seen *s = ctx;
    snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
    s->lens[s->n] = len;
    s->first[s->n] = len ? data[0] : 0;
    s->n++;
    return 0;
}

Test(state_tar, files_written_are_read_back)
{
    struct buf tar = {0}, big = {0};
    struct seen s = {0};
    struct tt_err err = {0};
    for (int i = 0; i < 513; i++) /* one byte over a block: padding */
        buf_addc(&big, 'b');
    state_tar_add(&tar, "state-a.db", big.data, big.len, 1700000000);
    state_tar_add(&tar, "empty", "", 0, 0);
    state_tar_add(&tar, "heartbeat", "1.5 tok\n", 8, 1700000000);
    state_tar_end(&tar);
    cr_assert_eq(tar.len % 512, 0);
    cr_assert_eq(state_tar_each(&tar, collect, &s, &err), 0, "%s", err.msg);
    cr_assert_eq(s.n, 3);
    cr_assert_str_eq(s.names[0], "state-a.db");
    cr_assert_eq(s.lens[0], 513);
    cr_assert_eq(s.first[0], 'b');
    cr_assert_eq(s.lens[1], 0);
    cr_assert_str_eq(s.names[2], "heartbeat");
    cr_assert_eq(s.first[2], '1');
    buf_release(&tar);
    buf_release(&big);
}

Test(state_tar, a_tar_cut_short_is_an_error_naming_the_entry)
{
    struct buf tar = {0};
    struct seen s = {0};
    struct tt_err err = {0};
    char data[2000] = {0};
    state_tar_add(&tar, "state-b.db", data, sizeof(data), 0);
    tar.len = 512 + 1000; /* the header and half the file */
    cr_assert_eq(state_tar_each(&tar, collect, &s, &err), -1);
    cr_assert(strstr(err.msg, "cut or damaged") && strstr(err.msg, "state-b.db"), "%s", err.msg);
    buf_release(&tar);
}

/* The .sum file of a slot holding data as generation gen. */
static void add_slot(struct buf *tar, char slot, const char *data, unsigned gen, int spoil)
{
    char name[32], sha[65];
    struct buf sum = {0};
    sha256_hex(data, strlen(data), sha);
    if (spoil)
        sha[0] = sha[0] == '0' ? '1' : '0';
    buf_printf(&sum, "ttdeploy-state 1\ngeneration %u\nsize %zu\nsha256 %s\n", gen, strlen(data),
               sha);
    snprintf(name, sizeof(name), "state/state-%c.db", slot);
    state_tar_add(tar, name, data, strlen(data), 0);
    snprintf(name, sizeof(name), "state/state-%c.sum", slot);
    state_tar_add(tar, name, sum.data, sum.len, 0);
    buf_release(&sum);
}

/* The archive of /state as hex, for the fake engine's FAKE_FILL answer. */
static char *as_hex(const struct buf *tar)
{
    char *hex = malloc(tar->len * 2 + 4);
    for (size_t i = 0; i < tar->len; i++)
        sprintf(hex + 2 * i, "%02x", (unsigned char)tar->data[i]);
    strcpy(hex + 2 * tar->len, "|0");
    return hex;
}

/* Reads project's store through a fake engine whose volume holds tar; returns what it read. */
static int read_through_fake(const struct buf *tar, char *dir, struct buf *got, struct tt_err *err)
{
    char *hex = as_hex(tar);
    const struct fake_route routes[] = {
        {"GET /version ", 200, "{\"ApiVersion\":\"1.43\"}"},
        {"GET /v1.43/volumes/ttdeploy-state-p ", 200, "{}"},
        {"POST /v1.43/containers/create?name=ttdeploy-state-p-read-", 201, "{\"Id\":\"r1\"}"},
        {"GET /v1.43/containers/r1/archive?path=%2Fstate ", FAKE_FILL, hex},
        {"DELETE /v1.43/containers/r1", 204, NULL},
        {NULL, 0, NULL},
    };
    struct fake_http server;
    struct engine *e = NULL;
    fake_dockerd_start(&server, routes, &e);
    cr_assert_eq(state_volume_tempdir(dir, err), 0, "%s", err->msg);
    int rc = state_volume_read(e, "p", dir, err);
    char path[4200];
    snprintf(path, sizeof(path), "%s/state.db", dir);
    FILE *f = fopen(path, "rb");
    char chunk[256];
    size_t n;
    while (f && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_add(got, chunk, n);
    if (f) {
        struct stat sb;
        cr_assert_eq(fstat(fileno(f), &sb), 0);
        cr_assert_eq(sb.st_mode & 0777, 0600, "the copy is private");
        fclose(f);
    }
    fake_dockerd_stop(&server, &e);
    free(hex);
    return rc;
}

Test(state_volume, a_download_takes_the_newest_whole_copy)
{
    struct buf tar = {0}, got = {0};
    struct tt_err err = {0};
    char dir[4096];
    add_slot(&tar, 'a', "copy of generation 7", 7, 0);
    add_slot(&tar, 'b', "copy of generation 8", 8, 0);
    state_tar_end(&tar);
    cr_assert_eq(read_through_fake(&tar, dir, &got, &err), 0, "%s", err.msg);
    buf_addc(&got, '\0');
    cr_assert_str_eq(got.data, "copy of generation 8");
    state_volume_tempdir_remove(dir);
    cr_assert_eq(access(dir, F_OK), -1, "the private copy is removed");
    buf_release(&tar);
    buf_release(&got);
}

Test(state_volume, a_copy_cut_short_is_passed_over_for_the_one_before)
{
    struct buf tar = {0}, got = {0};
    struct tt_err err = {0};
    char dir[4096];
    add_slot(&tar, 'a', "copy of generation 7", 7, 0);
    add_slot(&tar, 'b', "copy of generation 8, cut", 8, 1); /* its sum no longer matches */
    state_tar_end(&tar);
    cr_assert_eq(read_through_fake(&tar, dir, &got, &err), 0, "%s", err.msg);
    buf_addc(&got, '\0');
    cr_assert_str_eq(got.data, "copy of generation 7");
    state_volume_tempdir_remove(dir);
    buf_release(&tar);
    buf_release(&got);
}

Test(state_volume, both_slots_spoilt_is_an_error_not_an_empty_store)
{
    struct buf tar = {0}, got = {0};
    struct tt_err err = {0};
    char dir[4096];
    add_slot(&tar, 'a', "a", 7, 1);
    add_slot(&tar, 'b', "b", 8, 1);
    state_tar_end(&tar);
    cr_assert_eq(read_through_fake(&tar, dir, &got, &err), -1);
    cr_assert(strstr(err.msg, "no whole copy"), "%s", err.msg);
    state_volume_tempdir_remove(dir);
    buf_release(&tar);
    buf_release(&got);
}
