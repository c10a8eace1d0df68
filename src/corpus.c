/* SPDX-License-Identifier: MIT */
/* corpus.c: documents of text files and JSON Lines, read by byte ranges of the
 * span (see corpus.h).
 *
 * Why it is shaped so:
 *   - Ranges, not files, are the unit of work: a corpus may be one 50 GB
 *     .jsonl file. The reader of range [from, to) of a .jsonl file starts at
 *     the first line that begins at or after `from` (byte from−1 is a newline,
 *     or the first one after it ends the line that belongs to the previous
 *     range) and reads every line that begins before `to`, finishing the last
 *     one past `to`: Hadoop's split rule, so each line is read by exactly one
 *     range whatever the cut.
 *   - Memory is one read buffer (READ_CHUNK, grown only for a line longer
 *     than it) and one document: a whole-file document is held in memory
 *     whole, as the tokenizer needs it; nothing grows with the corpus.
 *   - pread on one descriptor at a time (a corpus can have more files than a
 *     process may open), reopened when the reader moves to another file.
 *   - Errors name the file, the line and the byte offset; the line number is
 *     counted only when an error is reported (swat_corpus_line_of), so the
 *     fast path never counts lines it does not own. */
#include "swat/corpus.h"
#include "swat/text.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_CHUNK ((size_t)1 << 20)
#define PREAD_MAX ((size_t)1 << 30) /* Linux caps one transfer near 2 GiB */

typedef struct corpus_file {
    char *path;
    int64_t size, start; /* bytes; position in the span */
    int jsonl;
} corpus_file;

struct swat_corpus {
    corpus_file *files; /* [nfiles] */
    int nfiles;
    int64_t span, bytes;
    char key[SWAT_JSON_MAX_KEY + 1];
};

struct swat_corpus_reader {
    const swat_corpus *c;
    int fd, fd_file;      /* open descriptor and its file, −1 when none */
    unsigned char *buf;   /* file bytes [buf_off, buf_off + buf_len), capacity buf_cap */
    size_t buf_len, buf_cap;
    int64_t buf_off;
    swat_buf text;        /* the current document */
    int64_t from, to;     /* the range, in span positions */
    int file;             /* file being read */
    int64_t pos;          /* .jsonl: file offset of the next line; −1 until found */
};

static int64_t span_of(const corpus_file *f) { return f->size > 0 ? f->size : 1; }

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

