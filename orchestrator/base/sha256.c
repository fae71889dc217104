/*
 * sha256.c - a thin wrapper over libcrypto's EVP digest interface, and
 * its HMAC (the keyed digests of the audit store).
 */
#include "sha256.h"

#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sha256_ctx {
    EVP_MD_CTX *md;
};

struct sha256_ctx *sha256_new(void)
{
    struct sha256_ctx *c = calloc(1, sizeof(*c));
    if (!c || !(c->md = EVP_MD_CTX_new()) || EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1) {
        fputs("ttdeploy: cannot initialise SHA-256\n", stderr);
        abort();
    }
    return c;
}

void sha256_update(struct sha256_ctx *c, const void *data, size_t len)
{
    EVP_DigestUpdate(c->md, data, len);
}

/* Lowercase hex of the 32 bytes d. */
static void to_hex(const unsigned char d[32], char hex[SHA256_HEX_LEN + 1])
{
    for (unsigned int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

void sha256_finish(struct sha256_ctx *c, char hex[SHA256_HEX_LEN + 1])
{
    unsigned char d[32];
    unsigned int n = 0;
    EVP_DigestFinal_ex(c->md, d, &n);
    to_hex(d, hex);
    EVP_MD_CTX_free(c->md);
    free(c);
}

int sha256_update_file(struct sha256_ctx *c, const char *path, struct tt_err *err)
{
    FILE *f = fopen(path, "rb");
    char chunk[65536];
    size_t n;

    if (!f)
        return tt_error(err, "cannot read %s: %s", path, strerror(errno));
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        sha256_update(c, chunk, n);
    int bad = ferror(f);
    fclose(f);
    return bad ? tt_error(err, "reading %s failed", path) : 0;
}

void sha256_hex(const void *data, size_t len, char hex[SHA256_HEX_LEN + 1])
{
    struct sha256_ctx *c = sha256_new();
    sha256_update(c, data, len);
    sha256_finish(c, hex);
}

void hmac_sha256_hex(const void *key, size_t keylen, const void *data, size_t len,
                     char hex[SHA256_HEX_LEN + 1])
{
    unsigned char d[32];
    unsigned int n = 0;
    static const unsigned char none = 0;
    if (keylen > INT_MAX || !HMAC(EVP_sha256(), key, (int)keylen, len ? data : &none, len, d, &n) ||
        n != 32) {
        fputs("ttdeploy: cannot compute HMAC-SHA256\n", stderr);
        abort();
    }
    to_hex(d, hex);
}

int hex_digit_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}
