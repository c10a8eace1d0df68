/* SPDX-License-Identifier: MIT */
/* swat-generate CKPT.h5 [--prompt TEXT | --prompt-file F] [--max-tokens N]
 *                 [--temperature T] [--top-k K] [--top-p P] [--seed S]
 *                 [--chunk N] [--threads N] [--tokenizer M.model]
 *
 * Samples a continuation of a prompt from a checkpoint's sliding-window model
 * with the rolling cache of swat_model_stream_step: every layer keeps only
 * its last w − 1 keys/values, so each new token costs the same time and the
 * run the same memory however long the text grows (the paper's linear-cost
 * inference). The prompt is fed in chunks of --chunk rows (default
 * max(w, 256)), read from its source as it goes; then one token per step.
 *
 * Tokens: a checkpoint that carries a tokenizer (/tokenizer/model, or
 * --tokenizer M.model) takes the prompt as UTF-8 text, encoded as [bos] +
 * ids (an empty prompt is [bos] alone), and prints the continuation as text,
 * piece by piece as it is sampled: each piece's bytes go through the
 * streaming UTF-8 sanitizer (text.h), so an incomplete sequence of
 * byte-fallback pieces is held back until it completes and an invalid one is
 * printed as U+FFFD; generation ends early at eos. Otherwise a model with
 * vocab_size 256 is a byte model: the prompt is the bytes of TEXT (or of the
 * file), and the continuation is written as raw bytes, flushed token by
 * token. Any other vocabulary: the prompt is token ids separated by blanks or
 * commas, and the continuation is printed as ids separated by spaces. The
 * output ends with a newline (added unless the text ends with one), so the
 * statistics line on stderr starts a line of its own.
 *
 * Sampling: temperature 0 is greedy (the lowest id among equal maxima);
 * otherwise softmax(logits / T) restricted to the K most likely ids (--top-k,
 * 0 = all) and then to the smallest set of most likely ids whose probability
 * reaches P (--top-p, 1 = all), drawn with swat_rng seeded by --seed (default
 * 1234): the same seed gives the same text. Defaults: --max-tokens 256,
 * --temperature 1.
 *
 * Exit 0; or 2 with one line on stderr on bad input: a missing or malformed
 * checkpoint, a number out of range, both or neither of --prompt and
 * --prompt-file, an empty prompt (there is no start token to condition on:
 * give at least one token), a token id outside the vocabulary, a
 * full-attention model (window_size = 0 has no bounded cache), or more than
 * one MPI rank. Speed (tokens/s) and peak RSS go to stderr at the end. */
#include "swat/ckpt.h"
#include "swat/cli.h"
#include "swat/comm.h"
#include "swat/config.h"
#include "swat/gemm.h"
#include "swat/model.h"
#include "swat/rng.h"
#include "swat/text.h"
#include "swat/tokenizer.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

typedef struct gen_args {
    const char *ckpt, *prompt, *prompt_file, *tokenizer;
    int64_t max_tokens, top_k, chunk, threads;
    double temperature, top_p;
    uint64_t seed;
    int precision; /* swat_precision; −1: the checkpoint's */
} gen_args;

enum {
    OPT_PROMPT = 256, OPT_PROMPT_FILE, OPT_MAX_TOKENS, OPT_TEMPERATURE, OPT_TOP_K, OPT_TOP_P,
    OPT_SEED, OPT_CHUNK, OPT_THREADS, OPT_PRECISION, OPT_TOKENIZER
};

static const swat_cli_option options[] = {
    {"prompt", OPT_PROMPT, "TEXT",
     "the prompt: UTF-8 text when the checkpoint carries a tokenizer (or --tokenizer), its "
     "bytes for a byte model (vocab_size 256), else token ids separated by blanks or commas"},
    {"prompt-file", OPT_PROMPT_FILE, "FILE", "the prompt from a file, read as it is fed"},
    {"max-tokens", OPT_MAX_TOKENS, "N", "tokens to generate (default 256)"},
    {"temperature", OPT_TEMPERATURE, "T", "softmax temperature; 0 = greedy (default 1)"},
    {"top-k", OPT_TOP_K, "K", "sample among the K most likely tokens only (0 = all, the default)"},
    {"top-p", OPT_TOP_P, "P",
     "then among the fewest most likely tokens whose probability reaches P (default 1 = all)"},
    {"seed", OPT_SEED, "S", "seed of the sampling: the same seed gives the same text (default 1234)"},
    {"chunk", OPT_CHUNK, "N", "prompt rows per streaming step (default max(w, 256))"},
    {"threads", OPT_THREADS, "N", "BLIS threads (default: automatic)"},
    {"precision", OPT_PRECISION, "fp32|bf16",
     "inputs of the matrix products (default: the precision the checkpoint was trained in)"},
    {"tokenizer", OPT_TOKENIZER, "M.model",
     "a SentencePiece model to use instead of the one the checkpoint carries"},
    {0},
};

