/* SPDX-License-Identifier: MIT */
/* corpus.h: the documents of a text corpus, read in byte ranges so that
 * ranks can share the work (swat-tokenize; docs/data-formats.md).
 *
 * A corpus is a list of files in command-line order. A `.jsonl` file holds
 * one document per line: the string member KEY of the JSON object on that
 * line. Any other file is one document, its whole content. Every document
 * must be valid UTF-8.
 *
 * The files are laid end to end on one axis, the span: file i occupies
 * [start_i, start_i + max(size_i, 1)) (an empty file still takes one
 * position, so that it belongs to exactly one range). A document belongs to
 * the range that holds the position of its first byte: a line of a .jsonl
 * file, or byte 0 of any other file. Ranges that tile the span therefore
 * share out the documents exactly once, in stream order, whatever the tiling:
 * the property that makes a K-rank encoding identical to a one-rank one. A
 * reader reads past its range's end only to finish the document it started. */
#ifndef SWAT_CORPUS_H
#define SWAT_CORPUS_H

#include "swat/common.h"

typedef struct swat_corpus swat_corpus;

/* Checks every path (a readable regular file) and records its size. KEY is
 * the member of .jsonl objects holding the text. */
int swat_corpus_open(swat_corpus **out, char *const *paths, int npaths, const char *key,
                     char *err);
void swat_corpus_free(swat_corpus *c);

int64_t swat_corpus_span(const swat_corpus *c);  /* length of the span */
int64_t swat_corpus_bytes(const swat_corpus *c); /* sum of the file sizes */
int swat_corpus_nfiles(const swat_corpus *c);
const char *swat_corpus_path(const swat_corpus *c, int file);
/* Span position of byte `offset` of file `file` (for progress). */
int64_t swat_corpus_position(const swat_corpus *c, int file, int64_t offset);

typedef struct swat_doc {
    const char *text; /* valid UTF-8, until the next call on the reader */
    size_t len;
    int file;
    int64_t offset;   /* byte offset in the file of its line (0 for a whole file) */
} swat_doc;

typedef struct swat_corpus_reader swat_corpus_reader;

/* A reader with its own buffers (one per rank), reused across ranges. */
swat_corpus_reader *swat_corpus_reader_create(const swat_corpus *c);
void swat_corpus_reader_free(swat_corpus_reader *r);

/* Starts on the documents whose first byte lies in span [from, to). */
void swat_corpus_reader_seek(swat_corpus_reader *r, int64_t from, int64_t to);
/* 1: the next document in *doc; 0: the range holds no more; −1: bad input or
 * a read error, err = "FILE:LINE: why (byte OFFSET)" or "FILE: why". */
int swat_corpus_reader_next(swat_corpus_reader *r, swat_doc *doc, char *err);

/* 1-based line number of byte `offset` of a file (reads the file up to it:
 * for messages only). 0 when the file cannot be read. */
int64_t swat_corpus_line_of(const char *path, int64_t offset);

#endif
