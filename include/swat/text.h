/* SPDX-License-Identifier: MIT */
/* text.h: bytes as text — UTF-8 checking and cutting, a streaming UTF-8
 * sanitizer for printing generated pieces, and the one JSON member a JSON
 * Lines corpus needs (docs/data-formats.md).
 *
 * UTF-8 is RFC 3629's: no overlong forms, no surrogates, nothing above
 * U+10FFFF. Where a sequence is invalid, the sanitizer prints one U+FFFD per
 * maximal subpart (the Unicode Standard's recommended practice, §3.9, which is
 * what Python's errors="replace" and web browsers do). Pure functions on
 * memory: no files, no allocation but the caller's swat_buf. */
#ifndef SWAT_TEXT_H
#define SWAT_TEXT_H

#include "swat/common.h"

/* A growable byte buffer; free p with swat_free. */
typedef struct swat_buf {
    char *p; /* [cap] */
    size_t n, cap;
} swat_buf;

/* Makes room for `more` bytes after n. */
void swat_buf_reserve(swat_buf *b, size_t more);
void swat_buf_free(swat_buf *b);

/* Length of the longest prefix of s[0, n) that is valid UTF-8 (n when all of
 * it is): the offset of the first byte that starts no valid sequence, or of
 * the lead byte of a sequence cut off by the end. */
size_t swat_utf8_valid(const void *s, size_t n);

/* The longest prefix of the valid UTF-8 s[0, n) that is at most max bytes and
 * ends on a character boundary (max ≥ 4 guarantees progress). */
size_t swat_utf8_cut(const void *s, size_t n, size_t max);

/* Streaming sanitizer: bytes in, valid UTF-8 out. An incomplete sequence at
 * the end of a call is held back until the next call completes or spoils it. */
typedef struct swat_utf8_stream {
    unsigned char pend[4];
    int n;
} swat_utf8_stream;

/* Worst-case output of swat_utf8_put for n input bytes (a U+FFFD per byte). */
#define SWAT_UTF8_PUT_MAX(n) (3 * ((size_t)(n) + 4))

/* Appends in[0, n) and writes the text completed so far to out (room for
 * SWAT_UTF8_PUT_MAX(n) bytes); returns the bytes written. */
size_t swat_utf8_put(swat_utf8_stream *s, const void *in, size_t n, char *out);
/* End of the stream: a held-back incomplete sequence becomes one U+FFFD
 * (out: room for 3 bytes). Returns the bytes written (0 or 3). */
size_t swat_utf8_flush(swat_utf8_stream *s, char *out);

/* Parses line[0, n) as one JSON object (surrounding whitespace allowed) and
 * decodes the string value of its top-level member `key` (at most
 * SWAT_JSON_MAX_KEY bytes) into out, replacing its contents; the last member
 * wins if the name repeats, as in Python's json. Returns 0; SWAT_JSON_MISSING
 * when the object has no such member; SWAT_JSON_NOT_STRING when its value is
 * not a string (*at: where the value starts); −1 when the line is not valid
 * UTF-8 or not one JSON object, with *why a static reason ("invalid UTF-8",
 * "not a JSON object", "malformed JSON: …") and *at the offset in the line. */
enum { SWAT_JSON_MISSING = 1, SWAT_JSON_NOT_STRING = 2 };
#define SWAT_JSON_MAX_KEY 256
int swat_json_string_member(const char *line, size_t n, const char *key, swat_buf *out,
                            const char **why, size_t *at);

#endif