static const swat_cli_program program = {
    "swat-generate",
    "CKPT.h5 (--prompt TEXT | --prompt-file FILE) [options]",
    "Continues a prompt with a checkpoint's sliding-window model, keeping w-1 keys and "
    "values per layer: constant memory and time per token. The continuation goes to stdout "
    "as it is sampled: text when the checkpoint carries a tokenizer (always valid UTF-8: an "
    "incomplete sequence is held back, an invalid one printed as U+FFFD), raw bytes for a "
    "byte model, else token ids; it ends with a newline. Speed and memory to stderr. Runs "
    "on one rank.",
    "exit status: 0 generated, 2 bad input (one line on stderr).",
    options,
    1,
};

/* 0, SWAT_CLI_EXIT after --help/--version, or −1 with err. */
static int parse_args(gen_args *a, int argc, char **argv, int quiet, char *err)
{
    *a = (gen_args){.max_tokens = 256, .temperature = 1.0, .top_p = 1.0, .seed = 1234,
                    .precision = -1};
    swat_cli cli;
    swat_cli_init(&cli, &program, argc, argv, quiet);
    const char *val;
    int key;
    int64_t seed;
    while ((key = swat_cli_next(&cli, &val, err)) > 0) {
        switch (key) {
        case SWAT_CLI_ARG: a->ckpt = val; break;
        case OPT_PROMPT: a->prompt = val; break;
        case OPT_PROMPT_FILE: a->prompt_file = val; break;
        case OPT_TOKENIZER: a->tokenizer = val; break;
        case OPT_MAX_TOKENS:
            if (swat_arg_i64(cli.flag, val, 0, &a->max_tokens, err)) return -1;
            break;
        case OPT_TEMPERATURE:
            if (swat_arg_f64(cli.flag, val, 0, 0, 1e6, &a->temperature, err)) return -1;
            break;
        case OPT_TOP_K:
            if (swat_arg_i64(cli.flag, val, 0, &a->top_k, err)) return -1;
            break;
        case OPT_TOP_P:
            if (swat_arg_f64(cli.flag, val, 0, 1, 1, &a->top_p, err)) return -1;
            break;
        case OPT_SEED:
            if (swat_arg_i64(cli.flag, val, 0, &seed, err)) return -1;
            a->seed = (uint64_t)seed;
            break;
        case OPT_CHUNK:
            if (swat_arg_i64(cli.flag, val, 1, &a->chunk, err)) return -1;
            break;
        case OPT_THREADS:
            if (swat_arg_i64(cli.flag, val, 1, &a->threads, err)) return -1;
            break;
        case OPT_PRECISION:
            if (swat_cli_precision(cli.flag, val, &a->precision, err)) return -1;
            break;
        }
    }
    if (key != SWAT_CLI_END) return key;
    if (!a->ckpt) return swat_cli_usage_errf(&cli, err, "missing CKPT.h5");
    if (!a->prompt == !a->prompt_file)
        return swat_cli_usage_errf(&cli, err, "give one of --prompt and --prompt-file");
    return 0;
}

/* ---- prompt source: bytes, or token ids in text ------------------------------- */

typedef struct prompt_src {
    FILE *f;
    const char *name; /* for messages */
    int bytes;        /* byte model: every byte a token */
    int64_t V, read;  /* tokens read so far */
} prompt_src;

/* Reads up to max tokens into out; returns how many (0 at the end), −1 on a
 * malformed id (err set). */
