/*
 * test_sha256.c - base/sha256.c against the published vectors: FIPS 180-4's
 * (NIST CSRC examples) for SHA-256, fed whole and in odd pieces across the
 * 64-byte blocks, and RFC 4231's for HMAC-SHA256, long key included.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "sha256.h"

static void check(const char *msg, size_t len, const char *want)
{
    char hex[SHA256_HEX_LEN + 1];
    sha256_hex(msg, len, hex);
    cr_assert_str_eq(hex, want, "%zu bytes", len);
    /* the same, fed in pieces of 1, 3, 7, ... bytes */
    struct sha256_ctx *c = sha256_new();
    for (size_t at = 0, step = 1; at < len; at += step, step += 2)
        sha256_update(c, msg + at, len - at < step ? len - at : step);
    sha256_finish(c, hex);
    cr_assert_str_eq(hex, want, "%zu bytes in pieces", len);
}

Test(sha256, nist_vectors)
{
    check("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    check("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"; /* 448 bits */
    check(two, strlen(two), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *four =
        "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
        "klmnopqrlmnopqrsmnopqrstnopqrstu"; /* 896 bits */
    check(four, strlen(four), "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

Test(sha256, a_million_a)
{
    static char a[1000000];
    memset(a, 'a', sizeof(a));
    check(a, sizeof(a), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

Test(sha256, every_length_around_the_padding_boundary)
{
    /* 55, 56 and 64 bytes: the length fits, does not fit, fills a block */
    static const char *const want[] = {
        "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318",
        "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a",
        "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb",
    };
    static const size_t lens[] = {55, 56, 64};
    char a[64];
    memset(a, 'a', sizeof(a));
    for (int i = 0; i < 3; i++)
        check(a, lens[i], want[i]);
}

Test(sha256, hmac_rfc4231)
{
    char hex[SHA256_HEX_LEN + 1];
    unsigned char k1[20];
    memset(k1, 0x0b, sizeof(k1));
    hmac_sha256_hex(k1, sizeof(k1), "Hi There", 8, hex); /* test case 1 */
    cr_assert_str_eq(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    hmac_sha256_hex("Jefe", 4, "what do ya want for nothing?", 28, hex); /* test case 2 */
    cr_assert_str_eq(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    unsigned char k6[131];
    memset(k6, 0xaa, sizeof(k6));
    const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First"; /* test case 6 */
    hmac_sha256_hex(k6, sizeof(k6), m6, strlen(m6), hex);
    cr_assert_str_eq(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}
