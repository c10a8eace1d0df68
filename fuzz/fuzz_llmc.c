/* SPDX-License-Identifier: MIT */
/* fuzz_llmc.c: libFuzzer harness for the token readers of data.c.
 *
 * Input byte 0 chooses a variant, the rest is file content:
 *   bit 0: repair the llm.c header's token count to match the size, so that
 *          inputs reach the token reads instead of stopping at the size check;
 *   bit 1: split the content into two files of one glob (reads cross a file
 *          boundary; byte 1 picks the split point).
 * Each variant is opened as llmc and as bytes with a few vocab sizes and read
 * over ranges at the start, the end, past the end and across the split. It
 * must never crash; every refusal must leave a message. */
#include "fuzz.h"
#include "swat/config.h"
#include "swat/data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256], pattern[300], path_a[300], path_b[300];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/swat-fuzz-llmc-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(dir)) abort();
    snprintf(path_a, sizeof path_a, "%s/a.bin", dir);
    snprintf(path_b, sizeof path_b, "%s/b.bin", dir);
    snprintf(pattern, sizeof pattern, "%s/*.bin", dir);
    return 0;
}

static void write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f)) abort();
}

static void check_err(const char *err)
{
    if (!err[0] || !memchr(err, 0, SWAT_ERR_LEN)) abort(); /* a refusal must say why */
}

static void exercise(const char *name, int format, int64_t vocab)
{
    char err[SWAT_ERR_LEN] = "";
    swat_dataset *ds = NULL;
    if (swat_data_open(&ds, name, format, vocab, err)) {
        check_err(err);
        if (ds) abort();
        return;
    }
    int64_t n = swat_data_num_tokens(ds);
    if (n < 0) abort();
    (void)swat_data_num_samples(ds, 1);
    (void)swat_data_num_samples(ds, 7);
    (void)swat_data_num_samples(ds, INT64_MAX);
    int32_t buf[600];
    const int64_t ranges[][2] = {
        {0, 1},       {0, n < 600 ? n : 600}, {n > 5 ? n - 5 : 0, 5}, {n - 1, 1},
        {n, 1},       {n, 0},                 {n / 2, n - n / 2 < 600 ? n - n / 2 : 600},
        {-1, 2},      {0, -1},                {INT64_MAX - 1, 2},     {n - 1, INT64_MAX}};
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
        int64_t start = ranges[i][0], count = ranges[i][1];
        /* a huge count is only asked where it must be refused, so buf is never overrun */
        int must_fail = start < 0 || count < 0 || start > n || count > n - start;
        if (!must_fail && count > 600) continue;
        err[0] = '\0';
        int rc = swat_data_read(ds, start, count, buf, err);
        if (rc) check_err(err);
        if (must_fail && count > 0 && rc == 0) abort();
        if (rc == 0)
            for (int64_t j = 0; j < count; j++)
                if (buf[j] < 0 || buf[j] >= vocab) abort(); /* ids are checked on read */
    }
    swat_data_close(ds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    unsigned mode = data[0];
    size_t split = data[1];
    data += 2, size -= 2;
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    if ((mode & 1) && size >= 1024) {
        /* count = the whole tokens after the header, and the file cut to them */
        uint32_t magic = (uint32_t)copy[0] | (uint32_t)copy[1] << 8 | (uint32_t)copy[2] << 16 |
                         (uint32_t)copy[3] << 24;
        size_t tsize = magic == 20240801u ? 4 : 2;
        uint32_t count = (uint32_t)((size - 1024) / tsize);
        for (int b = 0; b < 4; b++) copy[8 + b] = (uint8_t)(count >> (8 * b));
        size = 1024 + (size_t)count * tsize;
    }
    unlink(path_a);
    unlink(path_b);
    const char *name = path_a;
    if ((mode & 2) && size > 0) {
        size_t cut = split * size / 256;
        write_file(path_a, copy, cut);
        write_file(path_b, copy + cut, size - cut);
        name = pattern;
    } else {
        write_file(path_a, copy, size);
    }
    static const int64_t vocabs[] = {1, 16, 256, 65536, 2147483647, 0};
    for (size_t i = 0; i < sizeof vocabs / sizeof vocabs[0]; i++) {
        exercise(name, SWAT_DATA_LLMC, vocabs[i]);
        exercise(name, SWAT_DATA_BYTES, vocabs[i]);
    }
    free(copy);
    return 0;
}
