/* SPDX-License-Identifier: MIT */
/* data.c: token streams (docs/training.md) and the sample order.
 *
 * A dataset keeps one open descriptor per file and reads with pread on demand,
 * so memory is O(files), never O(tokens), and any rank can read any range
 * without shared state: swat_data_read is reentrant (no staging buffer; the raw
 * bytes land in the tail of the caller's int32 array and are widened in place,
 * front to back, which never overwrites a raw token not yet read).
 *
 * Files are checked once, at open, so that training never meets a malformed
 * header: every refusal is one line naming the file. Only what cannot be known
 * at open (a token id ≥ vocab_size, a file truncated since) is found by read.
 * Multi-byte values are assembled from little-endian bytes explicitly, so the
 * format does not depend on the host's byte order.
 *
 * llm.c shards: magic 20240520 is written by llm.c with version 1 and uint16
 * tokens, and its reader refuses any other version. Magic 20240801 (uint32
 * tokens) is written by llm.c's dev/data/data_common.py with version 7; 1 and 2
 * are accepted too, as the token layout does not depend on the version.
 * Anything else is refused: an unknown version may mean an unknown layout.
 *
 * Text (swat-eval --format text): a UTF-8 file encoded as one document,
 * [bos] + its SentencePiece ids, held in memory as one int32 "file" of the
 * stream (a document is held whole anyway; the reader copies from it). Its
 * ids are checked against vocab_size once, when the dataset is made. */
#include "swat/data.h"
#include "swat/config.h"
#include "swat/corpus.h"
#include "swat/rng.h"
#include "swat/text.h"
#include "swat/tokenizer.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { LLMC_HEADER_BYTES = 256 * 4 };
#define LLMC_MAGIC_U16 20240520
#define LLMC_MAGIC_U32 20240801
/* One pread moves at most this much: Linux caps a single transfer near 2 GiB. */
#define PREAD_MAX ((size_t)1 << 30)

typedef struct data_file {
    int fd;
    char *path;
    int64_t first;  /* index in the stream of its first token */
    int64_t count;  /* tokens it holds */
    int64_t header; /* bytes before its first token */
    int tsize;      /* bytes per token: 1, 2 or 4 */
    int32_t *mem;   /* [count] tokens held in memory (text), else NULL */
} data_file;

struct swat_dataset {
    char *pattern;
    int64_t vocab;
    int64_t ntokens;
    size_t nfiles;
    data_file *files; /* [nfiles], in stream order */
};

static char *dup_string(const char *s)
{
    size_t len = strlen(s) + 1;
    char *p = swat_malloc(len);
    memcpy(p, s, len);
    return p;
}

/* ---- finding the files ---------------------------------------------------------- */

/* glob(3) reports the directory it could not read only through this callback,
 * which takes no user pointer; thread-local storage keeps open() reentrant. */
static _Thread_local char glob_fail_path[SWAT_PATH_LEN];
static _Thread_local int glob_fail_errno;

static int glob_failed(const char *epath, int eerrno)
{
    snprintf(glob_fail_path, sizeof glob_fail_path, "%s", epath);
    glob_fail_errno = eerrno;
    return 1; /* stop: a shard we cannot list would silently shrink the stream */
}

