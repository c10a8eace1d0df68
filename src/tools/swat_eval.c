/* SPDX-License-Identifier: MIT */
/* swat-eval CHECKPOINT.h5 --data FILE [--format bytes|llmc|text] [--tokenizer M.model]
 *             [--seq-len T|whole] [--max-samples N] [--block N] [--positions]
 *             [--threads N]
 *
 * Scores every complete sample of a token file (docs/training.md: shuffle off) with a
 * checkpoint's model and prints, as its last line of standard output, one
 * JSON object: loss (mean cross-entropy, nats), perplexity, tokens (targets
 * scored), samples, seq_len, window, block. `--seq-len whole` scores the whole
 * file as one sequence (n = 1 sample of N − 1 targets).
 *
 * --format text: FILE is UTF-8 text, encoded as one document ([bos] + ids)
 * with the checkpoint's tokenizer (/tokenizer/model) or --tokenizer; rank 0
 * encodes and broadcasts the ids. Whenever the tokens have a known byte
 * length — text, llmc with a tokenizer, bytes — the JSON adds `bytes` (each
 * scored target's piece length: `▁` one byte, a byte-fallback piece one,
 * control and unknown pieces zero; a byte token one) and `bits_per_byte` =
 * total nats / ln 2 / bytes, which compares models with different
 * vocabularies. A checkpoint whose tokenizer is unreadable is refused.
 *
 * A sliding-window model (w > 0) is evaluated by streaming: each sample is fed
 * in blocks of --block rows (default max(w, 256)) and every layer carries its
 * last w − 1 keys/values from one block to the next (swat_model_stream_step),
 * so memory depends on the block, never on T: a million-token sequence costs
 * what a 256-token one does. A full-attention model (w = 0) has no such bound
 * and is scored one whole sample at a time (memory grows with T).
 *
 * --positions adds "buckets": the mean loss by position inside the sample,
 * over buckets with edges 0, b, 2b, 4b, 8b, … up to T, b = w (or, for w = 0,
 * the checkpoint's training seq_len): whether the model gets better with
 * context beyond its window. Peak RSS (largest over ranks) goes to stderr.
 * Several ranks split the samples among them. Exit 0, or 2 with one line on
 * bad input. */
#include "swat/ckpt.h"
#include "swat/cli.h"
#include "swat/comm.h"
#include "swat/config.h"
#include "swat/data.h"
#include "swat/gemm.h"
#include "swat/model.h"
#include "swat/tokenizer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

/* Position buckets: edges 0, b, 2b, 4b, … need at most this many below 2^62. */
#define MAX_BUCKETS 64
#define FORMAT_TEXT 100 /* --format text: not a [data] format, eval only */

typedef struct eval_args {
    const char *ckpt, *data, *tokenizer;
    int format; /* −1: the checkpoint's */
    int64_t seq_len;  /* 0: the checkpoint's; −1: whole file */
    int64_t max_samples, threads, block;
    int positions;
    int precision; /* swat_precision; −1: the checkpoint's */
} eval_args;

enum {
    OPT_DATA = 256, OPT_FORMAT, OPT_SEQ_LEN, OPT_MAX_SAMPLES, OPT_BLOCK, OPT_POSITIONS, OPT_THREADS,
    OPT_PRECISION, OPT_TOKENIZER
};

static const swat_cli_option options[] = {
    {"data", OPT_DATA, "FILE", "the tokens to score: a file or a glob (required)"},
    {"format", OPT_FORMAT, "bytes|llmc|text",
     "format of FILE (default: the checkpoint's); text: UTF-8 text, encoded as one document "
     "([bos] + ids) with the checkpoint's tokenizer or --tokenizer"},
    {"tokenizer", OPT_TOKENIZER, "M.model",
     "a SentencePiece model to use instead of the one the checkpoint carries"},
    {"seq-len", OPT_SEQ_LEN, "T|whole",
     "tokens per sample (default: the checkpoint's seq_len; may be far longer than the "
     "window); whole: the file as one sequence"},
    {"max-samples", OPT_MAX_SAMPLES, "N", "score the first N samples only (0 = all, the default)"},
    {"block", OPT_BLOCK, "N",
     "rows per streaming step of a sliding-window model (default max(w, 256)); memory "
     "depends on it, not on T"},
    {"positions", OPT_POSITIONS, NULL,
     "add the mean loss by position in the sample, in buckets 0-w, w-2w, 2w-4w, ..."},
    {"threads", OPT_THREADS, "N", "BLIS threads per rank (default: automatic)"},
    {"precision", OPT_PRECISION, "fp32|bf16",
     "inputs of the matrix products (default: the precision the checkpoint was trained in)"},
    {0},
};

