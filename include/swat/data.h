/* SPDX-License-Identifier: MIT */
/* data.h: token streams and the sample order (docs/training.md).
 *
 * A dataset is the files a glob matches, sorted by path (byte order),
 * concatenated into one stream of N tokens. `bytes`: every byte a token.
 * `llmc`: llm.c shards (256 little-endian int32 header: magic 20240520 with
 * uint16 tokens or 20240801 with uint32; [1] version; [2] token count; then
 * the tokens). `text` (swat-eval): a UTF-8 file encoded as one document,
 * [bos] + its SentencePiece ids, held in memory. Sample i is tokens
 * [i·T, i·T+T+1); n = ⌊(N−1)/T⌋.
 *
 * The sampler maps (update k, slot j) to a sample index: sequential
 * ((k−1)·B + j) mod n, or with shuffling perm_e(i mod n), e = ⌊i/n⌋, a
 * Fisher–Yates permutation drawn from swat_rng seeded by (seed, e). It is a
 * pure function of (n, B, seed, shuffle, k, j): the same on every rank and
 * layout, and it needs no state to resume. */
#ifndef SWAT_DATA_H
#define SWAT_DATA_H

#include "swat/common.h"
#include "swat/tokenizer.h"

typedef struct swat_dataset swat_dataset;

/* Opens every file the pattern matches (a plain path or a glob) and checks
 * headers and sizes. Errors name the file: no match, unreadable, empty, bad
 * magic/version, size not matching the header's count, bytes with
 * vocab_size < 256. */
int swat_data_open(swat_dataset **out, const char *pattern, int format, int64_t vocab_size,
                   char *err);
void swat_data_close(swat_dataset *ds);

int64_t swat_data_num_tokens(const swat_dataset *ds);
/* ⌊(N−1)/T⌋; 0 when the stream holds no complete sample. */
int64_t swat_data_num_samples(const swat_dataset *ds, int64_t T);

/* Reads tokens [start, start+count) of the stream into out, crossing file
 * boundaries. A token id ≥ vocab_size, a short read or a range past the end is
 * an error naming the file and the token's offset in it. */
int swat_data_read(swat_dataset *ds, int64_t start, int64_t count, int32_t *out, char *err);

/* Text: the file at path (valid UTF-8, else an error naming line and byte)
 * as one document, [bos] + its ids, into out (replacing its contents). */
int swat_data_text_tokens(const char *path, const swat_tok *tok, swat_ids *out, char *err);

/* A dataset of n tokens held in memory; takes ownership of tokens (swat_malloc'ed,
 * freed by swat_data_close, or here on error). Every id must be < vocab_size;
 * `name` names the stream in messages. */
int swat_data_open_tokens(swat_dataset **out, int32_t *tokens, int64_t n, int64_t vocab_size,
                          const char *name, char *err);

typedef struct swat_sampler {
    int64_t n, B;
    uint64_t seed;
    int shuffle;
    int64_t epoch;  /* epoch whose permutation is in perm, −1 if none */
    int64_t *perm;  /* [n] */
} swat_sampler;

void swat_sampler_init(swat_sampler *s, int64_t n, int64_t B, uint64_t seed, int shuffle);
void swat_sampler_free(swat_sampler *s);
/* Sample index in [0, n) for slot j (0 ≤ j < B) of update k (1-based). */
int64_t swat_sampler_index(swat_sampler *s, int64_t k, int64_t j);

#endif
