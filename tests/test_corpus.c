/* SPDX-License-Identifier: MIT */
/* test_corpus.c: the documents of a corpus read by byte ranges (corpus.h).
 *
 * The fixture is a corpus this test writes: JSON Lines files (short lines, a
 * line longer than the reader's 1 MiB buffer, a last line without newline, an
 * empty file), whole text files (one empty) and their expected documents in
 * order. The property that makes K-rank encoding equal to one rank: for any
 * tiling of the span into ranges, reading the ranges one after another yields
 * exactly the expected documents, once each, in order. Checked for one range,
 * every range width from 1 to 40 bytes, and random tilings. Errors name the
 * file, the 1-based line and the byte offset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "swat/corpus.h"
#include "swat/rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DOCS 64

static char root[SWAT_PATH_LEN];
static char paths[8][SWAT_PATH_LEN + 64];
static int npaths;
static char *want[MAX_DOCS];
static size_t want_len[MAX_DOCS];
static int nwant;

static void expect_doc(const char *text, size_t len)
{
    want[nwant] = malloc(len + 1);
    memcpy(want[nwant], text, len);
    want_len[nwant++] = len;
}

static const char *add_file(const char *name, const char *content, size_t len)
{
    char *p = paths[npaths++];
    snprintf(p, SWAT_PATH_LEN + 64, "%s/%s", root, name);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(content, 1, len, f) != len || fclose(f) != 0) return NULL;
    return p;
}

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "%s/test_corpus.XXXXXX", SWAT_BINARY_DIR);
    if (!mkdtemp(root)) return -1;
    /* a.jsonl: short lines, escapes, an empty text, other members */
    const char a[] = "{\"text\":\"one\"}\n"
                     "{\"id\":2,\"text\":\"two\\nlines\"}\n"
                     "{\"text\":\"\"}\n"
                     "{\"meta\":{\"text\":1},\"text\":\"caf\xC3\xA9\"}\n";
    add_file("a.jsonl", a, sizeof a - 1);
    expect_doc("one", 3);
    expect_doc("two\nlines", 9);
    expect_doc("", 0);
    expect_doc("caf\xC3\xA9", 5);
    /* b.txt: one document, newlines kept */
    const char b[] = "a whole file\nis one document\n";
    add_file("b.txt", b, sizeof b - 1);
    expect_doc(b, sizeof b - 1);
    /* empty.txt: one empty document; empty.jsonl: none */
    add_file("empty.txt", "", 0);
    expect_doc("", 0);
    add_file("empty.jsonl", "", 0);
    /* c.jsonl: a line of 1.5 MiB (longer than the read buffer), CRLF, no final newline */
    size_t big = (size_t)3 << 19;
    char *line = malloc(big + 64);
    size_t n = (size_t)sprintf(line, "{\"text\":\"");
    for (size_t i = 0; i < big; i++) line[n + i] = (char)('a' + i % 26);
    char *text = line + n;
    n += big;
    n += (size_t)sprintf(line + n, "\"}\r\n{\"text\":\"last\"}");
    add_file("c.jsonl", line, n);
    expect_doc(text, big);
    expect_doc("last", 4);
    free(line);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < npaths; i++) unlink(paths[i]);
    rmdir(root);
    for (int i = 0; i < nwant; i++) free(want[i]);
    return 0;
}

static swat_corpus *open_corpus(void)
{
    char *p[8];
    for (int i = 0; i < npaths; i++) p[i] = paths[i];
    swat_corpus *c = NULL;
    char err[SWAT_ERR_LEN];
    if (swat_corpus_open(&c, p, npaths, "text", err)) fail_msg("%s", err);
    return c;
}

/* Reads the ranges [cuts[i], cuts[i+1]) one after another; checks the documents. */
static void read_tiling(swat_corpus *c, const int64_t *cuts, int ncuts)
{
    swat_corpus_reader *r = swat_corpus_reader_create(c);
    char err[SWAT_ERR_LEN];
    int k = 0;
    for (int i = 0; i + 1 < ncuts; i++) {
        swat_corpus_reader_seek(r, cuts[i], cuts[i + 1]);
        swat_doc d;
        int rc;
        while ((rc = swat_corpus_reader_next(r, &d, err)) == 1) {
            if (k >= nwant) fail_msg("range [%lld, %lld): an extra document", (long long)cuts[i],
                                     (long long)cuts[i + 1]);
            if (d.len != want_len[k] || memcmp(d.text, want[k], d.len) != 0)
                fail_msg("range [%lld, %lld): document %d differs (%zu bytes, expected %zu)",
                         (long long)cuts[i], (long long)cuts[i + 1], k, d.len, want_len[k]);
            k++;
        }
        if (rc < 0) fail_msg("%s", err);
    }
    if (k != nwant) fail_msg("%d documents read, expected %d", k, nwant);
    swat_corpus_reader_free(r);
}