static const swat_cli_program program = {
    "swat-eval",
    "CHECKPOINT.h5 --data FILE [options]",
    "Scores every complete sample of a token file with a checkpoint's model and prints, as "
    "its last line of stdout, one JSON object: loss (mean cross-entropy, nats), perplexity, "
    "tokens, samples, seq_len, window, block, precision (and buckets with --positions), and "
    "bytes and bits_per_byte when the tokens' bytes are known (text, bytes, llmc with a "
    "tokenizer). Several ranks (mpirun) split the samples.",
    "exit status: 0 scored, 2 bad input (one line on stderr).",
    options,
    1,
};

/* 0, SWAT_CLI_EXIT after --help/--version, or −1 with err. */
static int parse_args(eval_args *a, int argc, char **argv, int quiet, char *err)
{
    *a = (eval_args){.format = -1, .precision = -1};
    swat_cli cli;
    swat_cli_init(&cli, &program, argc, argv, quiet);
    const char *val;
    int key;
    while ((key = swat_cli_next(&cli, &val, err)) > 0) {
        switch (key) {
        case SWAT_CLI_ARG: a->ckpt = val; break;
        case OPT_DATA: a->data = val; break;
        case OPT_FORMAT:
            if (strcasecmp(val, "bytes") == 0) a->format = SWAT_DATA_BYTES;
            else if (strcasecmp(val, "llmc") == 0) a->format = SWAT_DATA_LLMC;
            else if (strcasecmp(val, "text") == 0) a->format = FORMAT_TEXT;
            else return swat_errf(err, "--format %s: expected bytes, llmc or text", val);
            break;
        case OPT_TOKENIZER: a->tokenizer = val; break;
        case OPT_SEQ_LEN:
            if (strcmp(val, "whole") == 0) a->seq_len = -1;
            else if (swat_arg_i64(cli.flag, val, 1, &a->seq_len, err))
                return swat_errf(err, "--seq-len %s: expected an integer ≥ 1 or 'whole'", val);
            break;
        case OPT_MAX_SAMPLES:
            if (swat_arg_i64(cli.flag, val, 0, &a->max_samples, err)) return -1;
            break;
        case OPT_BLOCK:
            if (swat_arg_i64(cli.flag, val, 1, &a->block, err)) return -1;
            break;
        case OPT_POSITIONS: a->positions = 1; break;
        case OPT_THREADS:
            if (swat_arg_i64(cli.flag, val, 1, &a->threads, err)) return -1;
            break;
        case OPT_PRECISION:
            if (swat_cli_precision(cli.flag, val, &a->precision, err)) return -1;
            break;
        }
    }
    if (key != SWAT_CLI_END) return key;
    if (!a->ckpt) return swat_cli_usage_errf(&cli, err, "missing CHECKPOINT.h5");
    if (!a->data) return swat_cli_usage_errf(&cli, err, "missing --data FILE");
    return 0;
}

/* Edges 0, b, 2b, 4b, … < T, then T; returns the number of buckets. */
static int bucket_edges(int64_t *edges, int64_t b, int64_t T)
{
    int nb = 0;
    edges[0] = 0;
    for (int64_t e = b; e < T && nb + 1 < MAX_BUCKETS; e *= 2) {
        edges[++nb] = e;
        if (e > INT64_MAX / 2) break;
    }
    edges[++nb] = T;
    return nb;
}

/* Adds rows [n] at sample positions p0 … to the bucket sums ([nb] loss, then [nb] count). */
static void bucket_add(double *sums, const int64_t *edges, int nb, const double *rows, int64_t n,
                       int64_t p0)
{
    int k = 0;
    for (int64_t t = 0; t < n; t++) {
        while (k + 1 < nb && p0 + t >= edges[k + 1]) k++;
        sums[k] += rows[t];
        sums[nb + k] += 1;
    }
}

/* --format text: rank 0 encodes the file, every rank gets the ids. */
static int open_text(swat_dataset **ds, const eval_args *a, const swat_tok *tok, int64_t V,
                     swat_comm *comm, int rank, char *err)
{
    swat_ids ids = {0};
    int failed = 0;
    if (rank == 0) failed = swat_data_text_tokens(a->data, tok, &ids, err) != 0;
    if (swat_comm_any(comm, failed)) {
        swat_comm_bcast(comm, err, SWAT_ERR_LEN, 0);
        swat_free(ids.v);
        return -1;
    }
    int64_t n = (int64_t)ids.n;
    swat_comm_bcast(comm, &n, sizeof n, 0);
    int32_t *tokens = swat_malloc(sizeof(int32_t) * (size_t)(n > 0 ? n : 1));
    if (rank == 0) memcpy(tokens, ids.v, sizeof(int32_t) * (size_t)n);
    swat_free(ids.v);
    swat_comm_bcast(comm, tokens, sizeof(int32_t) * (size_t)n, 0);
    return swat_data_open_tokens(ds, tokens, n, V, a->data, err);
}

