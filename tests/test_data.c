/* SPDX-License-Identifier: MIT */
/* test_data.c: token streams and the sample order (docs/training.md) against files this
 * test writes byte by byte, and the sampler against a brute-force recomputation
 * of its definition.
 *
 * Fixtures live in a fresh directory under the build tree, made at group
 * setup and removed at teardown, so the tests need no files in the repository
 * and can run concurrently with other builds. llm.c headers are assembled from
 * little-endian bytes here, independently of the reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "swat/config.h"
#include "swat/data.h"
#include "swat/rng.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[SWAT_PATH_LEN];

/* ---- fixtures ------------------------------------------------------------------- */

static void rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
                char sub[SWAT_PATH_LEN * 2];
                int len = snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
                if (len > 0 && (size_t)len < sizeof sub) rm_tree(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "%s/test_data.XXXXXX", SWAT_BINARY_DIR);
    if (!mkdtemp(root)) {
        snprintf(root, sizeof root, "/tmp/test_data.XXXXXX");
        if (!mkdtemp(root)) return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    rm_tree(root);
    return 0;
}

/* A fresh directory root/name for one test. */
static void test_dir(char *dir, const char *name)
{
    int len = snprintf(dir, SWAT_PATH_LEN, "%s/%s", root, name);
    assert_true(len > 0 && len < SWAT_PATH_LEN);
    rm_tree(dir);
    assert_int_equal(mkdir(dir, 0755), 0);
}

static void path_in(char *out, const char *dir, const char *name)
{
    int len = snprintf(out, SWAT_PATH_LEN, "%s/%s", dir, name);
    assert_true(len > 0 && len < SWAT_PATH_LEN);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len) assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void put_le32(unsigned char *b, uint32_t v)
{
    b[0] = (unsigned char)(v & 0xff);
    b[1] = (unsigned char)(v >> 8 & 0xff);
    b[2] = (unsigned char)(v >> 16 & 0xff);
    b[3] = (unsigned char)(v >> 24 & 0xff);
}

/* An llm.c shard: header (magic, version, count) then ntok tokens of tsize
 * bytes, little-endian. count is what the header claims, ntok what is written. */
static void write_llmc(const char *path, int32_t magic, int32_t version, int32_t count,
                       const uint32_t *tok, size_t ntok, int tsize)
{
    size_t len = 1024 + ntok * (size_t)tsize;
    unsigned char *b = calloc(1, len);
    assert_non_null(b);
    put_le32(b, (uint32_t)magic);
    put_le32(b + 4, (uint32_t)version);
    put_le32(b + 8, (uint32_t)count);
    for (size_t i = 0; i < ntok; i++) {
        unsigned char *p = b + 1024 + i * (size_t)tsize;
        p[0] = (unsigned char)(tok[i] & 0xff);
        p[1] = (unsigned char)(tok[i] >> 8 & 0xff);
        if (tsize == 4) {
            p[2] = (unsigned char)(tok[i] >> 16 & 0xff);
            p[3] = (unsigned char)(tok[i] >> 24 & 0xff);
        }
    }
    write_file(path, b, len);
    free(b);
}

static int count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    while (readdir(d)) n++;
    closedir(d);
    return n;
}

/* Reads [start, start+count) into a buffer with a canary after it: the reader
 * widens in place inside the caller's array and must not write past it. */
static int read_checked(swat_dataset *ds, int64_t start, int64_t count, int32_t *out, char *err)
{
    int32_t *buf = malloc(sizeof(int32_t) * (size_t)(count + 1));
    assert_non_null(buf);
    buf[count] = 0x5a5a5a5a;
    int rc = swat_data_read(ds, start, count, buf, err);
    assert_int_equal(buf[count], 0x5a5a5a5a);
    if (rc == 0) memcpy(out, buf, sizeof(int32_t) * (size_t)count);
    free(buf);
    return rc;
}

/* Asserts that opening fails with a message holding both needles. */
static void expect_open_error(const char *pattern, int format, int64_t vocab, const char *needle1,
                              const char *needle2)
{
    char err[SWAT_ERR_LEN] = "";
    swat_dataset *ds = (swat_dataset *)&ds; /* must be reset to NULL on failure */
    int fds = count_open_fds();
    int rc = swat_data_open(&ds, pattern, format, vocab, err);
    if (rc == 0) fail_msg("opening %s succeeded, expected an error with '%s'", pattern, needle1);
    assert_null(ds);
    assert_int_equal(count_open_fds(), fds);
    assert_null(strchr(err, '\n'));
    if (needle1 && !strstr(err, needle1)) fail_msg("message '%s' lacks '%s'", err, needle1);
    if (needle2 && !strstr(err, needle2)) fail_msg("message '%s' lacks '%s'", err, needle2);
}