int swat_corpus_open(swat_corpus **out, char *const *paths, int npaths, const char *key,
                     char *err)
{
    *out = NULL;
    if (npaths <= 0) return swat_errf(err, "no input file");
    if (!key[0] || strlen(key) > SWAT_JSON_MAX_KEY)
        return swat_errf(err, "--jsonl-key '%.40s': expected 1 to %d bytes", key,
                         SWAT_JSON_MAX_KEY);
    swat_corpus *c = swat_calloc(sizeof *c);
    c->files = swat_calloc(sizeof(corpus_file) * (size_t)npaths);
    c->nfiles = npaths;
    snprintf(c->key, sizeof c->key, "%s", key);
    int rc = 0;
    for (int i = 0; i < npaths && rc == 0; i++) {
        corpus_file *f = &c->files[i];
        size_t len = strlen(paths[i]) + 1;
        f->path = swat_malloc(len);
        memcpy(f->path, paths[i], len);
        f->jsonl = ends_with(paths[i], ".jsonl");
        struct stat st;
        int fd = open(paths[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            rc = swat_errf(err, "%s: %s", paths[i], strerror(errno));
        else if (fstat(fd, &st) != 0)
            rc = swat_errf(err, "%s: %s", paths[i], strerror(errno));
        else if (S_ISDIR(st.st_mode))
            rc = swat_errf(err, "%s: is a directory, not a text or .jsonl file", paths[i]);
        else if (!S_ISREG(st.st_mode))
            rc = swat_errf(err, "%s: not a regular file (ranks read byte ranges of it)", paths[i]);
        if (fd >= 0) close(fd);
        if (rc) break;
        f->size = (int64_t)st.st_size;
        f->start = c->span;
        c->span += span_of(f);
        c->bytes += f->size;
    }
    if (rc) {
        swat_corpus_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

void swat_corpus_free(swat_corpus *c)
{
    if (!c) return;
    for (int i = 0; i < c->nfiles; i++) swat_free(c->files[i].path);
    swat_free(c->files);
    swat_free(c);
}

int64_t swat_corpus_span(const swat_corpus *c) { return c->span; }
int64_t swat_corpus_bytes(const swat_corpus *c) { return c->bytes; }
int swat_corpus_nfiles(const swat_corpus *c) { return c->nfiles; }
const char *swat_corpus_path(const swat_corpus *c, int file) { return c->files[file].path; }

int64_t swat_corpus_position(const swat_corpus *c, int file, int64_t offset)
{
    SWAT_ASSERT(file >= 0 && file < c->nfiles);
    return c->files[file].start + offset;
}

/* ---- reading ---------------------------------------------------------------------- */

swat_corpus_reader *swat_corpus_reader_create(const swat_corpus *c)
{
    swat_corpus_reader *r = swat_calloc(sizeof *r);
    r->c = c;
    r->fd = r->fd_file = -1;
    r->buf_cap = READ_CHUNK;
    r->buf = swat_malloc(r->buf_cap);
    return r;
}

void swat_corpus_reader_free(swat_corpus_reader *r)
{
    if (!r) return;
    if (r->fd >= 0) close(r->fd);
    swat_free(r->buf);
    swat_buf_free(&r->text);
    swat_free(r);
}

void swat_corpus_reader_seek(swat_corpus_reader *r, int64_t from, int64_t to)
{
    const swat_corpus *c = r->c;
    r->from = from;
    r->to = to;
    r->pos = -1;
    r->buf_len = 0;
    /* the first file whose span reaches past `from` */
    int lo = 0, hi = c->nfiles;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (c->files[mid].start + span_of(&c->files[mid]) <= from)
            lo = mid + 1;
        else
            hi = mid;
    }
    r->file = lo;
}

static int use_file(swat_corpus_reader *r, char *err)
{
    if (r->fd_file == r->file) return 0;
    if (r->fd >= 0) close(r->fd);
    r->fd_file = -1;
    r->buf_len = 0;
    const char *path = r->c->files[r->file].path;
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) return swat_errf(err, "%s: %s", path, strerror(errno));
    r->fd_file = r->file;
    return 0;
}

/* Reads up to len bytes at off; the count read, or −1 with err set. */
static int64_t read_at(swat_corpus_reader *r, void *dst, size_t len, int64_t off, char *err)
{
    unsigned char *p = dst;
    size_t done = 0;
    while (done < len) {
        size_t want = len - done < PREAD_MAX ? len - done : PREAD_MAX;
        ssize_t got = pread(r->fd, p + done, want, (off_t)(off + (int64_t)done));
        if (got < 0) {
            if (errno == EINTR) continue;
            return swat_errf(err, "%s: read error at byte %" PRId64 ": %s",
                             r->c->files[r->file].path, off + (int64_t)done, strerror(errno));
        }
        if (got == 0) break;
        done += (size_t)got;
    }
    return (int64_t)done;
}

/* Finds the line starting at file offset pos: *line points at it in the
 * buffer, *len excludes its newline; *next is the offset after the newline
 * (the file size when the line ends at the end of the file). */
static int get_line(swat_corpus_reader *r, int64_t pos, const char **line, size_t *len,
                    int64_t *next, char *err)
{
    const corpus_file *f = &r->c->files[r->file];
    if (pos < r->buf_off || pos > r->buf_off + (int64_t)r->buf_len) r->buf_len = 0;
    if (r->buf_len == 0) r->buf_off = pos;
    size_t scanned = (size_t)(pos - r->buf_off);
    for (;;) {
        unsigned char *nl = memchr(r->buf + scanned, '\n', r->buf_len - scanned);
        int64_t end = r->buf_off + (int64_t)r->buf_len;
        if (nl || end >= f->size) {
            size_t at = (size_t)(pos - r->buf_off);
            *line = (const char *)r->buf + at;
            *len = nl ? (size_t)(nl - r->buf) - at : r->buf_len - at;
            *next = nl ? r->buf_off + (int64_t)(nl - r->buf) + 1 : f->size;
            return 0;
        }
        scanned = r->buf_len;
        /* the line goes on: slide it to the front, or grow for a long one */
        size_t keep = (size_t)(pos - r->buf_off);
        if (keep > 0) {
            memmove(r->buf, r->buf + keep, r->buf_len - keep);
            r->buf_len -= keep;
            scanned -= keep;
            r->buf_off = pos;
        } else if (r->buf_len == r->buf_cap) {
            unsigned char *grown = swat_malloc(2 * r->buf_cap);
            memcpy(grown, r->buf, r->buf_len);
            swat_free(r->buf);
            r->buf = grown;
            r->buf_cap *= 2;
        }
        int64_t off = r->buf_off + (int64_t)r->buf_len;
        size_t want = r->buf_cap - r->buf_len;
        if ((int64_t)want > f->size - off) want = (size_t)(f->size - off);
        int64_t got = read_at(r, r->buf + r->buf_len, want, off, err);
        if (got < 0) return -1;
        if ((size_t)got < want)
            return swat_errf(err, "%s: file shrank while being read (%" PRId64 " bytes expected)",
                             f->path, f->size);
        r->buf_len += (size_t)got;
    }
}

/* "FILE:LINE: why (byte N)" for byte N of the current file. */
static int doc_error(swat_corpus_reader *r, int64_t byte, const char *why, char *err)
{
    const char *path = r->c->files[r->file].path;
    int64_t line = swat_corpus_line_of(path, byte);
    if (line > 0)
        return swat_errf(err, "%s:%" PRId64 ": %s (byte %" PRId64 ")", path, line, why, byte);
    return swat_errf(err, "%s: %s (byte %" PRId64 ")", path, why, byte);
}

static int whole_file(swat_corpus_reader *r, swat_doc *doc, char *err)
{
    const corpus_file *f = &r->c->files[r->file];
    r->text.n = 0;
    swat_buf_reserve(&r->text, (size_t)f->size + 1);
    int64_t got = read_at(r, r->text.p, (size_t)f->size, 0, err);
    if (got < 0) return -1;
    if (got < f->size)
        return swat_errf(err, "%s: file shrank while being read (%" PRId64 " bytes expected)",
                         f->path, f->size);
    r->text.n = (size_t)f->size;
    size_t bad = swat_utf8_valid(r->text.p, r->text.n);
    if (bad < r->text.n) return doc_error(r, (int64_t)bad, "invalid UTF-8", err);
    *doc = (swat_doc){r->text.p, r->text.n, r->file, 0};
    return 1;
}

static int json_line(swat_corpus_reader *r, const char *line, size_t len, int64_t off,
                     swat_doc *doc, char *err)
{
    const char *why;
    size_t at;
    int rc = swat_json_string_member(line, len, r->c->key, &r->text, &why, &at);
    if (rc == 0) {
        /* an empty member may leave the buffer unallocated: text is never NULL */
        *doc = (swat_doc){r->text.p ? r->text.p : "", r->text.n, r->file, off};
        return 1;
    }
    char msg[160];
    if (rc == SWAT_JSON_MISSING)
        snprintf(msg, sizeof msg, "the object has no member \"%.60s\"", r->c->key);
    else if (rc == SWAT_JSON_NOT_STRING)
        snprintf(msg, sizeof msg, "member \"%.60s\" is not a string", r->c->key);
    else
        snprintf(msg, sizeof msg, "%s", why);
    return doc_error(r, off + (int64_t)at, msg, err);
}

int swat_corpus_reader_next(swat_corpus_reader *r, swat_doc *doc, char *err)
{
    const swat_corpus *c = r->c;
    for (; r->file < c->nfiles; r->file++, r->pos = -1) {
        const corpus_file *f = &c->files[r->file];
        if (f->start >= r->to) return 0;
        int64_t a = r->from > f->start ? r->from - f->start : 0; /* range in file offsets */
        int64_t b = r->to - f->start;
        if (!f->jsonl) {
            if (a > 0 || r->pos == 0) continue; /* starts in another range, or done */
            r->pos = 0;
            if (use_file(r, err)) return -1;
            if (f->size == 0) {
                r->text.n = 0;
                *doc = (swat_doc){"", 0, r->file, 0};
                return 1;
            }
            return whole_file(r, doc, err);
        }
        if (f->size == 0) continue;
        if (use_file(r, err)) return -1;
        const char *line;
        size_t len;
        int64_t next;
        if (r->pos < 0) {
            r->pos = a;
            if (a > 0) { /* the line through byte a−1 belongs to the range before */
                if (get_line(r, a - 1, &line, &len, &next, err)) return -1;
                r->pos = next;
            }
        }
        if (r->pos >= b || r->pos >= f->size) continue;
        int64_t off = r->pos;
        if (get_line(r, off, &line, &len, &next, err)) return -1;
        r->pos = next;
        return json_line(r, line, len, off, doc, err);
    }
    return 0;
}

int64_t swat_corpus_line_of(const char *path, int64_t offset)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    unsigned char buf[1 << 16];
    int64_t line = 1, at = 0;
    while (at < offset) {
        size_t want = offset - at < (int64_t)sizeof buf ? (size_t)(offset - at) : sizeof buf;
        ssize_t got = pread(fd, buf, want, (off_t)at);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            close(fd);
            return 0;
        }
        for (ssize_t i = 0; i < got; i++) line += buf[i] == '\n';
        at += got;
    }
    close(fd);
    return line;
}
