/*
 * sha256.h - SHA-256 digests as lowercase hex, and HMAC-SHA256.  Used
 * for config hashes, backup files, the audit chain and the audit store's
 * keyed digests of environment values (HMAC).
 */
#ifndef SHA256_H
#define SHA256_H

#include <stddef.h>

#include "tterr.h"

#define SHA256_HEX_LEN 64

struct sha256_ctx;

struct sha256_ctx *sha256_new(void);
void sha256_update(struct sha256_ctx *c, const void *data, size_t len);
/* Writes 64 hex digits and a NUL to hex, and frees c. */
void sha256_finish(struct sha256_ctx *c, char hex[SHA256_HEX_LEN + 1]);
void sha256_hex(const void *data, size_t len, char hex[SHA256_HEX_LEN + 1]);
/* Feeds the whole file at path to c, in chunks; -1 with err set when it cannot be read. */
int sha256_update_file(struct sha256_ctx *c, const char *path, struct tt_err *err);
/*
 * HMAC-SHA256 (RFC 2104) of data under key, as 64 hex digits and a NUL:
 * the audit store's keyed digests (equal values give equal digests under
 * one key; without the key a digest tells nothing about its value).
 */
/* The value of hex digit c (either case), or -1. */
int hex_digit_value(int c);

void hmac_sha256_hex(const void *key, size_t keylen, const void *data, size_t len,
                     char hex[SHA256_HEX_LEN + 1]);

#endif