static void test_one_range(void **state)
{
    (void)state;
    swat_corpus *c = open_corpus();
    int64_t span = swat_corpus_span(c);
    /* the sizes plus one position for each empty file */
    assert_int_equal(span, swat_corpus_bytes(c) + 2);
    int64_t cuts[2] = {0, span};
    read_tiling(c, cuts, 2);
    swat_corpus_free(c);
}

static void test_every_width(void **state)
{
    (void)state;
    swat_corpus *c = open_corpus();
    int64_t span = swat_corpus_span(c);
    /* every position of the small files and of the long line's start cut at
     * every width (a range inside the long line reads on to its end: a few
     * of those suffice); the rest of the span as one range */
    int64_t limit = swat_corpus_position(c, 4, 0) + 24; /* c.jsonl is file 4 */
    for (int64_t w = 1; w <= 40; w++) {
        int64_t cuts[402];
        int ncuts = 0;
        for (int64_t p = 0; p < limit && ncuts < 400; p += w) cuts[ncuts++] = p;
        cuts[ncuts++] = span;
        read_tiling(c, cuts, ncuts);
    }
    swat_corpus_free(c);
}

static void test_random_tilings(void **state)
{
    (void)state;
    swat_corpus *c = open_corpus();
    int64_t span = swat_corpus_span(c);
    swat_rng r;
    swat_rng_seed(&r, 11, 0);
    /* a range starting inside the 1.5 MiB line reads on to its end: few cuts */
    for (int trial = 0; trial < 60; trial++) {
        int64_t cuts[16];
        int n = 1 + (int)swat_rng_below(&r, 12);
        cuts[0] = 0;
        for (int i = 1; i <= n; i++) cuts[i] = (int64_t)swat_rng_below(&r, (uint64_t)span + 1);
        cuts[n + 1] = span;
        /* sort the inner cuts */
        for (int i = 1; i <= n; i++)
            for (int j = i + 1; j <= n; j++)
                if (cuts[j] < cuts[i]) {
                    int64_t t = cuts[i];
                    cuts[i] = cuts[j], cuts[j] = t;
                }
        read_tiling(c, cuts, n + 2);
    }
    swat_corpus_free(c);
}

static void expect_read_error(const char *name, const char *content, const char *message)
{
    char path[SWAT_PATH_LEN + 64], err[SWAT_ERR_LEN];
    snprintf(path, sizeof path, "%s/%s", root, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
    char *p[1] = {path};
    swat_corpus *c = NULL;
    assert_int_equal(swat_corpus_open(&c, p, 1, "text", err), 0);
    swat_corpus_reader *r = swat_corpus_reader_create(c);
    swat_corpus_reader_seek(r, 0, swat_corpus_span(c));
    swat_doc d;
    int rc;
    while ((rc = swat_corpus_reader_next(r, &d, err)) == 1) {}
    assert_int_equal(rc, -1);
    char want_msg[SWAT_PATH_LEN + 2 * SWAT_ERR_LEN];
    snprintf(want_msg, sizeof want_msg, "%s%s", path, message);
    if (strcmp(err, want_msg) != 0) fail_msg("got '%s', expected '%s'", err, want_msg);
    swat_corpus_reader_free(r);
    swat_corpus_free(c);
    unlink(path);
}

static void test_errors(void **state)
{
    (void)state;
    expect_read_error("e1.jsonl", "{\"text\":\"a\"}\n{\"txt\":\"b\"}\n",
                      ":2: the object has no member \"text\" (byte 13)");
    expect_read_error("e2.jsonl", "{\"text\":\"a\"}\n\n", ":2: not a JSON object (empty line) (byte 13)");
    expect_read_error("e3.jsonl", "{\"text\":\"a\"}\n{\"text\":[]}\n",
                      ":2: member \"text\" is not a string (byte 21)");
    expect_read_error("e4.txt", "line one\nline \xC3\x28 two\n", ":2: invalid UTF-8 (byte 14)");
    expect_read_error("e5.jsonl", "{\"text\":\"a\"}\n{\"text\":\"x\xFE\"}\n",
                      ":2: invalid UTF-8 (byte 23)");

    char err[SWAT_ERR_LEN];
    swat_corpus *c = NULL;
    char *missing[1] = {"/nonexistent/corpus.jsonl"};
    assert_int_equal(swat_corpus_open(&c, missing, 1, "text", err), -1);
    assert_non_null(strstr(err, "/nonexistent/corpus.jsonl: No such file"));
    char *dir[1] = {root};
    assert_int_equal(swat_corpus_open(&c, dir, 1, "text", err), -1);
    assert_non_null(strstr(err, "is a directory"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_range),
        cmocka_unit_test(test_every_width),
        cmocka_unit_test(test_random_tilings),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
