/*
 * test_utf8.c - base/utf8.c: what is valid UTF-8 (RFC 3629, as jansson
 * judges it), invalid bytes replaced by U+FFFD one per maximal invalid
 * subpart, and cuts that never end inside a character.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "buf.h"
#include "utf8.h"

#define R UTF8_REPLACEMENT

static void sanitized_is(const char *in, size_t len, const char *want)
{
    struct buf b = {0};
    utf8_sanitize(&b, in, len);
    cr_assert_str_eq(b.data ? b.data : "", want);
    cr_assert(utf8_valid(b.data ? b.data : "", b.len));
    json_t *j = json_stringn(b.data ? b.data : "", b.len);
    cr_assert_not_null(j, "jansson takes the sanitized text");
    json_decref(j);
    buf_release(&b);
}

Test(utf8, valid_text_passes_unchanged)
{
    const char *ok[] = {"",
                        "plain",
                        "caf\xC3\xA9",
                        "\xE2\x82\xAC 5",
                        "\xF0\x9F\x98\x80",
                        "\xEF\xBF\xBD",
                        "\xF4\x8F\xBF\xBF" /* U+10FFFF */};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        cr_assert(utf8_valid(ok[i], strlen(ok[i])), "%zu", i);
        sanitized_is(ok[i], strlen(ok[i]), ok[i]);
    }
}

Test(utf8, what_jansson_refuses_is_invalid)
{
    const char *bad[] = {"\xFF",         "\xFE\xFF",     "\x80",         "\xC3",
                         "\xC0\xAF",     "\xE0\x80\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80",
                         "\xF8\x88\x80", "\xE2\x82" /* cut */};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_not(utf8_valid(bad[i], strlen(bad[i])), "%zu", i);
        cr_assert_null(json_string(bad[i]), "jansson refuses %zu too", i);
    }
}

Test(utf8, one_replacement_per_maximal_invalid_subpart)
{
    sanitized_is("\xFF\xFE", 2, R R);
    sanitized_is("a\xFFz", 3, "a" R "z");
    sanitized_is("\xE2\x82", 2, R);                      /* a truncated euro sign: one */
    sanitized_is("\xE2\x82z", 3, R "z");                 /* ... followed by ASCII */
    sanitized_is("\xC0\xAF", 2, R R);                    /* overlong: each byte */
    sanitized_is("\xED\xA0\x80", 3, R R R);              /* a surrogate */
    sanitized_is("\xF0\x9F\x98", 3, R);                  /* a cut emoji */
    sanitized_is("caf\xC3\xA9\xC3", 6, "caf\xC3\xA9" R); /* cut after a good one */
    char *s = utf8_sanitized("x\x80y");
    cr_assert_str_eq(s, "x" R "y");
    free(s);
    s = utf8_sanitized("");
    cr_assert_str_eq(s, "");
    free(s);
    cr_assert_null(utf8_sanitized(NULL));
}

Test(utf8, cuts_end_on_a_character_boundary)
{
    /* 'é' is two bytes: 301 bytes of them cut at 300 keep 150; at 299, 149 */
    struct buf b = {0};
    for (int i = 0; i < 200; i++)
        buf_adds(&b, "\xC3\xA9");
    cr_assert_eq(utf8_cut_len(b.data, b.len, 300), 300);
    cr_assert_eq(utf8_cut_len(b.data, b.len, 299), 298);
    cr_assert_eq(utf8_cut_len(b.data, b.len, 1000), 400, "nothing to cut");
    cr_assert_eq(utf8_cut_len("\xF0\x9F\x98\x80", 4, 3), 0, "no half emoji");
    cr_assert_eq(utf8_cut_len("a\xFF\xFF", 3, 2), 2, "an invalid byte is a unit of its own");
    utf8_cut(&b, 299, NULL);
    cr_assert_eq(b.len, 298);
    cr_assert(utf8_valid(b.data, b.len));
    utf8_cut(&b, 100, "...");
    cr_assert_eq(b.len, 99, "96 bytes of text, and the ellipsis");
    cr_assert_str_eq(b.data + 96, "...");
    cr_assert(utf8_valid(b.data, b.len));
    utf8_cut(&b, 200, "...");
    cr_assert_eq(b.len, 99, "a short text is left alone");
    buf_release(&b);
}

Test(utf8, printf_cuts_with_cut_len_stay_valid)
{
    struct buf in = {0}, out = {0};
    buf_adds(&in, "x"); /* an odd start: the 300th byte falls inside an 'é' */
    for (int i = 0; i < 400; i++)
        buf_adds(&in, "\xC3\xA9");
    buf_printf(&out, "%.*s", (int)utf8_cut_len(in.data, in.len, 300), in.data);
    cr_assert_eq(out.len, 299);
    cr_assert(utf8_valid(out.data, out.len));
    buf_reset(&out);
    buf_printf(&out, "%.300s", in.data); /* what the cut sites did */
    cr_assert_not(utf8_valid(out.data, out.len), "a byte cut leaves half a character");
    buf_release(&in);
    buf_release(&out);
}