/* ---- bytes ------------------------------------------------------------------------ */

static void test_bytes_single(void **state)
{
    (void)state;
    char dir[SWAT_PATH_LEN], path[SWAT_PATH_LEN], err[SWAT_ERR_LEN];
    test_dir(dir, "bytes_single");
    path_in(path, dir, "one.txt");
    unsigned char b[1000];
    for (int i = 0; i < 1000; i++) b[i] = (unsigned char)(i * 37 + 11);
    write_file(path, b, sizeof b);

    swat_dataset *ds = NULL;
    assert_int_equal(swat_data_open(&ds, path, SWAT_DATA_BYTES, 256, err), 0);
    assert_int_equal(swat_data_num_tokens(ds), 1000);
    int32_t out[1000];
    assert_int_equal(read_checked(ds, 0, 1000, out, err), 0);
    for (int i = 0; i < 1000; i++) assert_int_equal(out[i], b[i]);
    assert_int_equal(read_checked(ds, 500, 100, out, err), 0);
    for (int i = 0; i < 100; i++) assert_int_equal(out[i], b[500 + i]);
    assert_int_equal(read_checked(ds, 999, 1, out, err), 0);
    assert_int_equal(out[0], b[999]);
    assert_int_equal(swat_data_read(ds, 1000, 0, NULL, err), 0);
    swat_data_close(ds);
    swat_data_close(NULL);
}

/* Files in byte order, not creation, directory or locale order; a non-matching
 * file in the same folder is left out; reads cross every boundary. */
static void test_glob_order(void **state)
{
    (void)state;
    static const char *sorted[] = {"B.bin",   "_x.bin", "a.bin",  "a1.bin", "a10.bin",
                                   "a2.bin",  "aa.bin", "b.bin",  "z9.bin"};
    static const int create_order[] = {7, 4, 8, 5, 0, 6, 3, 1, 2};
    enum { NF = 9 };
    char dir[SWAT_PATH_LEN], path[SWAT_PATH_LEN], err[SWAT_ERR_LEN];
    test_dir(dir, "glob_order");
    unsigned char stream[4096];
    int64_t len[NF], N = 0;
    for (int f = 0; f < NF; f++) len[f] = 3 + 5 * f;
    for (int f = 0; f < NF; f++) N += len[f];
    /* file f holds bytes 16f + small offsets, so a wrong order shows */
    int64_t pos = 0;
    for (int f = 0; f < NF; f++)
        for (int64_t i = 0; i < len[f]; i++) stream[pos++] = (unsigned char)(16 * f + i % 16);
    for (int c = 0; c < NF; c++) {
        int f = create_order[c];
        int64_t off = 0;
        for (int g = 0; g < f; g++) off += len[g];
        path_in(path, dir, sorted[f]);
        write_file(path, stream + off, (size_t)len[f]);
    }
    path_in(path, dir, "a.txt");
    write_file(path, "zzz", 3);

    char pattern[SWAT_PATH_LEN];
    path_in(pattern, dir, "*.bin");
    swat_dataset *ds = NULL;
    assert_int_equal(swat_data_open(&ds, pattern, SWAT_DATA_BYTES, 256, err), 0);
    assert_int_equal(swat_data_num_tokens(ds), N);
    int32_t out[4096];
    assert_int_equal(read_checked(ds, 0, N, out, err), 0);
    for (int64_t i = 0; i < N; i++) assert_int_equal(out[i], stream[i]);
    /* every start and a few lengths, most of them straddling boundaries */
    static const int64_t lens[] = {1, 2, 7, 19};
    for (int64_t s = 0; s < N; s++)
        for (int l = 0; l < 4 && s + lens[l] <= N; l++) {
            assert_int_equal(read_checked(ds, s, lens[l], out, err), 0);
            for (int64_t i = 0; i < lens[l]; i++) assert_int_equal(out[i], stream[s + i]);
        }
    swat_data_close(ds);
}

