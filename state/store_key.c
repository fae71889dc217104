/*
 * store_key.c - the audit store's key and its keyed digests.
 *
 * No environment value is stored in clear unless the plan calls its name
 * public (plans/README.md, audit.public_env); every other value is stored
 * as "hmac-sha256:<hex>", HMAC-SHA256 under a random 32-byte key of this
 * store.  Equal values give equal digests, so two deployments' (or a
 * deployment's and a container's) environments still compare; a digest
 * read from one store is no dictionary oracle for another store, nor for
 * anyone who has the store file but not its key.
 *
 * The key lives beside the store, never in it: STORE.key for a store
 * STORE.db (".ttdeploy/state.key"), else STORE.key.  It is 64 hex digits
 * and a newline, mode 0600.  It is made on the first digest a writable
 * store needs: written whole into a temporary file (mkostemp: O_EXCL,
 * 0600), fsynced, then link()ed to its name, which fails when another
 * process got there first (then its key is read): a reader never sees a
 * half-written key.  It is read with O_NOFOLLOW and refused when it is
 * not a regular file, is readable by others, or is not 64 hex digits:
 * a key swapped for a symbolic link, or one anyone can read, is no key.
 * Losing the key loses nothing but comparability: the digests recorded
 * under it can no longer be matched, which store_hmac_matches() says.
 */
#include "store_db.h"
#include "buf.h"
#include "sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_HEX_LEN (2 * STORE_KEY_BYTES)

const char *store_key_path(struct store *s)
{
    if (!s->key_path) {
        struct buf b = {0};
        size_t n = strlen(s->path);
        if (n > 3 && !strcmp(s->path + n - 3, ".db"))
            buf_add(&b, s->path, n - 3);
        else
            buf_adds(&b, s->path);
        buf_adds(&b, ".key");
        s->key_path = buf_detach(&b);
    }
    return s->key_path;
}

/* Reads the key file into s->key: 0, 1 when there is none, -1 (err) when it is refused. */
static int read_key(struct store *s, struct tt_err *err)
{
    const char *path = store_key_path(s);
    char text[KEY_HEX_LEN + 2];
    struct stat st;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0 && errno == ENOENT)
        return 1;
    if (fd < 0)
        return tt_error(err, "cannot read the audit key %s: %s%s", path, strerror(errno),
                        errno == ELOOP ? " (a symbolic link is refused: the key must be a file)"
                                       : "");
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077)) {
        close(fd);
        return tt_error(err,
                        "the audit key %s must be a regular file readable by its owner only "
                        "(mode %04o): chmod 600 %s, or remove it if anyone else could read it "
                        "(the digests recorded under it then no longer compare)",
                        path, (unsigned)(st.st_mode & 07777), path);
    }
    n = read(fd, text, sizeof(text));
    close(fd);
    if (n < KEY_HEX_LEN || (n == KEY_HEX_LEN + 1 && text[KEY_HEX_LEN] != '\n') ||
        n > KEY_HEX_LEN + 1)
        return tt_error(err, "the audit key %s is not 64 hex digits: it was changed or cut", path);
    for (int i = 0; i < STORE_KEY_BYTES; i++) {
        int hi = hex_digit_value(text[2 * i]), lo = hex_digit_value(text[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return tt_error(err, "the audit key %s is not 64 hex digits: it was changed", path);
        s->key[i] = (unsigned char)(hi << 4 | lo);
    }
    s->key_loaded = 1;
    return 0;
}

/* Fills raw with n random bytes from the kernel. */
static int random_bytes(unsigned char *raw, size_t n, struct tt_err *err)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = getrandom(raw + got, n - got, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return tt_error(err, "cannot draw a random audit key (getrandom: %s)", strerror(errno));
        got += (size_t)k;
    }
    return 0;
}

/* Writes text whole to fd and fsyncs it. */
static int write_all(int fd, const char *text, size_t len)
{
    for (size_t done = 0; done < len;) {
        ssize_t k = write(fd, text + done, len - done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        done += (size_t)k;
    }
    return fsync(fd);
}

/* Makes a new key file (see the top of the file); another process's, made meanwhile, wins. */
static int create_key(struct store *s, struct tt_err *err)
{
    const char *path = store_key_path(s);
    unsigned char raw[STORE_KEY_BYTES];
    char text[KEY_HEX_LEN + 2];
    struct buf tmp = {0};
    int rc = 0;

    if (random_bytes(raw, sizeof(raw), err) < 0)
        return -1;
    for (int i = 0; i < STORE_KEY_BYTES; i++)
        snprintf(text + 2 * i, 3, "%02x", raw[i]);
    text[KEY_HEX_LEN] = '\n';
    buf_printf(&tmp, "%s.XXXXXX", path);
    int fd = mkostemp(tmp.data, O_CLOEXEC); /* O_CREAT | O_EXCL, mode 0600 */
    if (fd < 0) {
        rc = tt_error(err, "cannot create the audit key %s: %s", path, strerror(errno));
    } else {
        int bad = fchmod(fd, 0600) < 0 || write_all(fd, text, KEY_HEX_LEN + 1) < 0;
        int saved = errno;
        close(fd);
        if (bad)
            rc = tt_error(err, "cannot write the audit key %s: %s", tmp.data, strerror(saved));
        else if (link(tmp.data, path) < 0 && errno != EEXIST)
            rc = tt_error(err, "cannot create the audit key %s: %s", path, strerror(errno));
        unlink(tmp.data);
    }
    buf_release(&tmp);
    explicit_bzero(raw, sizeof(raw));
    explicit_bzero(text, sizeof(text));
    if (rc < 0)
        return -1;
    rc = read_key(s, err); /* ours, or the one another process linked first */
    return rc > 0 ? tt_error(err, "the audit key %s vanished as it was made", path) : rc;
}

/* Loads the key once; makes it when missing and create is set. */
static int load_key(struct store *s, int create, struct tt_err *err)
{
    if (s->key_loaded)
        return 0;
    int rc = read_key(s, err);
    if (rc <= 0)
        return rc;
    if (!create)
        return tt_error(err,
                        "the audit key %s is missing: the environment digests this store "
                        "recorded cannot be compared without it",
                        store_key_path(s));
    return create_key(s, err);
}

/* value's digest as stored: "hmac-sha256:" and 64 hex digits. */
static void digest_text(const struct store *s, const char *value, char out[STORE_HMAC_TEXT_LEN + 1])
{
    char hex[SHA256_HEX_LEN + 1];
    hmac_sha256_hex(s->key, sizeof(s->key), value, strlen(value), hex);
    snprintf(out, STORE_HMAC_TEXT_LEN + 1, "%s%s", STORE_HMAC_PREFIX, hex);
}

int store_hmac(struct store *s, const char *value, char out[STORE_HMAC_TEXT_LEN + 1],
               struct tt_err *err)
{
    out[0] = '\0';
    if (load_key(s, 1, err) < 0)
        return -1;
    digest_text(s, value, out);
    return 0;
}

int store_hmac_matches(struct store *s, const char *recorded, const char *value, struct tt_err *err)
{
    char mine[STORE_HMAC_TEXT_LEN + 1];
    if (strncmp(recorded, STORE_HMAC_PREFIX, strlen(STORE_HMAC_PREFIX)))
        return !strcmp(recorded, value); /* a public value, stored as written */
    if (load_key(s, 0, err) < 0)
        return -1;
    digest_text(s, value, mine);
    return !strcmp(mine, recorded);
}
