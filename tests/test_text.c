/* SPDX-License-Identifier: MIT */
/* test_text.c: UTF-8 checking, cutting and streaming repair, and the JSON
 * member reader (text.h), against cases written out by hand from RFC 3629,
 * the Unicode Standard's Table 3-7 and its U+FFFD practice (§3.9, the
 * examples of Table 3-8), and RFC 8259; then properties over random bytes:
 * the sanitizer's output is valid UTF-8, does not depend on how the input is
 * split into calls, and leaves valid text unchanged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "swat/rng.h"
#include "swat/text.h"

#include <stdio.h>
#include <string.h>

/* ---- UTF-8 checking -------------------------------------------------------------- */

typedef struct utf8_case {
    const char *bytes;
    size_t valid; /* expected swat_utf8_valid */
} utf8_case;

#define CASE(s, v) {s, v}

static const utf8_case utf8_cases[] = {
    CASE("", 0),
    CASE("plain ASCII, longer than eight bytes", 36),
    CASE("caf\xC3\xA9", 5),                     /* é */
    CASE("\xE2\x82\xAC", 3),                     /* € */
    CASE("\xF0\x9F\x98\x80", 4),                 /* U+1F600 */
    CASE("\xF4\x8F\xBF\xBF", 4),                 /* U+10FFFF, the last scalar value */
    CASE("\xEF\xBF\xBF", 3),                     /* U+FFFF is a noncharacter, but valid */
    CASE("ab\x80", 2),                           /* lone continuation byte */
    CASE("\xC0\xAF", 0),                         /* overlong '/' */
    CASE("\xC1\xBF", 0),                         /* overlong */
    CASE("\xE0\x80\xAF", 0),                     /* overlong, 3 bytes */
    CASE("\xE0\x9F\xBF", 0),                     /* overlong: E0 needs A0..BF */
    CASE("\xED\xA0\x80", 0),                     /* U+D800, a surrogate */
    CASE("\xED\x9F\xBF", 3),                     /* U+D7FF, just below */
    CASE("\xF0\x8F\xBF\xBF", 0),                 /* overlong, 4 bytes */
    CASE("\xF4\x90\x80\x80", 0),                 /* U+110000 */
    CASE("\xF5\x80\x80\x80", 0),                 /* F5 never starts a character */
    CASE("\xFF", 0),
    CASE("xy\xE2\x82", 2),                       /* cut off at the end */
    CASE("0123456789\xC3", 10),                  /* cut off after an ASCII run */
    CASE("0123456789abcdef\xC3\xA9z", 19),
};

static void test_utf8_valid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof utf8_cases / sizeof utf8_cases[0]; i++) {
        const utf8_case *c = &utf8_cases[i];
        size_t got = swat_utf8_valid(c->bytes, strlen(c->bytes));
        if (got != c->valid) fail_msg("case %zu: valid prefix %zu, expected %zu", i, got, c->valid);
    }
    /* a NUL byte is a valid character (U+0000) */
    assert_int_equal(swat_utf8_valid("a\0b", 3), 3);
}

static void test_utf8_cut(void **state)
{
    (void)state;
    const char *s = "ab\xE2\x82\xAC" "cd"; /* a b € c d: 7 bytes */
    assert_int_equal(swat_utf8_cut(s, 7, 100), 7);
    assert_int_equal(swat_utf8_cut(s, 7, 7), 7);
    assert_int_equal(swat_utf8_cut(s, 7, 5), 5); /* after € */
    assert_int_equal(swat_utf8_cut(s, 7, 4), 2); /* inside €: back to its start */
    assert_int_equal(swat_utf8_cut(s, 7, 3), 2);
    assert_int_equal(swat_utf8_cut(s, 7, 2), 2);
    const char *four = "\xF0\x9F\x98\x80\xF0\x9F\x98\x80";
    assert_int_equal(swat_utf8_cut(four, 8, 4), 4);
    assert_int_equal(swat_utf8_cut(four, 8, 7), 4);
}

/* ---- the streaming sanitizer ------------------------------------------------------ */

#define FFFD "\xEF\xBF\xBD"

typedef struct repair_case {
    const char *in, *out;
} repair_case;

/* The Unicode Standard's practice: one U+FFFD per maximal subpart; the
 * expected outputs are what Python's bytes.decode("utf-8", "replace") gives */