static void test_literal_path_with_glob_chars(void **state)
{
    (void)state;
    char dir[SWAT_PATH_LEN], path[SWAT_PATH_LEN], err[SWAT_ERR_LEN];
    test_dir(dir, "literal");
    path_in(path, dir, "shard[1].bin");
    write_file(path, "hello", 5);
    swat_dataset *ds = NULL;
    assert_int_equal(swat_data_open(&ds, path, SWAT_DATA_BYTES, 256, err), 0);
    assert_int_equal(swat_data_num_tokens(ds), 5);
    int32_t out[5];
    assert_int_equal(read_checked(ds, 0, 5, out, err), 0);
    assert_int_equal(out[4], 'o');
    swat_data_close(ds);
}

/* ---- llm.c shards ---------------------------------------------------------------- */

static void test_llmc_u16_u32(void **state)
{
    (void)state;
    char dir[SWAT_PATH_LEN], p0[SWAT_PATH_LEN], p1[SWAT_PATH_LEN], p2[SWAT_PATH_LEN];
    char err[SWAT_ERR_LEN];
    test_dir(dir, "llmc");
    enum { N0 = 3001, N1 = 777, N2 = 50 };
    static uint32_t t0[N0], t1[N1], t2[N2];
    /* ids that use every byte, up to the largest of each width */
    for (int i = 0; i < N0; i++) t0[i] = (uint32_t)(i * 2654435761u >> 16) & 0xffff;
    t0[0] = 65535;
    t0[1] = 256;
    for (int i = 0; i < N1; i++) t1[i] = (uint32_t)(i * 2654435761u) % 2147483647u;
    t1[0] = 2147483646u;
    t1[1] = 0x01020304u;
    for (int i = 0; i < N2; i++) t2[i] = (uint32_t)i * 1000u;
    path_in(p0, dir, "shard_000.bin");
    path_in(p1, dir, "shard_001.bin");
    path_in(p2, dir, "shard_002.bin");
    write_llmc(p0, 20240520, 1, N0, t0, N0, 2);
    write_llmc(p1, 20240801, 7, N1, t1, N1, 4); /* llm.c's own version for uint32 */
    write_llmc(p2, 20240801, 1, N2, t2, N2, 4);

    swat_dataset *ds = NULL;
    /* one file at a time */
    assert_int_equal(swat_data_open(&ds, p0, SWAT_DATA_LLMC, 65536, err), 0);
    assert_int_equal(swat_data_num_tokens(ds), N0);
    static int32_t out[N0 + N1 + N2];
    assert_int_equal(read_checked(ds, 0, N0, out, err), 0);
    for (int i = 0; i < N0; i++) assert_int_equal(out[i], t0[i]);
    assert_int_equal(read_checked(ds, 1, 3, out, err), 0);
    assert_int_equal(out[0], 256);
    assert_int_equal(out[1], t0[2]);
    swat_data_close(ds);

    assert_int_equal(swat_data_open(&ds, p1, SWAT_DATA_LLMC, INT32_MAX, err), 0);
    assert_int_equal(swat_data_num_tokens(ds), N1);
    assert_int_equal(read_checked(ds, 0, N1, out, err), 0);
    for (int i = 0; i < N1; i++) assert_int_equal(out[i], t1[i]);
    assert_int_equal(out[0], 2147483646);
    assert_int_equal(out[1], 0x01020304);
    swat_data_close(ds);

    /* mixed widths in one stream, read across both boundaries */
    char pattern[SWAT_PATH_LEN];
    path_in(pattern, dir, "shard_*.bin");
    assert_int_equal(swat_data_open(&ds, pattern, SWAT_DATA_LLMC, INT32_MAX, err), 0);
    assert_int_equal(swat_data_num_tokens(ds), N0 + N1 + N2);
    assert_int_equal(read_checked(ds, 0, N0 + N1 + N2, out, err), 0);
    for (int i = 0; i < N0; i++) assert_int_equal(out[i], t0[i]);
    for (int i = 0; i < N1; i++) assert_int_equal(out[N0 + i], t1[i]);
    for (int i = 0; i < N2; i++) assert_int_equal(out[N0 + N1 + i], t2[i]);
    assert_int_equal(read_checked(ds, N0 - 2, N1 + 4, out, err), 0);
    assert_int_equal(out[0], t0[N0 - 2]);
    assert_int_equal(out[1], t0[N0 - 1]);
    assert_int_equal(out[2], t1[0]);
    assert_int_equal(out[N1 + 1], t1[N1 - 1]);
    assert_int_equal(out[N1 + 2], t2[0]);
    assert_int_equal(out[N1 + 3], t2[1]);
    swat_data_close(ds);
}

