/* SPDX-License-Identifier: MIT */
/* swat-eval CHECKPOINT.h5 --data FILE [--format bytes|llmc] [--seq-len T|whole]
 *             [--max-samples N] [--block N] [--positions] [--threads N]
 *
 * Scores every complete sample of a token file (SPEC §3, shuffle off) with a
 * checkpoint's model and prints, as its last line of standard output, one
 * JSON object: loss (mean cross-entropy, nats), perplexity, tokens (targets
 * scored), samples, seq_len, window, block. `--seq-len whole` scores the whole
 * file as one sequence (n = 1 sample of N − 1 targets).
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
#include "swat/comm.h"
#include "swat/config.h"
#include "swat/data.h"
#include "swat/gemm.h"
#include "swat/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

/* Position buckets: edges 0, b, 2b, 4b, … need at most this many below 2^62. */
#define MAX_BUCKETS 64

typedef struct eval_args {
    const char *ckpt, *data;
    int format; /* −1: the checkpoint's */
    int64_t seq_len;  /* 0: the checkpoint's; −1: whole file */
    int64_t max_samples, threads, block;
    int positions;
} eval_args;

static int parse_args(eval_args *a, int argc, char **argv, char *err)
{
    *a = (eval_args){.format = -1};
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (s[0] != '-') {
            if (a->ckpt) return swat_errf(err, "unexpected argument '%s'", s);
            a->ckpt = s;
            continue;
        }
        if (strcmp(s, "--positions") == 0) {
            a->positions = 1;
            continue;
        }
        if (!val) return swat_errf(err, "%s needs a value", s);
        i++;
        if (strcmp(s, "--data") == 0) a->data = val;
        else if (strcmp(s, "--format") == 0) {
            if (strcasecmp(val, "bytes") == 0) a->format = SWAT_DATA_BYTES;
            else if (strcasecmp(val, "llmc") == 0) a->format = SWAT_DATA_LLMC;
            else return swat_errf(err, "--format %s: expected bytes or llmc", val);
        } else if (strcmp(s, "--seq-len") == 0) {
            if (strcmp(val, "whole") == 0) a->seq_len = -1;
            else if (swat_arg_i64(s, val, 1, &a->seq_len, err))
                return swat_errf(err, "--seq-len %s: expected an integer ≥ 1 or 'whole'", val);
        } else if (strcmp(s, "--max-samples") == 0) {
            if (swat_arg_i64(s, val, 0, &a->max_samples, err)) return -1;
        } else if (strcmp(s, "--block") == 0) {
            if (swat_arg_i64(s, val, 1, &a->block, err)) return -1;
        } else if (strcmp(s, "--threads") == 0) {
            if (swat_arg_i64(s, val, 1, &a->threads, err)) return -1;
        } else
            return swat_errf(err, "unknown option '%s'", s);
    }
    if (!a->ckpt || !a->data)
        return swat_errf(err, "usage: swat-eval CHECKPOINT.h5 --data FILE [--format bytes|llmc] [--seq-len T|whole] [--max-samples N] [--block N] [--positions] [--threads N]");
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
    swat_comm *comm = swat_comm_create(1);
    char err[SWAT_ERR_LEN] = "";
    eval_args a;
    swat_config cfg;
    swat_dataset *ds = NULL;
    swat_model *m = NULL;
    int rc = parse_args(&a, argc, argv, err);
    if (rc == 0) rc = swat_ckpt_read_config(a.ckpt, &cfg, err);
    if (rc == 0) {
        if (a.format < 0) a.format = cfg.data.format;
        if (a.seq_len == 0) a.seq_len = cfg.data.seq_len;
        if (a.seq_len == 0) rc = swat_errf(err, "%s: the checkpoint has no seq_len: give --seq-len", a.ckpt);
    }
    if (rc == 0) rc = swat_data_open(&ds, a.data, a.format, cfg.model.vocab_size, err);
    if (rc == 0 && a.seq_len < 0) { /* whole: one sample of N − 1 targets */
        a.seq_len = swat_data_num_tokens(ds) - 1;
        if (a.seq_len < 1)
            rc = swat_errf(err, "%s: %lld tokens hold no sample (--seq-len whole needs 2)", a.data,
                           (long long)swat_data_num_tokens(ds));
    }
    if (rc == 0 && swat_data_num_samples(ds, a.seq_len) == 0)
        rc = swat_errf(err, "%s: %lld tokens hold no sample of %lld + 1 tokens", a.data,
                       (long long)swat_data_num_tokens(ds), (long long)a.seq_len);
    if (swat_comm_any(comm, rc != 0)) {
        if (rank == 0) fprintf(stderr, "swat-eval: %s\n", err[0] ? err : "failed on another rank");
        swat_data_close(ds);
        swat_comm_free(comm);
        swat_comm_finalize();
        return 2;
    }

    swat_gemm_set_threads(a.threads > 0 ? (int)a.threads : swat_gemm_auto_threads());
    m = swat_model_create(&cfg.model, (size_t)world);
    size_t lo, hi;
    swat_ckpt_shard(m->nparams_pad, world, rank, &lo, &hi);
    if (swat_ckpt_load(comm, a.ckpt, m, m->params, NULL, NULL, lo, hi, NULL, err)) {
        if (rank == 0) fprintf(stderr, "swat-eval: %s\n", err);
        swat_model_free(m);
        swat_data_close(ds);
        swat_comm_free(comm);
        swat_comm_finalize();
        return 2;
    }
    if (world > 1) swat_comm_allgather(comm, m->params, hi - lo);
    swat_model_params_changed(m);
    /* the products run in the precision the model was trained in */
    swat_precision prec = (swat_precision)cfg.train.precision;

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
    double *sums = swat_calloc(sizeof(double) * (size_t)(1 + 2 * nb)); /* total, bucket loss, count */
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
        }
    }
    swat_comm_allreduce_double(comm, SWAT_SCOPE_WORLD, sums, 1 + 2 * nb);
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
        printf("{\"loss\":%.8f,\"perplexity\":%.6f,\"tokens\":%lld,\"samples\":%lld,\"seq_len\":%lld,\"window\":%lld,\"block\":%lld",
               loss, exp(loss), (long long)(n * T), (long long)n, (long long)T, (long long)w,
               (long long)block);
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
        printf("}\n");
        fflush(stdout);
    }
    swat_free(sums);
    swat_free(buf);
    swat_free(row_loss);
    swat_model_free(m);
    swat_data_close(ds);
    swat_comm_free(comm);
    swat_comm_finalize();
    return 0;
}