static const repair_case repair_cases[] = {
    {"plain", "plain"},
    {"\xE2\x82\xAC", "\xE2\x82\xAC"},
    {"a\xFF" "b", "a" FFFD "b"},
    {"\xE2\x82" "A", FFFD "A"},                     /* truncated 3-byte: one U+FFFD */
    {"\xE2\x82", FFFD},                             /* cut off at the end (flushed) */
    {"\xF0\x9F\x98", FFFD},
    {"\xF0\x80\x80", FFFD FFFD FFFD},               /* F0 80: 80 is not a second byte of F0 */
    {"\xC0\xAF", FFFD FFFD},                        /* C0 never starts a character */
    {"\xED\xA0\x80", FFFD FFFD FFFD},               /* surrogate: ED A0 is no valid start */
    {"\x80\x80", FFFD FFFD},
    {"\xE2\xE2\x82\xAC", FFFD "\xE2\x82\xAC"},       /* a lead spoiled by the next lead */
    /* Table 3-8 of the Unicode Standard */
    {"\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64",
     "a" FFFD FFFD FFFD "b" FFFD "c" FFFD FFFD "d"},
};

/* Runs in through the sanitizer in pieces of `step` bytes (0: all at once). */
static size_t repair(const char *in, size_t n, size_t step, char *out)
{
    swat_utf8_stream st = {{0}, 0};
    size_t w = 0;
    if (step == 0) step = n ? n : 1;
    for (size_t i = 0; i < n; i += step) {
        size_t k = n - i < step ? n - i : step;
        w += swat_utf8_put(&st, in + i, k, out + w);
    }
    return w + swat_utf8_flush(&st, out + w);
}

static void test_utf8_repair_cases(void **state)
{
    (void)state;
    char out[256];
    for (size_t i = 0; i < sizeof repair_cases / sizeof repair_cases[0]; i++) {
        const repair_case *c = &repair_cases[i];
        for (size_t step = 0; step <= 3; step++) {
            size_t w = repair(c->in, strlen(c->in), step, out);
            if (w != strlen(c->out) || memcmp(out, c->out, w) != 0)
                fail_msg("case %zu, pieces of %zu: got %zu bytes, expected %zu", i, step, w,
                         strlen(c->out));
        }
    }
}

/* An incomplete sequence is held back, not printed, until it completes. */
static void test_utf8_hold_back(void **state)
{
    (void)state;
    swat_utf8_stream st = {{0}, 0};
    char out[64];
    assert_int_equal(swat_utf8_put(&st, "x\xE2", 2, out), 1);
    assert_memory_equal(out, "x", 1);
    assert_int_equal(swat_utf8_put(&st, "\x82", 1, out), 0);
    assert_int_equal(swat_utf8_put(&st, "\xAC!", 2, out), 4);
    assert_memory_equal(out, "\xE2\x82\xAC!", 4);
    assert_int_equal(swat_utf8_flush(&st, out), 0);
}

static void test_utf8_repair_random(void **state)
{
    (void)state;
    swat_rng r;
    swat_rng_seed(&r, 7, 0);
    static char in[512], whole[SWAT_UTF8_PUT_MAX(512)], split[SWAT_UTF8_PUT_MAX(512)];
    for (int trial = 0; trial < 2000; trial++) {
        size_t n = (size_t)swat_rng_below(&r, sizeof in);
        /* bytes biased towards the interesting ranges */
        for (size_t i = 0; i < n; i++) {
            uint64_t u = swat_rng_below(&r, 4);
            in[i] = (char)(u == 0 ? swat_rng_below(&r, 128) : 0x80 + swat_rng_below(&r, 128));
        }
        size_t w = repair(in, n, 0, whole);
        assert_int_equal(swat_utf8_valid(whole, w), w);
        size_t step = 1 + (size_t)swat_rng_below(&r, 7);
        size_t w2 = repair(in, n, step, split);
        assert_int_equal(w, w2);
        assert_memory_equal(whole, split, w);
        if (swat_utf8_valid(in, n) == n) {
            assert_int_equal(w, n);
            assert_memory_equal(whole, in, n);
        }
    }
}

/* ---- JSON ------------------------------------------------------------------------- */

static int member(const char *line, const char *key, swat_buf *out, const char **why,
                  size_t *at)
{
    return swat_json_string_member(line, strlen(line), key, out, why, at);
}

static void expect_text(const char *line, const char *key, const char *want, size_t want_len)
{
    swat_buf b = {0};
    const char *why = NULL;
    size_t at = 0;
    int rc = member(line, key, &b, &why, &at);
    if (rc != 0) fail_msg("%s: rc %d (%s at %zu)", line, rc, why ? why : "", at);
    if (b.n != want_len || (want_len && memcmp(b.p, want, want_len) != 0))
        fail_msg("%s: decoded %zu bytes, expected %zu", line, b.n, want_len);
    swat_buf_free(&b);
}

static void expect_error(const char *line, const char *key, int want_rc, const char *why_part,
                         size_t want_at)
{
    swat_buf b = {0};
    const char *why = "";
    size_t at = 0;
    int rc = member(line, key, &b, &why, &at);
    if (rc != want_rc) fail_msg("%s: rc %d, expected %d", line, rc, want_rc);
    if (rc < 0 && !strstr(why, why_part)) fail_msg("%s: reason '%s', expected '%s'", line, why, why_part);
    if (at != want_at) fail_msg("%s: at %zu, expected %zu", line, at, want_at);
    swat_buf_free(&b);
}