/* A header that claims no tokens is a valid, empty shard. */
static void test_llmc_zero_count(void **state)
{
    (void)state;
    char dir[SWAT_PATH_LEN], path[SWAT_PATH_LEN], err[SWAT_ERR_LEN];
    test_dir(dir, "llmc_zero");
    uint32_t t[3] = {5, 6, 7};
    path_in(path, dir, "a.bin");
    write_llmc(path, 20240520, 1, 2, t, 2, 2);
    path_in(path, dir, "b.bin");
    write_llmc(path, 20240520, 1, 0, NULL, 0, 2);
    path_in(path, dir, "c.bin");
    write_llmc(path, 20240520, 1, 1, t + 2, 1, 2);
    char pattern[SWAT_PATH_LEN];
    path_in(pattern, dir, "*.bin");
    swat_dataset *ds = NULL;
    assert_int_equal(swat_data_open(&ds, pattern, SWAT_DATA_LLMC, 50257, err), 0);
    assert_int_equal(swat_data_num_tokens(ds), 3);
    int32_t out[3];
    assert_int_equal(read_checked(ds, 0, 3, out, err), 0);
    assert_int_equal(out[0], 5);
    assert_int_equal(out[1], 6);
    assert_int_equal(out[2], 7);
    assert_int_equal(read_checked(ds, 2, 1, out, err), 0);
    assert_int_equal(out[0], 7);
    swat_data_close(ds);
}