static int64_t prompt_read(prompt_src *p, int32_t *out, int64_t max, char *err)
{
    int64_t n = 0;
    if (p->bytes) {
        unsigned char b[4096];
        while (n < max) {
            size_t want = (size_t)(max - n) < sizeof b ? (size_t)(max - n) : sizeof b;
            size_t got = fread(b, 1, want, p->f);
            for (size_t i = 0; i < got; i++) out[n++] = b[i];
            if (got < want) break;
        }
    } else {
        while (n < max) {
            int c;
            while ((c = fgetc(p->f)) != EOF && (isspace(c) || c == ',')) {}
            if (c == EOF) break;
            char id[24];
            size_t len = 0;
            while (c != EOF && !isspace(c) && c != ',') {
                if (len + 1 < sizeof id) id[len++] = (char)c;
                else return swat_errf(err, "%s: token %lld is not an id", p->name, (long long)(p->read + n));
                c = fgetc(p->f);
            }
            id[len] = 0;
            char *end;
            errno = 0;
            long long v = strtoll(id, &end, 10);
            if (*end || errno || v < 0 || v >= p->V)
                return swat_errf(err, "%s: token %lld '%s' is not an id in [0, %lld)", p->name,
                                 (long long)(p->read + n), id, (long long)p->V);
            out[n++] = (int32_t)v;
        }
    }
    if (ferror(p->f)) return swat_errf(err, "%s: read error: %s", p->name, strerror(errno));
    p->read += n;
    return n;
}

/* ---- text: the tokenizer and a text prompt --------------------------------------- */

/* The prompt as text (all of it: a document is encoded whole): [bos] + ids. */
static int text_prompt(const gen_args *a, const swat_tok *tok, swat_ids *ids, char *err)
{
    swat_buf text = {0};
    const char *name = a->prompt_file ? a->prompt_file : "--prompt";
    if (a->prompt_file) {
        FILE *f = fopen(a->prompt_file, "rb");
        if (!f) return swat_errf(err, "%s: cannot open: %s", name, strerror(errno));
        size_t got;
        do {
            swat_buf_reserve(&text, 65536);
            got = fread(text.p + text.n, 1, 65536, f);
            text.n += got;
        } while (got == 65536);
        int bad = ferror(f);
        fclose(f);
        if (bad) {
            swat_buf_free(&text);
            return swat_errf(err, "%s: read error", name);
        }
    } else {
        swat_buf_reserve(&text, strlen(a->prompt) + 1);
        memcpy(text.p, a->prompt, strlen(a->prompt));
        text.n = strlen(a->prompt);
    }
    int rc = 0;
    size_t bad = swat_utf8_valid(text.p, text.n);
    if (bad < text.n) rc = swat_errf(err, "%s: invalid UTF-8 (byte %zu)", name, bad);
    else if (swat_tok_bos(tok) < 0 && text.n == 0)
        rc = swat_errf(err, "%s: the prompt is empty and the tokenizer has no bos to start from", name);
    if (rc == 0 && swat_tok_bos(tok) >= 0) swat_ids_push(ids, swat_tok_bos(tok));
    if (rc == 0 && swat_tok_encode(tok, text.p, text.n, ids, err)) rc = -1;
    swat_buf_free(&text);
    return rc;
}

/* ---- sampling ------------------------------------------------------------------- */

typedef struct cand {
    double z; /* logit / temperature, then probability */
    int32_t id;
} cand;