static void test_json_values(void **state)
{
    (void)state;
    expect_text("{\"text\":\"hello\"}", "text", "hello", 5);
    expect_text("  {\"id\": 3, \"text\" : \"a b\" }\r", "text", "a b", 3);
    expect_text("{\"text\":\"\"}", "text", "", 0);
    expect_text("{\"text\":\"l1\\nl2\\t\\\"q\\\" \\\\ \\/\"}", "text", "l1\nl2\t\"q\" \\ /", 13);
    expect_text("{\"text\":\"\\u00e9\\u20AC\"}", "text", "\xC3\xA9\xE2\x82\xAC", 5);
    expect_text("{\"text\":\"\\ud83d\\ude00\"}", "text", "\xF0\x9F\x98\x80", 4); /* a pair */
    expect_text("{\"text\":\"\\u0000\"}", "text", "\0", 1);
    expect_text("{\"text\":\"caf\xC3\xA9\"}", "text", "caf\xC3\xA9", 5); /* raw UTF-8 */
    /* other members of every kind are skipped; nesting; the last duplicate wins */
    expect_text("{\"a\":[1,-2.5e+3,true,false,null,{\"text\":\"inner\"},[[]],{}],\"text\":\"outer\"}",
                "text", "outer", 5);
    expect_text("{\"text\":\"first\",\"text\":\"second\"}", "text", "second", 6);
    expect_text("{\"te\\u0078t\":\"escaped name\"}", "text", "escaped name", 12);
    expect_text("{\"content\":\"c\",\"text\":1}", "content", "c", 1);
}

static void test_json_errors(void **state)
{
    (void)state;
    expect_error("", "text", -1, "not a JSON object", 0);
    expect_error("   ", "text", -1, "not a JSON object", 3);
    expect_error("[1,2]", "text", -1, "not a JSON object", 0);
    expect_error("\"text\"", "text", -1, "not a JSON object", 0);
    expect_error("{\"id\":1}", "text", SWAT_JSON_MISSING, "", 0);
    expect_error("{\"a\":{\"text\":\"nested\"}}", "text", SWAT_JSON_MISSING, "", 0);
    expect_error("{\"text\":5}", "text", SWAT_JSON_NOT_STRING, "", 8);
    expect_error("{\"text\":null}", "text", SWAT_JSON_NOT_STRING, "", 8);
    expect_error("{\"text\":\"s\",\"text\":[1]}", "text", SWAT_JSON_NOT_STRING, "", 19);
    expect_error("{\"text\":\"a\xFF\"}", "text", -1, "invalid UTF-8", 10);
    expect_error("{\"text\":\"\\ud800x\"}", "text", -1, "lone high surrogate", 9);
    expect_error("{\"text\":\"\\udc00\"}", "text", -1, "lone low surrogate", 9);
    expect_error("{\"text\":\"a\tb\"}", "text", -1, "control character", 10);
    expect_error("{\"text\":\"\\q\"}", "text", -1, "unknown escape", 9);
    expect_error("{\"text\":\"\\u12\"}", "text", -1, "four hex digits", 11);
    expect_error("{\"text\":\"open}", "text", -1, "unterminated string", 14);
    expect_error("{\"text\":\"a\",}", "text", -1, "member name", 12);
    expect_error("{\"text\" \"a\"}", "text", -1, "expected ':'", 8);
    expect_error("{\"text\":\"a\"} x", "text", -1, "text after the object", 13);
    expect_error("{\"text\":\"a\"", "text", -1, "unterminated object", 11);
    expect_error("{\"n\":01,\"text\":\"a\"}", "text", -1, "expected ',' or '}'", 6);
    expect_error("{\"n\":1.,\"text\":\"a\"}", "text", -1, "after '.'", 7);
    expect_error("{\"n\":tru,\"text\":\"a\"}", "text", -1, "expected a value", 5);
    expect_error("{\"n\":[1 2],\"text\":\"a\"}", "text", -1, "expected ',' or ']'", 8);
    /* nesting beyond the cap is refused, not a stack overflow */
    static char deep[4096];
    size_t n = 0;
    n += (size_t)sprintf(deep, "{\"a\":");
    for (int i = 0; i < 1000; i++) deep[n++] = '[';
    deep[n] = 0;
    swat_buf b = {0};
    const char *why = "";
    size_t at;
    assert_int_equal(member(deep, "text", &b, &why, &at), -1);
    assert_non_null(strstr(why, "nested too deeply"));
    swat_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_valid),       cmocka_unit_test(test_utf8_cut),
        cmocka_unit_test(test_utf8_repair_cases), cmocka_unit_test(test_utf8_hold_back),
        cmocka_unit_test(test_utf8_repair_random), cmocka_unit_test(test_json_values),
        cmocka_unit_test(test_json_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