static void test_llmc_bad_headers(void **state)
{
    (void)state;
    char dir[SWAT_PATH_LEN], path[SWAT_PATH_LEN], good[SWAT_PATH_LEN];
    test_dir(dir, "llmc_bad");
    uint32_t t[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

    path_in(path, dir, "magic.bin");
    write_llmc(path, 12345, 1, 16, t, 16, 2);
    expect_open_error(path, SWAT_DATA_LLMC, 50257, path, "bad llm.c magic 12345");

    /* the bytes of a text file read as a magic number */
    path_in(path, dir, "text.bin");
    {
        char text[2048];
        memset(text, 'a', sizeof text);
        write_file(path, text, sizeof text);
    }
    expect_open_error(path, SWAT_DATA_LLMC, 50257, path, "bad llm.c magic 1633771873");

    path_in(path, dir, "version16.bin");
    write_llmc(path, 20240520, 2, 16, t, 16, 2);
    expect_open_error(path, SWAT_DATA_LLMC, 50257, path, "version 2");

    path_in(path, dir, "version32.bin");
    write_llmc(path, 20240801, 3, 16, t, 16, 4);
    expect_open_error(path, SWAT_DATA_LLMC, 50257, path, "version 3");

    path_in(path, dir, "short.bin");
    write_llmc(path, 20240520, 1, 16, t, 15, 2);
    expect_open_error(path, SWAT_DATA_LLMC, 50257, path, "does not match");

    path_in(path, dir, "long.bin");
    write_llmc(path, 20240520, 1, 15, t, 16, 2);
    expect_open_error(path, SWAT_DATA_LLMC, 50257, path, "does not match");

    /* uint16 tokens behind a uint32 magic: the sizes disagree */
    path_in(path, dir, "width.bin");
    write_llmc(path, 20240801, 1, 16, t, 16, 2);
    expect_open_error(path, SWAT_DATA_LLMC, 50257, path, "does not match");

    path_in(path, dir, "hostile.bin");
    write_llmc(path, 20240801, 1, INT32_MAX, t, 16, 4);
    expect_open_error(path, SWAT_DATA_LLMC, 50257, path, "2147483647");

    path_in(path, dir, "negative.bin");
    write_llmc(path, 20240520, 1, -5, t, 16, 2);
    expect_open_error(path, SWAT_DATA_LLMC, 50257, path, "-5");

    path_in(path, dir, "truncated.bin");
    {
        unsigned char h[500] = {0};
        put_le32(h, 20240520);
        put_le32(h + 4, 1);
        write_file(path, h, sizeof h);
    }
    expect_open_error(path, SWAT_DATA_LLMC, 50257, path, "truncated");

    path_in(path, dir, "empty.bin");
    write_file(path, "", 0);
    expect_open_error(path, SWAT_DATA_LLMC, 50257, path, "empty");

    /* one bad shard among good ones: the error names it, and the descriptors
     * of the shards opened before it are closed */
    char sub[SWAT_PATH_LEN], pattern[SWAT_PATH_LEN];
    path_in(sub, dir, "mixed");
    assert_int_equal(mkdir(sub, 0755), 0);
    path_in(good, sub, "s0.bin");
    write_llmc(good, 20240520, 1, 16, t, 16, 2);
    path_in(good, sub, "s1.bin");
    write_llmc(good, 20240520, 1, 16, t, 16, 2);
    path_in(path, sub, "s2.bin");
    write_llmc(path, 20240520, 9, 16, t, 16, 2);
    path_in(pattern, sub, "s*.bin");
    expect_open_error(pattern, SWAT_DATA_LLMC, 50257, path, "version 9");
}

static void test_open_errors(void **state)
{
    (void)state;
    char dir[SWAT_PATH_LEN], path[SWAT_PATH_LEN], pattern[SWAT_PATH_LEN];
    test_dir(dir, "open_errors");

    path_in(path, dir, "empty.txt");
    write_file(path, "", 0);
    expect_open_error(path, SWAT_DATA_BYTES, 256, path, "empty");

    path_in(path, dir, "some.txt");
    write_file(path, "abc", 3);
    expect_open_error(path, SWAT_DATA_BYTES, 255, "vocab_size", "255");
    expect_open_error(path, SWAT_DATA_BYTES, 0, "vocab_size", NULL);
    expect_open_error(path, 7, 256, "format", NULL);

    path_in(pattern, dir, "*.nothing");
    expect_open_error(pattern, SWAT_DATA_BYTES, 256, pattern, "no file matches");
    path_in(path, dir, "missing.txt");
    expect_open_error(path, SWAT_DATA_BYTES, 256, path, "no such file");
    path_in(pattern, dir, "nodir/*.txt");
    expect_open_error(pattern, SWAT_DATA_BYTES, 256, pattern, NULL);
    expect_open_error("", SWAT_DATA_BYTES, 256, "empty", NULL);

    /* a directory named directly, or matched among files */
    expect_open_error(dir, SWAT_DATA_BYTES, 256, dir, "directory");
    char mixed[SWAT_PATH_LEN], sub[SWAT_PATH_LEN];
    path_in(mixed, dir, "mixed");
    assert_int_equal(mkdir(mixed, 0755), 0);
    path_in(path, mixed, "a.txt");
    write_file(path, "abc", 3);
    path_in(sub, mixed, "b");
    assert_int_equal(mkdir(sub, 0755), 0);
    path_in(pattern, mixed, "*");
    expect_open_error(pattern, SWAT_DATA_BYTES, 256, sub, "directory");
}

/* ---- reading errors ---------------------------------------------------------------- */

static void test_token_out_of_vocab(void **state)
{
    (void)state;
    char dir[SWAT_PATH_LEN], p0[SWAT_PATH_LEN], p1[SWAT_PATH_LEN], pattern[SWAT_PATH_LEN];
    char err[SWAT_ERR_LEN];
    test_dir(dir, "vocab");
    enum { N = 2000 };
    static uint32_t t[N];
    for (int i = 0; i < N; i++) t[i] = (uint32_t)i % 50257u;
    path_in(p0, dir, "a.bin");
    write_llmc(p0, 20240520, 1, N, t, N, 2);
    t[1234] = 60000;
    path_in(p1, dir, "b.bin");
    write_llmc(p1, 20240520, 1, N, t, N, 2);
    path_in(pattern, dir, "*.bin");

    swat_dataset *ds = NULL;
    assert_int_equal(swat_data_open(&ds, pattern, SWAT_DATA_LLMC, 50257, err), 0);
    static int32_t out[2 * N];
    /* the first file and the second up to the bad token read fine */
    assert_int_equal(read_checked(ds, 0, N + 1234, out, err), 0);
    assert_int_equal(read_checked(ds, N + 1235, N - 1235, out, err), 0);
    err[0] = '\0';
    assert_int_not_equal(read_checked(ds, 0, 2 * N, out, err), 0);
    if (!strstr(err, p1) || !strstr(err, "60000") || !strstr(err, "offset 1234") ||
        !strstr(err, "50257"))
        fail_msg("message '%s' lacks the file, id, offset or vocab_size", err);
    assert_int_not_equal(read_checked(ds, N + 1234, 1, out, err), 0);
    assert_non_null(strstr(err, "offset 1234"));
    swat_data_close(ds);

    /* uint32 ids, including one past 2^31 that would wrap to negative */
    uint32_t u[4] = {1, 70000, 3, 4000000000u};
    path_in(p0, dir, "wide.bin");
    write_llmc(p0, 20240801, 7, 4, u, 4, 4);
    assert_int_equal(swat_data_open(&ds, p0, SWAT_DATA_LLMC, 50257, err), 0);
    assert_int_not_equal(read_checked(ds, 0, 4, out, err), 0);
    if (!strstr(err, p0) || !strstr(err, "70000") || !strstr(err, "offset 1"))
        fail_msg("message '%s'", err);
    assert_int_not_equal(read_checked(ds, 2, 2, out, err), 0);
    if (!strstr(err, "4000000000") || !strstr(err, "offset 3")) fail_msg("message '%s'", err);
    swat_data_close(ds);
    assert_int_equal(swat_data_open(&ds, p0, SWAT_DATA_LLMC, 100000, err), 0);
    assert_int_equal(read_checked(ds, 0, 3, out, err), 0);
    assert_int_equal(out[1], 70000);
    assert_int_not_equal(read_checked(ds, 0, 4, out, err), 0);
    swat_data_close(ds);
}

static void test_read_range(void **state)
{
    (void)state;
    char dir[SWAT_PATH_LEN], path[SWAT_PATH_LEN], err[SWAT_ERR_LEN];
    test_dir(dir, "range");
    path_in(path, dir, "ten.txt");
    write_file(path, "0123456789", 10);
    swat_dataset *ds = NULL;
    assert_int_equal(swat_data_open(&ds, path, SWAT_DATA_BYTES, 256, err), 0);
    int32_t out[16];
    assert_int_equal(read_checked(ds, 8, 2, out, err), 0);
    assert_int_equal(out[1], '9');
    err[0] = '\0';
    assert_int_not_equal(read_checked(ds, 8, 3, out, err), 0);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "10 tokens"));
    assert_int_not_equal(read_checked(ds, 10, 1, out, err), 0);
    assert_int_not_equal(read_checked(ds, -1, 2, out, err), 0);
    assert_int_not_equal(swat_data_read(ds, 0, -1, out, err), 0);
    assert_int_not_equal(swat_data_read(ds, INT64_MAX, 1, out, err), 0);
    assert_int_not_equal(swat_data_read(ds, 5, INT64_MAX, out, err), 0);
    assert_int_not_equal(swat_data_read(NULL, 0, 1, out, err), 0);
    swat_data_close(ds);
}