/* Descending logit, then ascending id: a total order, so ties are reproducible. */
static int cand_cmp(const void *x, const void *y)
{
    const cand *a = x, *b = y;
    if (a->z != b->z) return a->z > b->z ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

static int32_t sample(const gen_args *a, const swat_real *logits, int64_t V, cand *c, swat_rng *r)
{
    if (a->temperature == 0) {
        int64_t best = 0;
        for (int64_t i = 1; i < V; i++)
            if (logits[i] > logits[best]) best = i;
        return (int32_t)best;
    }
    for (int64_t i = 0; i < V; i++) c[i] = (cand){(double)logits[i] / a->temperature, (int32_t)i};
    int64_t n = V;
    int filter = (a->top_k > 0 && a->top_k < V) || a->top_p < 1;
    if (filter) qsort(c, (size_t)V, sizeof *c, cand_cmp);
    if (a->top_k > 0 && a->top_k < n) n = a->top_k;
    double mx = c[0].z, sum = 0;
    for (int64_t i = 1; i < n; i++) mx = c[i].z > mx ? c[i].z : mx;
    for (int64_t i = 0; i < n; i++) sum += c[i].z = exp(c[i].z - mx);
    if (a->top_p < 1) { /* smallest prefix (most likely first) whose mass reaches top_p */
        double cum = 0, need = a->top_p * sum;
        int64_t k = 0;
        while (k < n && cum < need) cum += c[k++].z;
        n = k > 0 ? k : 1;
        sum = cum > 0 ? cum : c[0].z;
    }
    double u = swat_rng_uniform(r) * sum, acc = 0;
    for (int64_t i = 0; i < n; i++) {
        acc += c[i].z;
        if (u < acc) return c[i].id;
    }
    return c[n - 1].id; /* u within rounding of the total */
}

/* The output side: text through the UTF-8 sanitizer, raw bytes, or ids. */
typedef struct emitter {
    const swat_tok *tok; /* text when not NULL */
    int bytes;           /* byte model */
    swat_utf8_stream utf8;
    char *buf;           /* [SWAT_UTF8_PUT_MAX(longest piece)] */
    int last;            /* last byte written, −1 before any */
} emitter;

static void emit_raw(emitter *e, const char *p, size_t n)
{
    if (n == 0) return;
    fwrite(p, 1, n, stdout);
    e->last = (unsigned char)p[n - 1];
}

static void emit(emitter *e, int32_t tok, int64_t k)
{
    if (e->tok) {
        size_t len;
        const char *piece = swat_tok_piece_text(e->tok, tok, &len);
        emit_raw(e, e->buf, swat_utf8_put(&e->utf8, piece, len, e->buf));
    } else if (e->bytes) {
        char c = (char)tok;
        emit_raw(e, &c, 1);
    } else {
        char id[24];
        emit_raw(e, id, (size_t)snprintf(id, sizeof id, k ? " %d" : "%d", tok));
    }
    fflush(stdout);
}

/* The end of the text: a held-back incomplete sequence as U+FFFD, then a
 * newline unless the text ends with one (nothing at all for no text). */
static void emit_end(emitter *e)
{
    if (e->tok) emit_raw(e, e->buf, swat_utf8_flush(&e->utf8, e->buf));
    if (e->last >= 0 && e->last != '\n') emit_raw(e, "\n", 1);
    fflush(stdout);
}

static int fail(const char *msg, swat_comm *comm, int rank)
{
    if (rank == 0) fprintf(stderr, "swat-generate: %s\n", msg);
    swat_comm_free(comm);
    swat_comm_finalize();
    return 2;
}

int main(int argc, char **argv)
{
    int world = swat_comm_init(&argc, &argv);
    int rank = swat_comm_world_rank();
    char err[SWAT_ERR_LEN] = "";
    gen_args a;
    swat_config cfg;
    int rc = parse_args(&a, argc, argv, rank != 0, err);
    if (rc == SWAT_CLI_EXIT) {
        swat_comm_finalize();
        return 0;
    }
    swat_comm *comm = swat_comm_create(1);
    if (rc != 0) return fail(err, comm, rank);
    if (world > 1) return fail("runs on one rank (start it without mpirun -n N > 1)", comm, rank);
    if (swat_ckpt_read_config(a.ckpt, &cfg, err)) return fail(err, comm, rank);
    if (cfg.model.window_size <= 0) {
        snprintf(err, sizeof err, "%s: window_size = 0 (full attention) has no bounded cache to "
                 "generate with; use a sliding-window model", a.ckpt);
        return fail(err, comm, rank);
    }
    swat_tok *tok = NULL;
    swat_ids ids = {0};
    if (a.tokenizer ? swat_tok_load_file(&tok, a.tokenizer, err)
                    : swat_ckpt_tokenizer(a.ckpt, &tok, err))
        return fail(err, comm, rank);
    if (tok && swat_tok_size(tok) > cfg.model.vocab_size) {
        swat_errf(err, "%s: the tokenizer has %lld pieces, the model's vocab_size is %lld",
                  a.tokenizer ? a.tokenizer : a.ckpt, (long long)swat_tok_size(tok),
                  (long long)cfg.model.vocab_size);
        swat_tok_free(tok);
        return fail(err, comm, rank);
    }
    prompt_src ps = {.name = a.prompt_file ? a.prompt_file : "--prompt",
                     .bytes = !tok && cfg.model.vocab_size == 256,
                     .V = cfg.model.vocab_size};
    if (tok) {
        if (text_prompt(&a, tok, &ids, err)) {
            swat_free(ids.v);
            swat_tok_free(tok);
            return fail(err, comm, rank);
        }
    } else {
        if (a.prompt && !a.prompt[0]) {
            swat_errf(err, "--prompt is empty: give at least one token to start from (the model "
                      "has no start token)");
            return fail(err, comm, rank);
        }
        ps.f = a.prompt_file ? fopen(a.prompt_file, "rb")
                             : fmemopen((void *)a.prompt, strlen(a.prompt), "rb");
        if (!ps.f) {
            snprintf(err, sizeof err, "%s: cannot open: %s", ps.name, strerror(errno));
            return fail(err, comm, rank);
        }
    }

    char note[SWAT_ERR_LEN];
    swat_node_info node = swat_comm_node(comm);
    swat_gemm_setup_threads((int)a.threads, "--threads", node.ranks, node.cpus, note);
    if (note[0]) swat_warn("%s", note); /* one rank */
    swat_model *m = swat_cli_load_model(comm, a.ckpt, &cfg, err);
    if (!m) {
        if (ps.f) fclose(ps.f);
        swat_free(ids.v);
        swat_tok_free(tok);
        return fail(err, comm, rank);
    }
    swat_model_info mi = swat_model_describe(m);
    int64_t V = mi.V, w = mi.w;
    int64_t chunk = a.chunk > 0 ? a.chunk : (w > 256 ? w : 256);
    /* the products run in the precision the model was trained in, unless told */
    swat_model_stream_begin(m, chunk,
                            (swat_precision)(a.precision >= 0 ? a.precision : cfg.train.precision));
    int32_t *buf = swat_malloc(sizeof(int32_t) * (size_t)chunk);
    swat_real *logits = swat_malloc(sizeof(swat_real) * (size_t)V);
    cand *cands = swat_malloc(sizeof(cand) * (size_t)V);
    swat_rng rng;
    swat_rng_seed(&rng, a.seed, 0x67656e); /* "gen": a stream of its own */

    /* the prompt, chunk by chunk; the last chunk's logits remain */
    double t0 = swat_now();
    int64_t p = 0, n;
    int bad = 0;
    if (tok) {
        for (size_t i = 0; i < ids.n; i += (size_t)n) {
            n = (int64_t)(ids.n - i) < chunk ? (int64_t)(ids.n - i) : chunk;
            swat_model_stream_step(m, ids.v + i, n, p, NULL, NULL, logits);
            p += n;
        }
        ps.read = (int64_t)ids.n;
        swat_free(ids.v);
    } else {
        while ((n = prompt_read(&ps, buf, chunk, err)) > 0) {
            swat_model_stream_step(m, buf, n, p, NULL, NULL, logits);
            p += n;
        }
        bad = n < 0;
        fclose(ps.f);
        if (!bad && p == 0)
            swat_errf(err, "%s: the prompt is empty: give at least one token to start from "
                      "(the model has no start token)", ps.name);
    }
    if (bad || p == 0) {
        swat_free(buf);
        swat_free(logits);
        swat_free(cands);
        swat_model_free(m);
        swat_tok_free(tok);
        return fail(err, comm, rank);
    }
    double t1 = swat_now();

    /* one token a step: sample from the last logits, print it, feed it back */
    emitter e = {.tok = tok, .bytes = ps.bytes, .last = -1};
    size_t longest = 0;
    for (int64_t id = 0; tok && id < swat_tok_size(tok); id++) {
        size_t len;
        swat_tok_piece_text(tok, (int32_t)id, &len);
        longest = len > longest ? len : longest;
    }
    e.buf = swat_malloc(SWAT_UTF8_PUT_MAX(longest));
    int32_t eos = tok ? swat_tok_eos(tok) : -1;
    /* ids past the tokenizer's pieces (a vocabulary padded beyond it) never
     * occur in the data and print as nothing: they are not sampled */
    int64_t nsample = tok ? swat_tok_size(tok) : V;
    int64_t generated = 0;
    for (int64_t k = 0; k < a.max_tokens; k++) {
        int32_t next = sample(&a, logits, nsample, cands, &rng);
        if (next == eos) break; /* the end of the text */
        emit(&e, next, k);
        generated++;
        if (k + 1 < a.max_tokens) swat_model_stream_step(m, &next, 1, p++, NULL, NULL, logits);
    }
    emit_end(&e);
    double t2 = swat_now();

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fprintf(stderr,
            "swat-generate: prompt %lld tokens in %.3fs (%.0f tok/s); %lld tokens in %.3fs "
            "(%.1f tok/s); cache %lld rows a layer; peak RSS %.1f MiB\n",
            (long long)ps.read, t1 - t0, (double)ps.read / (t1 - t0), (long long)generated,
            t2 - t1, t2 > t1 ? (double)generated / (t2 - t1) : 0.0, (long long)(w - 1),
            (double)ru.ru_maxrss / 1024.0);
    swat_free(e.buf);
    swat_tok_free(tok);
    swat_free(buf);
    swat_free(logits);
    swat_free(cands);
    swat_model_free(m);
    swat_comm_free(comm);
    swat_comm_finalize();
    return 0;
}