static double peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* KiB on Linux */
}

int main(int argc, char **argv)
{
    int world = swat_comm_init(&argc, &argv);
    int rank = swat_comm_world_rank();
    char err[SWAT_ERR_LEN] = "";
    eval_args a;
    int rc = parse_args(&a, argc, argv, rank != 0, err);
    if (rc == SWAT_CLI_EXIT) {
        swat_comm_finalize();
        return 0;
    }
    swat_comm *comm = swat_comm_create(1);
    swat_config cfg;
    swat_dataset *ds = NULL;
    swat_model *m = NULL;
    swat_tok *tok = NULL;
    if (rc == 0) rc = swat_ckpt_read_config(a.ckpt, &cfg, err);
    if (rc == 0) {
        if (a.format < 0) a.format = cfg.data.format;
        /* a config without [data] seq_len (an imported model) holds the unset marker, not 0 */
        if (a.seq_len == 0 && cfg.data.seq_len > 0) a.seq_len = cfg.data.seq_len;
        if (a.seq_len == 0) rc = swat_errf(err, "%s: the checkpoint has no seq_len: give --seq-len", a.ckpt);
    }
    if (rc == 0)
        rc = a.tokenizer ? swat_tok_load_file(&tok, a.tokenizer, err)
                         : swat_ckpt_tokenizer(a.ckpt, &tok, err);
    if (rc == 0 && tok && swat_tok_size(tok) > cfg.model.vocab_size)
        rc = swat_errf(err, "%s: the tokenizer has %lld pieces, the model's vocab_size is %lld",
                       a.tokenizer ? a.tokenizer : a.ckpt, (long long)swat_tok_size(tok),
                       (long long)cfg.model.vocab_size);
    if (rc == 0 && a.format == FORMAT_TEXT && !tok)
        rc = swat_errf(err, "%s: --format text needs a tokenizer: the checkpoint carries none, "
                       "give --tokenizer M.model", a.ckpt);
    /* every rank has the same outcome so far; text is encoded collectively */
    if (a.format == FORMAT_TEXT && !swat_comm_any(comm, rc != 0))
        rc = open_text(&ds, &a, tok, cfg.model.vocab_size, comm, rank, err);
    else if (rc == 0)
        rc = swat_data_open(&ds, a.data, a.format, cfg.model.vocab_size, err);
    if (rc == 0 && a.seq_len < 0) { /* whole: one sample of N − 1 targets */
        a.seq_len = swat_data_num_tokens(ds) - 1;
        if (a.seq_len < 1)
            rc = swat_errf(err, "%s: %lld tokens hold no sample (--seq-len whole needs 2)", a.data,
                           (long long)swat_data_num_tokens(ds));
    }
    if (rc == 0 && swat_data_num_samples(ds, a.seq_len) == 0)
        rc = swat_errf(err, "%s: %lld tokens hold no sample of %lld + 1 tokens", a.data,
                       (long long)swat_data_num_tokens(ds), (long long)a.seq_len);
    if (swat_comm_agree(comm, rc, err) == 0) {
        /* threads per rank against the node's CPUs (gemm.h); rank 0 speaks */
        char note[SWAT_ERR_LEN];
        swat_node_info node = swat_comm_node(comm);
        swat_gemm_setup_threads((int)a.threads, "--threads", node.ranks, node.cpus, note);
        if (swat_comm_agree(comm, note[0] != 0, note) && rank == 0) swat_warn("%s", note);
        m = swat_cli_load_model(comm, a.ckpt, &cfg, err);
    }
    if (!m) {
        if (rank == 0) fprintf(stderr, "swat-eval: %s\n", err);
        swat_data_close(ds);
        swat_tok_free(tok);
        swat_comm_free(comm);
        swat_comm_finalize();
        return 2;
    }
    /* bytes of the scored targets: known for text and bytes, and for llmc
     * shards when the tokenizer is */
    int count_bytes = a.format == SWAT_DATA_BYTES || tok != NULL;
    /* the products run in the precision the model was trained in, unless told */
    swat_precision prec = (swat_precision)(a.precision >= 0 ? a.precision : cfg.train.precision);

    int64_t T = a.seq_len, n = swat_data_num_samples(ds, T), w = cfg.model.window_size;
    if (a.max_samples > 0 && a.max_samples < n) n = a.max_samples;
    /* streaming block for w > 0 (the whole sample for w = 0) */
    int64_t block = 0, chunk = T;
    if (w > 0) {
        block = a.block > 0 ? a.block : (w > 256 ? w : 256);
        chunk = block < T ? block : T;
        swat_model_stream_begin(m, chunk, prec);
    } else {
        swat_plan plan = {.mb = 1, .Tc = T, .forward_only = 1, .precision = prec};
        swat_model_plan(m, &plan);
    }

    int64_t edges[MAX_BUCKETS + 1];
    int64_t base = w > 0 ? w : (cfg.data.seq_len > 0 ? cfg.data.seq_len : T);
    int nb = a.positions ? bucket_edges(edges, base, T) : 0;
    /* total, bucket losses [nb], bucket counts [nb], bytes */
    double *sums = swat_calloc(sizeof(double) * (size_t)(2 + 2 * nb));
    int32_t *buf = swat_malloc(sizeof(int32_t) * (size_t)(chunk + 1));
    double *row_loss = swat_malloc(sizeof(double) * (size_t)chunk);

    double t0 = swat_now();
    for (int64_t i = rank; i < n; i += world) {
        for (int64_t p = 0; p < T; p += chunk) {
            int64_t rows = T - p < chunk ? T - p : chunk;
            if (swat_data_read(ds, i * T + p, rows + 1, buf, err)) swat_die(2, "%s", err);
            if (w > 0)
                sums[0] += swat_model_stream_step(m, buf, rows, p, buf + 1, row_loss, NULL);
            else
                sums[0] += swat_model_step(m, NULL, buf, buf + 1, 0, 1.0, 0, row_loss);
            if (nb) bucket_add(sums + 1, edges, nb, row_loss, rows, p);
            if (count_bytes) {
                int64_t b = 0;
                if (tok)
                    for (int64_t t = 0; t < rows; t++) {
                        if (buf[1 + t] >= swat_tok_size(tok))
                            swat_die(2, "%s: token %d at %lld is not a piece of the tokenizer "
                                     "(%lld pieces): data made with another tokenizer?", a.data,
                                     buf[1 + t], (long long)(i * T + p + 1 + t),
                                     (long long)swat_tok_size(tok));
                        b += swat_tok_piece_bytes(tok, buf[1 + t]);
                    }
                else
                    b = rows;
                sums[1 + 2 * nb] += (double)b;
            }
        }
    }
    swat_comm_allreduce_double(comm, SWAT_SCOPE_WORLD, sums, 2 + 2 * nb);
    double secs = swat_now() - t0;
    int64_t rss_kib = swat_comm_max_i64(comm, (int64_t)(peak_rss_mib() * 1024.0));
    double loss = sums[0] / ((double)n * (double)T);
    if (rank == 0) {
        fprintf(stderr,
                "swat-eval: %lld samples of %lld tokens in %.1fs (%.0f tok/s), %s, peak RSS %.1f MiB\n",
                (long long)n, (long long)T, secs, (double)(n * T) / secs,
                w > 0 ? "streaming" : "whole samples (w = 0)", (double)rss_kib / 1024.0);
        if (w > 0) fprintf(stderr, "swat-eval: blocks of %lld rows, carry of %lld rows a layer\n",
                           (long long)chunk, (long long)(w - 1));
        printf("{\"loss\":%.8f,\"perplexity\":%.6f,\"tokens\":%lld,\"samples\":%lld,\"seq_len\":%lld,\"window\":%lld,\"block\":%lld,\"precision\":\"%s\"",
               loss, exp(loss), (long long)(n * T), (long long)n, (long long)T, (long long)w,
               (long long)block, prec == SWAT_PREC_BF16 ? "bf16" : "fp32");
        if (nb) {
            printf(",\"buckets\":[");
            for (int k = 0; k < nb; k++) {
                double cnt = sums[1 + nb + k];
                printf("%s{\"from\":%lld,\"to\":%lld,\"loss\":%.8f,\"tokens\":%.0f}", k ? "," : "",
                       (long long)edges[k], (long long)edges[k + 1],
                       cnt > 0 ? sums[1 + k] / cnt : 0.0, cnt);
            }
            printf("]");
        }
        if (count_bytes) {
            double bytes = sums[1 + 2 * nb];
            printf(",\"bytes\":%.0f,\"bits_per_byte\":", bytes);
            if (bytes > 0) printf("%.8f", sums[0] / log(2.0) / bytes);
            else printf("null"); /* every target a control piece */
        }
        printf("}\n");
        fflush(stdout);
    }
    swat_free(sums);
    swat_free(buf);
    swat_free(row_loss);
    swat_model_free(m);
    swat_data_close(ds);
    swat_tok_free(tok);
    swat_comm_free(comm);
    swat_comm_finalize();
    return 0;
}