/* A file cut short after open is a clear error, not a crash or stale data. */
static void test_truncated_after_open(void **state)
{
    (void)state;
    char dir[SWAT_PATH_LEN], path[SWAT_PATH_LEN], err[SWAT_ERR_LEN];
    test_dir(dir, "truncated");
    path_in(path, dir, "t.txt");
    unsigned char b[1000];
    memset(b, 'x', sizeof b);
    write_file(path, b, sizeof b);
    swat_dataset *ds = NULL;
    assert_int_equal(swat_data_open(&ds, path, SWAT_DATA_BYTES, 256, err), 0);
    assert_int_equal(truncate(path, 500), 0);
    int32_t out[1000];
    assert_int_equal(read_checked(ds, 0, 500, out, err), 0);
    err[0] = '\0';
    assert_int_not_equal(read_checked(ds, 400, 200, out, err), 0);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "short read"));
    swat_data_close(ds);
}

/* Millions of tokens in one call run at memory speed: expected ~20 ms here; a
 * reader issuing a syscall per token needs seconds, so 2 s separates the two
 * with a wide margin for a loaded machine. */
static void test_bulk_read(void **state)
{
    (void)state;
    char dir[SWAT_PATH_LEN], path[SWAT_PATH_LEN], err[SWAT_ERR_LEN];
    test_dir(dir, "bulk");
    enum { N = 8 << 20 };
    uint32_t *t = malloc(sizeof(uint32_t) * N);
    assert_non_null(t);
    for (uint32_t i = 0; i < N; i++) t[i] = (i * 2654435761u) >> 16;
    path_in(path, dir, "big.bin");
    write_llmc(path, 20240520, 1, N, t, N, 2);
    swat_dataset *ds = NULL;
    assert_int_equal(swat_data_open(&ds, path, SWAT_DATA_LLMC, 65536, err), 0);
    int32_t *out = malloc(sizeof(int32_t) * N);
    assert_non_null(out);
    double t0 = swat_now();
    assert_int_equal(swat_data_read(ds, 0, N, out, err), 0);
    double dt = swat_now() - t0;
    for (uint32_t i = 0; i < N; i++)
        if ((uint32_t)out[i] != t[i]) fail_msg("token %u: %d != %u", i, out[i], t[i]);
    if (dt > 2.0) fail_msg("reading %d tokens took %.2f s", N, dt);
    swat_data_close(ds);
    free(out);
    free(t);
    unlink(path);
}

