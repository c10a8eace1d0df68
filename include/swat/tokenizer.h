/* SPDX-License-Identifier: MIT */
/* tokenizer.h: SentencePiece tokenizers (the kind Llama-2's tokenizer.model
 * is) behind a C contract; src/spm.cpp is the only C++ of swat and the only
 * file that includes SentencePiece's headers (docs/data-formats.md).
 *
 * A swat_tok is a loaded model plus a table built once at load: for every id,
 * the bytes the piece stands for in text (`▁` → a space, a byte-fallback piece
 * `<0xNN>` → that byte, control pieces → nothing, unknown → the model's unk
 * surface) and the bytes it counts for bits per byte. Generation, evaluation
 * and the encoder read that table; they never call back into C++ per token.
 *
 * The bytes the model was loaded from are kept: a checkpoint stores exactly
 * the bytes of the .model file, so the tokenizer travels with the weights.
 *
 * Every function returns 0, or −1 with a one-line message in err
 * (SWAT_ERR_LEN bytes) naming the file; C++ exceptions never cross. */
#ifndef SWAT_TOKENIZER_H
#define SWAT_TOKENIZER_H

#ifdef __cplusplus
/* common.h is C11; its declarations keep C linkage in spm.cpp */
#define _Noreturn [[noreturn]]
extern "C" {
#endif

#include "swat/common.h"

typedef struct swat_tok swat_tok;

/* A growable array of token ids; encoders append to it. Free v with swat_free. */
typedef struct swat_ids {
    int32_t *v; /* [cap] */
    size_t n, cap;
} swat_ids;

/* Appends one id, growing the array. */
void swat_ids_push(swat_ids *ids, int32_t id);

/* Loads a .model file (a serialized SentencePiece ModelProto). */
int swat_tok_load_file(swat_tok **out, const char *path, char *err);
/* Loads from the bytes of a .model file held in memory (a checkpoint's
 * /tokenizer/model); `origin` names them in messages. The bytes are copied. */
int swat_tok_load_bytes(swat_tok **out, const void *bytes, size_t n, const char *origin,
                        char *err);
void swat_tok_free(swat_tok *t);

/* The bytes the model was loaded from. */
const void *swat_tok_model_bytes(const swat_tok *t, size_t *n);
/* Number of pieces (the smallest vocab_size a model trained on it may have). */
int64_t swat_tok_size(const swat_tok *t);
/* Special ids, −1 when the model has none. */
int32_t swat_tok_bos(const swat_tok *t);
int32_t swat_tok_eos(const swat_tok *t);
int32_t swat_tok_unk(const swat_tok *t);

/* Appends the ids of text[0, len) to out. The text must be valid UTF-8 (the
 * callers check it and name the offending byte); it is encoded as one
 * sentence, as SentencePiece's Encode does (dummy prefix included). */
int swat_tok_encode(const swat_tok *t, const char *text, size_t len, swat_ids *out, char *err);

/* The piece as stored in the model ("▁the", "<0x0A>", "<s>"). */
const char *swat_tok_piece(const swat_tok *t, int32_t id);
float swat_tok_score(const swat_tok *t, int32_t id);
/* The bytes piece `id` stands for in decoded text (length in *len): `▁` as a
 * space, a byte-fallback piece as its byte, control pieces empty, the unknown
 * piece as the model's unk surface. Not NUL-terminated. */
const char *swat_tok_piece_text(const swat_tok *t, int32_t id, size_t *len);
/* Bytes id counts for bits per byte: its text's length, except 0 for control
 * and unknown ids (bos, eos, unk). */
int swat_tok_piece_bytes(const swat_tok *t, int32_t id);

/* Training (swat-tokenize train): Llama-2's settings (docs/data-formats.md);
 * vocab_size, BPE or unigram and the trainer's thread count are the choices. */
typedef struct swat_tok_train_opts {
    int64_t vocab_size;
    int unigram;  /* 0: BPE */
    int threads;  /* SentencePiece's num_threads (unigram results depend on it) */
    int verbose;  /* SentencePiece's own log on stderr */
} swat_tok_train_opts;

/* Trains on n sentences (text[i], len[i] bytes, valid UTF-8, each at most
 * SWAT_TOK_MAX_SENTENCE bytes) and returns the serialized model in *model
 * (malloc'ed, *model_len bytes) and the .vocab text ("piece\tscore" lines) in
 * *vocab (malloc'ed, NUL-terminated). */
int swat_tok_train(const swat_tok_train_opts *o, const char *const *text, const size_t *len,
                   size_t n, char **model, size_t *model_len, char **vocab, char *err);

/* SentencePiece's max_sentence_length: longer training lines are cut. */
#define SWAT_TOK_MAX_SENTENCE 4192

#ifdef __cplusplus
}
#endif

#endif