static int by_bytes(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_glob_chars(const char *s) { return strpbrk(s, "*?[") != NULL; }

/* Fills *paths (owned copies, byte order) with the files the pattern names. */
static int match_paths(const char *pattern, char ***paths, size_t *npaths, char *err)
{
    glob_t g;
    memset(&g, 0, sizeof g);
    glob_fail_path[0] = '\0';
    glob_fail_errno = 0;
    /* NOSORT: glob sorts with strcoll, which depends on the locale; the stream
     * order must not (docs/training.md: byte order), so we sort with strcmp ourselves */
    int rc = glob(pattern, GLOB_ERR | GLOB_NOSORT, glob_failed, &g);
    if (rc == GLOB_NOMATCH) {
        globfree(&g);
        /* a plain path may contain glob characters ("shard[1].bin") */
        struct stat st;
        if (stat(pattern, &st) != 0) {
            if (errno != ENOENT && errno != ENOTDIR)
                return swat_errf(err, "%s: %s", pattern, strerror(errno));
            if (has_glob_chars(pattern))
                return swat_errf(err, "%s: no file matches this pattern", pattern);
            return swat_errf(err, "%s: no such file", pattern);
        }
        *paths = swat_malloc(sizeof(char *));
        (*paths)[0] = dup_string(pattern);
        *npaths = 1;
        return 0;
    }
    if (rc == GLOB_ABORTED) {
        globfree(&g);
        if (glob_fail_path[0])
            return swat_errf(err, "%s: cannot read directory %s: %s", pattern, glob_fail_path,
                             strerror(glob_fail_errno));
        return swat_errf(err, "%s: cannot read a directory while matching", pattern);
    }
    if (rc != 0 || g.gl_pathc == 0) {
        globfree(&g);
        if (rc == GLOB_NOSPACE) return swat_errf(err, "%s: out of memory matching files", pattern);
        return swat_errf(err, "%s: no file matches this pattern", pattern);
    }
    char **p = swat_malloc(sizeof(char *) * g.gl_pathc);
    for (size_t i = 0; i < g.gl_pathc; i++) p[i] = dup_string(g.gl_pathv[i]);
    *npaths = g.gl_pathc;
    globfree(&g);
    qsort(p, *npaths, sizeof(char *), by_bytes);
    *paths = p;
    return 0;
}

/* ---- opening one file ------------------------------------------------------------ */

/* Reads exactly len bytes at off, retrying short transfers; returns the bytes
 * read (< len at end of file) or −1 with errno set. */
static int64_t pread_full(int fd, void *buf, size_t len, int64_t off)
{
    unsigned char *p = buf;
    size_t done = 0;
    while (done < len) {
        size_t want = len - done < PREAD_MAX ? len - done : PREAD_MAX;
        ssize_t got = pread(fd, p + done, want, (off_t)(off + (int64_t)done));
        if (got < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (got == 0) break;
        done += (size_t)got;
    }
    return (int64_t)done;
}

static int32_t le_i32(const unsigned char *b)
{
    uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    /* two's complement by arithmetic, not by a cast of an out-of-range value */
    return u <= INT32_MAX ? (int32_t)u : -(int32_t)(UINT32_MAX - u) - 1;
}

static int truncated_header(const data_file *f, int64_t bytes, char *err)
{
    return swat_errf(err, "%s: truncated llm.c header (%" PRId64 " bytes, expected %d)", f->path,
                     bytes, LLMC_HEADER_BYTES);
}

/* Checks the llm.c header against the file size; fills tsize, header, count. */
static int check_llmc(data_file *f, int64_t size, char *err)
{
    unsigned char h[LLMC_HEADER_BYTES];
    if (size < LLMC_HEADER_BYTES) return truncated_header(f, size, err);
    int64_t got = pread_full(f->fd, h, sizeof h, 0);
    if (got < 0) return swat_errf(err, "%s: cannot read the header: %s", f->path, strerror(errno));
    if (got < LLMC_HEADER_BYTES) return truncated_header(f, got, err);
    int32_t magic = le_i32(h), version = le_i32(h + 4), count = le_i32(h + 8);
    if (magic == LLMC_MAGIC_U16) {
        f->tsize = 2;
        if (version != 1)
            return swat_errf(err, "%s: unsupported llm.c version %" PRId32
                                  " for magic %d (expected 1)",
                             f->path, version, LLMC_MAGIC_U16);
    } else if (magic == LLMC_MAGIC_U32) {
        f->tsize = 4;
        if (version != 1 && version != 2 && version != 7)
            return swat_errf(err, "%s: unsupported llm.c version %" PRId32
                                  " for magic %d (expected 1, 2 or 7)",
                             f->path, version, LLMC_MAGIC_U32);
    } else {
        return swat_errf(err, "%s: bad llm.c magic %" PRId32 " (expected %d or %d)", f->path, magic,
                         LLMC_MAGIC_U16, LLMC_MAGIC_U32);
    }
    if (count < 0)
        return swat_errf(err, "%s: negative token count %" PRId32 " in the llm.c header", f->path,
                         count);
    /* count < 2^31 and tsize ≤ 4, so the product cannot overflow; the size is
     * checked against it before anything is sized by the count */
    int64_t expect = LLMC_HEADER_BYTES + (int64_t)count * f->tsize;
    if (size != expect)
        return swat_errf(err,
                         "%s: size %" PRId64 " bytes does not match the header's %" PRId32
                         " tokens of %d bytes (expected %" PRId64 " bytes)",
                         f->path, size, count, f->tsize, expect);
    f->header = LLMC_HEADER_BYTES;
    f->count = count;
    return 0;
}

static int open_file(data_file *f, int format, char *err)
{
    f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) {
        if (errno == EMFILE || errno == ENFILE)
            return swat_errf(err, "%s: too many open files (one per shard; raise ulimit -n)",
                             f->path);
        return swat_errf(err, "%s: %s", f->path, strerror(errno));
    }
    struct stat st;
    if (fstat(f->fd, &st) != 0) return swat_errf(err, "%s: %s", f->path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return swat_errf(err, "%s: is a directory, not a data file", f->path);
    /* pread needs a seekable file whose size is known up front */
    if (!S_ISREG(st.st_mode)) return swat_errf(err, "%s: not a regular file", f->path);
    int64_t size = (int64_t)st.st_size;
    if (size == 0) return swat_errf(err, "%s: empty file", f->path);
    if (format == SWAT_DATA_LLMC) return check_llmc(f, size, err);
    f->tsize = 1;
    f->header = 0;
    f->count = size;
    return 0;
}

int swat_data_open(swat_dataset **out, const char *pattern, int format, int64_t vocab_size,
                   char *err)
{
    *out = NULL;
    if (!pattern || !pattern[0]) return swat_errf(err, "data: empty file name or pattern");
    if (format != SWAT_DATA_BYTES && format != SWAT_DATA_LLMC)
        return swat_errf(err, "%s: unknown data format %d (expected bytes or llmc)", pattern,
                         format);
    if (vocab_size <= 0 || vocab_size > INT32_MAX)
        return swat_errf(err, "%s: vocab_size %" PRId64 " out of range [1, %d]", pattern,
                         vocab_size, INT32_MAX);
    if (format == SWAT_DATA_BYTES && vocab_size < 256)
        return swat_errf(err, "%s: format bytes needs vocab_size >= 256 (got %" PRId64 ")", pattern,
                         vocab_size);

    char **paths = NULL;
    size_t npaths = 0;
    if (match_paths(pattern, &paths, &npaths, err)) return -1;

    swat_dataset *ds = swat_calloc(sizeof *ds);
    ds->pattern = dup_string(pattern);
    ds->vocab = vocab_size;
    ds->files = swat_calloc(sizeof(data_file) * npaths);
    for (size_t i = 0; i < npaths; i++) {
        ds->files[i].fd = -1;
        ds->files[i].path = paths[i]; /* owned by the dataset from here */
    }
    ds->nfiles = npaths;
    swat_free(paths);

    int rc = 0;
    for (size_t i = 0; i < ds->nfiles && rc == 0; i++) {
        data_file *f = &ds->files[i];
        rc = open_file(f, format, err);
        if (rc == 0) {
            f->first = ds->ntokens;
            if (f->count > INT64_MAX - ds->ntokens)
                rc = swat_errf(err, "%s: the stream exceeds 2^63 tokens", f->path);
            else
                ds->ntokens += f->count;
        }
    }
    if (rc) {
        swat_data_close(ds);
        return -1;
    }
    *out = ds;
    return 0;
}

void swat_data_close(swat_dataset *ds)
{
    if (!ds) return;
    for (size_t i = 0; i < ds->nfiles; i++) {
        if (ds->files[i].fd >= 0) close(ds->files[i].fd);
        swat_free(ds->files[i].path);
        swat_free(ds->files[i].mem);
    }
    swat_free(ds->files);
    swat_free(ds->pattern);
    swat_free(ds);
}

int64_t swat_data_num_tokens(const swat_dataset *ds) { return ds ? ds->ntokens : 0; }

int64_t swat_data_num_samples(const swat_dataset *ds, int64_t T)
{
    if (!ds || T <= 0 || ds->ntokens <= T) return 0;
    return (ds->ntokens - 1) / T;
}

/* ---- reading ---------------------------------------------------------------------- */

/* Index of the file holding stream token `pos` (0 ≤ pos < N): the last file
 * starting at or before pos, then past any empty files starting there too. */
static size_t file_of(const swat_dataset *ds, int64_t pos)
{
    size_t lo = 0, hi = ds->nfiles; /* files[lo].first ≤ pos < files[hi].first */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (ds->files[mid].first <= pos)
            lo = mid;
        else
            hi = mid;
    }
    while (pos >= ds->files[lo].first + ds->files[lo].count) lo++;
    return lo;
}

/* Widens m raw tokens of size s, stored in the last m·s bytes of out[0…m), to
 * int32 in place, and checks them against the vocabulary. Front to back is
 * safe: out[i] covers bytes [4i, 4i+4), and the raw token i+1 starts at
 * m(4−s) + (i+1)s ≥ 4(i+1). Returns the position of the first bad id or −1. */
static int64_t widen(int32_t *out, int64_t m, int s, int64_t vocab)
{
    const unsigned char *raw = (const unsigned char *)out + (size_t)m * (size_t)(4 - s);
    uint32_t max = 0;
    switch (s) {
    case 1:
        for (int64_t i = 0; i < m; i++) {
            uint32_t v = raw[i];
            max = v > max ? v : max;
            out[i] = (int32_t)v;
        }
        break;
    case 2:
        for (int64_t i = 0; i < m; i++) {
            const unsigned char *b = raw + 2 * i;
            uint32_t v = (uint32_t)b[0] | (uint32_t)b[1] << 8;
            max = v > max ? v : max;
            out[i] = (int32_t)v;
        }
        break;
    default:
        for (int64_t i = 0; i < m; i++) {
            const unsigned char *b = raw + 4 * i;
            uint32_t v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                         (uint32_t)b[3] << 24;
            max = v > max ? v : max;
            /* an id ≥ 2^31 is refused below (vocab ≤ INT32_MAX), its bits kept
             * for the rescan */
            out[i] = (int32_t)(v & INT32_MAX) | (int32_t)(v > INT32_MAX ? INT32_MIN : 0);
        }
        break;
    }
    if ((int64_t)max < vocab) return -1;
    for (int64_t i = 0; i < m; i++)
        if ((int64_t)(uint32_t)out[i] >= vocab) return i;
    return -1; /* not reached: max came from these ids */
}

int swat_data_read(swat_dataset *ds, int64_t start, int64_t count, int32_t *out, char *err)
{
    if (!ds) return swat_errf(err, "data: read from a dataset that is not open");
    if (start < 0 || count < 0 || start > ds->ntokens - count)
        return swat_errf(err,
                         "%s: tokens [%" PRId64 ", %" PRId64 " + %" PRId64
                         ") are outside the stream of %" PRId64 " tokens",
                         ds->pattern, start, start, count, ds->ntokens);
    if (count == 0) return 0;
    if (!out)
        return swat_errf(err, "%s: read of %" PRId64 " tokens into no buffer", ds->pattern, count);

    int64_t done = 0;
    size_t fi = file_of(ds, start);
    while (done < count) {
        const data_file *f = &ds->files[fi++];
        int64_t at = start + done - f->first; /* token offset inside f */
        if (f->count == 0 || at >= f->count) continue;
        int64_t m = f->count - at < count - done ? f->count - at : count - done;
        int32_t *dst = out + done;
        if (f->mem) { /* checked against the vocabulary when it was made */
            memcpy(dst, f->mem + at, sizeof(int32_t) * (size_t)m);
            done += m;
            continue;
        }
        unsigned char *raw = (unsigned char *)dst + (size_t)m * (size_t)(4 - f->tsize);
        size_t bytes = (size_t)m * (size_t)f->tsize;
        int64_t off = f->header + at * f->tsize;
        int64_t got = pread_full(f->fd, raw, bytes, off);
        if (got < 0)
            return swat_errf(err, "%s: read error at byte %" PRId64 ": %s", f->path, off,
                             strerror(errno));
        if ((size_t)got < bytes)
            return swat_errf(err,
                             "%s: short read: %" PRId64 " of %zu bytes at byte %" PRId64
                             " (file truncated since it was opened?)",
                             f->path, got, bytes, off);
        int64_t bad = widen(dst, m, f->tsize, ds->vocab);
        if (bad >= 0)
            return swat_errf(err,
                             "%s: token %" PRIu32 " at offset %" PRId64 " (byte %" PRId64
                             ") is >= vocab_size %" PRId64,
                             f->path, (uint32_t)dst[bad], at + bad,
                             f->header + (at + bad) * f->tsize, ds->vocab);
        done += m;
    }
    return 0;
}

/* ---- text ------------------------------------------------------------------------- */

int swat_data_text_tokens(const char *path, const swat_tok *tok, swat_ids *out, char *err)
{
    out->n = 0;
    int32_t bos = swat_tok_bos(tok);
    if (bos < 0) return swat_errf(err, "%s: the tokenizer has no bos piece to start the text with", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return swat_errf(err, "%s: %s", path, strerror(errno));
    struct stat st;
    int rc = 0;
    char *text = NULL;
    if (fstat(fd, &st) != 0) rc = swat_errf(err, "%s: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode)) rc = swat_errf(err, "%s: not a regular file", path);
    if (rc == 0) {
        size_t n = (size_t)st.st_size;
        text = swat_malloc(n ? n : 1);
        int64_t got = pread_full(fd, text, n, 0);
        if (got < 0 || (size_t)got != n)
            rc = swat_errf(err, "%s: read error: %s", path, got < 0 ? strerror(errno) : "short read");
        size_t bad = rc ? n : swat_utf8_valid(text, n);
        if (bad < n) {
            int64_t line = swat_corpus_line_of(path, (int64_t)bad);
            rc = swat_errf(err, "%s:%lld: invalid UTF-8 (byte %zu)", path, (long long)line, bad);
        }
        if (rc == 0) {
            swat_ids_push(out, bos);
            if (swat_tok_encode(tok, text, n, out, err)) rc = -1;
        }
    }
    swat_free(text);
    close(fd);
    return rc;
}

int swat_data_open_tokens(swat_dataset **out, int32_t *tokens, int64_t n, int64_t vocab_size,
                          const char *name, char *err)
{
    *out = NULL;
    for (int64_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= vocab_size) {
            swat_free(tokens);
            return swat_errf(err, "%s: token %d at position %lld is >= vocab_size %lld", name,
                             tokens[i], (long long)i, (long long)vocab_size);
        }
    swat_dataset *ds = swat_calloc(sizeof *ds);
    ds->pattern = dup_string(name);
    ds->vocab = vocab_size;
    ds->files = swat_calloc(sizeof(data_file));
    ds->nfiles = 1;
    ds->files[0] = (data_file){.fd = -1, .path = dup_string(name), .count = n, .tsize = 4,
                               .mem = tokens};
    ds->ntokens = n;
    *out = ds;
    return 0;
}

/* ---- the sample order ------------------------------------------------------------- */

void swat_sampler_init(swat_sampler *s, int64_t n, int64_t B, uint64_t seed, int shuffle)
{
    SWAT_ASSERT(n >= 0 && B >= 1);
    memset(s, 0, sizeof *s);
    s->n = n;
    s->B = B;
    s->seed = seed;
    s->shuffle = shuffle != 0;
    s->epoch = -1;
    if (s->shuffle && n > 0) {
        SWAT_ASSERT((uint64_t)n <= SIZE_MAX / sizeof(int64_t));
        s->perm = swat_malloc(sizeof(int64_t) * (size_t)n);
    }
}

void swat_sampler_free(swat_sampler *s)
{
    swat_free(s->perm);
    s->perm = NULL;
    s->epoch = -1;
}

/* perm_e: Fisher–Yates over 0…n−1 from the stream (seed, e). */
static void build_perm(swat_sampler *s, int64_t e)
{
    swat_rng r;
    swat_rng_seed(&r, s->seed, (uint64_t)e);
    int64_t *p = s->perm;
    for (int64_t i = 0; i < s->n; i++) p[i] = i;
    for (int64_t i = s->n - 1; i >= 1; i--) {
        int64_t j = (int64_t)swat_rng_below(&r, (uint64_t)i + 1);
        int64_t t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
    s->epoch = e;
}

int64_t swat_sampler_index(swat_sampler *s, int64_t k, int64_t j)
{
    SWAT_ASSERT(s->n > 0 && k >= 1 && j >= 0 && j < s->B);
    SWAT_ASSERT(k - 1 <= (INT64_MAX - j) / s->B);
    int64_t i = (k - 1) * s->B + j;
    if (!s->shuffle) return i % s->n;
    /* one cached epoch: an update straddling a boundary rebuilds once per
     * switch, O(n), against the O(B·T) tokens it reads anyway */
    int64_t e = i / s->n;
    if (e != s->epoch) build_perm(s, e);
    return s->perm[i % s->n];
}