/* ---- samples ---------------------------------------------------------------------- */

static void test_num_samples(void **state)
{
    (void)state;
    char dir[SWAT_PATH_LEN], path[SWAT_PATH_LEN], err[SWAT_ERR_LEN];
    test_dir(dir, "num_samples");
    static const int64_t sizes[] = {17, 16, 33, 32, 1, 100};
    static const int64_t expect[] = {1, 0, 2, 1, 0, 6}; /* ⌊(N−1)/16⌋ */
    unsigned char b[100] = {0};
    for (int c = 0; c < 6; c++) {
        path_in(path, dir, "f.txt");
        write_file(path, b, (size_t)sizes[c]);
        swat_dataset *ds = NULL;
        assert_int_equal(swat_data_open(&ds, path, SWAT_DATA_BYTES, 256, err), 0);
        assert_int_equal(swat_data_num_samples(ds, 16), expect[c]);
        swat_data_close(ds);
    }
    path_in(path, dir, "f.txt");
    write_file(path, b, 2);
    swat_dataset *ds = NULL;
    assert_int_equal(swat_data_open(&ds, path, SWAT_DATA_BYTES, 256, err), 0);
    assert_int_equal(swat_data_num_samples(ds, 1), 1);
    assert_int_equal(swat_data_num_samples(ds, 2), 0);
    assert_int_equal(swat_data_num_samples(ds, 0), 0);
    swat_data_close(ds);
}

static void test_sampler_sequential(void **state)
{
    (void)state;
    swat_sampler s;
    swat_sampler_init(&s, 5, 3, 99, 0);
    static const int64_t first[3][3] = {{0, 1, 2}, {3, 4, 0}, {1, 2, 3}};
    for (int k = 1; k <= 3; k++)
        for (int j = 0; j < 3; j++) assert_int_equal(swat_sampler_index(&s, k, j), first[k - 1][j]);
    for (int64_t k = 1; k <= 50; k++)
        for (int64_t j = 0; j < 3; j++)
            assert_int_equal(swat_sampler_index(&s, k, j), ((k - 1) * 3 + j) % 5);
    assert_int_equal(swat_sampler_index(&s, 1000000001, 2), (1000000000LL * 3 + 2) % 5);
    swat_sampler_free(&s);
    swat_sampler_free(&s);
}

/* perm_e(x) from the definition: Fisher–Yates over 0…n−1, seeded by (seed, e). */
static int64_t ref_perm(int64_t n, uint64_t seed, int64_t e, int64_t x)
{
    int64_t *p = malloc(sizeof(int64_t) * (size_t)n);
    assert_non_null(p);
    swat_rng r;
    swat_rng_seed(&r, seed, (uint64_t)e);
    for (int64_t i = 0; i < n; i++) p[i] = i;
    for (int64_t i = n - 1; i >= 1; i--) {
        int64_t j = (int64_t)swat_rng_below(&r, (uint64_t)(i + 1));
        int64_t t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
    int64_t v = p[x];
    free(p);
    return v;
}

static int64_t ref_index(int64_t n, int64_t B, uint64_t seed, int64_t k, int64_t j)
{
    int64_t i = (k - 1) * B + j;
    return ref_perm(n, seed, i / n, i % n);
}

static void test_sampler_epochs(void **state)
{
    (void)state;
    enum { n = 37, B = 8, E = 5 };
    swat_sampler s;
    swat_sampler_init(&s, n, B, 42, 1);
    int64_t perm[E][n];
    for (int e = 0; e < E; e++) {
        int seen[n] = {0};
        for (int64_t x = 0; x < n; x++) {
            int64_t i = (int64_t)e * n + x;
            int64_t v = swat_sampler_index(&s, i / B + 1, i % B);
            assert_in_range(v, 0, n - 1);
            seen[v]++;
            perm[e][x] = v;
        }
        for (int v = 0; v < n; v++) assert_int_equal(seen[v], 1);
    }
    for (int e = 1; e < E; e++) assert_memory_not_equal(perm[e], perm[0], sizeof perm[0]);
    int identity = 1;
    for (int x = 0; x < n; x++) identity &= perm[0][x] == x;
    assert_false(identity);

    /* equal seeds agree, another seed does not */
    swat_sampler same, other;
    swat_sampler_init(&same, n, B, 42, 1);
    swat_sampler_init(&other, n, B, 43, 1);
    int differ = 0;
    for (int64_t k = 1; k <= 3 * n; k++)
        for (int64_t j = 0; j < B; j++) {
            int64_t v = swat_sampler_index(&s, k, j);
            assert_int_equal(swat_sampler_index(&same, k, j), v);
            differ |= swat_sampler_index(&other, k, j) != v;
        }
    assert_true(differ);
    swat_sampler_free(&s);
    swat_sampler_free(&same);
    swat_sampler_free(&other);
}

/* Against the definition for batch sizes that straddle epoch boundaries (B
 * not dividing n) and exceed n (one update spans several epochs), asked in
 * order, backwards, and at random: the answer depends on (n, B, seed, shuffle,
 * k, j) only, not on what was asked before. */
static void test_sampler_reference(void **state)
{
    (void)state;
    static const int64_t cases[][2] = {{13, 5}, {13, 30}, {1, 4}, {2, 3}, {64, 64}};
    for (int c = 0; c < 5; c++) {
        int64_t n = cases[c][0], B = cases[c][1];
        uint64_t seed = 1234 + (uint64_t)c;
        swat_sampler s;
        swat_sampler_init(&s, n, B, seed, 1);
        for (int64_t k = 1; k <= 12; k++)
            for (int64_t j = 0; j < B; j++)
                assert_int_equal(swat_sampler_index(&s, k, j), ref_index(n, B, seed, k, j));
        for (int64_t k = 12; k >= 1; k--)
            for (int64_t j = B - 1; j >= 0; j--)
                assert_int_equal(swat_sampler_index(&s, k, j), ref_index(n, B, seed, k, j));
        swat_rng r;
        swat_rng_seed(&r, 7, (uint64_t)c);
        for (int q = 0; q < 300; q++) {
            int64_t k = 1 + (int64_t)swat_rng_below(&r, 100000);
            int64_t j = (int64_t)swat_rng_below(&r, (uint64_t)B);
            assert_int_equal(swat_sampler_index(&s, k, j), ref_index(n, B, seed, k, j));
        }
        swat_sampler_free(&s);
    }
    /* an update straddling a boundary, slot by slot: n = 10, B = 4, update 3
     * holds i = 8, 9 (epoch 0) and 10, 11 (epoch 1) */
    swat_sampler s;
    swat_sampler_init(&s, 10, 4, 5, 1);
    assert_int_equal(swat_sampler_index(&s, 3, 0), ref_perm(10, 5, 0, 8));
    assert_int_equal(swat_sampler_index(&s, 3, 2), ref_perm(10, 5, 1, 0));
    assert_int_equal(swat_sampler_index(&s, 3, 1), ref_perm(10, 5, 0, 9));
    assert_int_equal(swat_sampler_index(&s, 3, 3), ref_perm(10, 5, 1, 1));
    swat_sampler_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes_single),
        cmocka_unit_test(test_glob_order),
        cmocka_unit_test(test_literal_path_with_glob_chars),
        cmocka_unit_test(test_llmc_u16_u32),
        cmocka_unit_test(test_llmc_zero_count),
        cmocka_unit_test(test_llmc_bad_headers),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_token_out_of_vocab),
        cmocka_unit_test(test_read_range),
        cmocka_unit_test(test_truncated_after_open),
        cmocka_unit_test(test_bulk_read),
        cmocka_unit_test(test_num_samples),
        cmocka_unit_test(test_sampler_sequential),
        cmocka_unit_test(test_sampler_epochs),
        cmocka_unit_test(test_sampler_reference),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
