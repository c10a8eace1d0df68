/* swat-eval CHECKPOINT.h5 --data FILE [--format bytes|llmc] [--seq-len T]
 *             [--max-samples N] [--threads N]
 *
 * Scores every complete sample of a token file (SPEC §3, shuffle off) with a
 * checkpoint's model and prints, as its last line of standard output, one
 * JSON object: loss (mean cross-entropy, nats), perplexity, tokens (targets
 * scored), samples, seq_len. T may be far longer than the window: the model
 * keeps one layer's activations only (forward-only plan). Several ranks
 * split the samples among them. Exit 0, or 2 with one line on bad input. */
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

typedef struct eval_args {
    const char *ckpt, *data;
    int format; /* −1: the checkpoint's */
    int64_t seq_len, max_samples, threads;
} eval_args;

static int parse_i64(const char *flag, const char *s, int64_t min, int64_t *out, char *err)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v < min) return swat_errf(err, "%s %s: expected an integer ≥ %lld", flag, s, (long long)min);
    *out = v;
    return 0;
}

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
        if (!val) return swat_errf(err, "%s needs a value", s);
        i++;
        if (strcmp(s, "--data") == 0) a->data = val;
        else if (strcmp(s, "--format") == 0) {
            if (strcasecmp(val, "bytes") == 0) a->format = SWAT_DATA_BYTES;
            else if (strcasecmp(val, "llmc") == 0) a->format = SWAT_DATA_LLMC;
            else return swat_errf(err, "--format %s: expected bytes or llmc", val);
        } else if (strcmp(s, "--seq-len") == 0) {
            if (parse_i64(s, val, 1, &a->seq_len, err)) return -1;
        } else if (strcmp(s, "--max-samples") == 0) {
            if (parse_i64(s, val, 0, &a->max_samples, err)) return -1;
        } else if (strcmp(s, "--threads") == 0) {
            if (parse_i64(s, val, 1, &a->threads, err)) return -1;
        } else
            return swat_errf(err, "unknown option '%s'", s);
    }
    if (!a->ckpt || !a->data)
        return swat_errf(err, "usage: swat-eval CHECKPOINT.h5 --data FILE [--format bytes|llmc] [--seq-len T] [--max-samples N] [--threads N]");
    return 0;
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
        if (a.seq_len <= 0) rc = swat_errf(err, "%s: the checkpoint has no seq_len: give --seq-len", a.ckpt);
    }
    if (rc == 0) rc = swat_data_open(&ds, a.data, a.format, cfg.model.vocab_size, err);
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

    int64_t T = a.seq_len, n = swat_data_num_samples(ds, T);
    if (a.max_samples > 0 && a.max_samples < n) n = a.max_samples;
    swat_model_plan(m, 1, T, 1);
    int32_t *buf = swat_malloc(sizeof(int32_t) * (size_t)(T + 1));
    double *row_loss = swat_malloc(sizeof(double) * (size_t)T);
    double sums[1] = {0};
    double t0 = swat_now();
    for (int64_t i = rank; i < n; i += world) {
        if (swat_data_read(ds, i * T, T + 1, buf, err)) swat_die(2, "%s", err);
        swat_model_step(m, NULL, buf, buf + 1, 0, 1.0, 0, row_loss);
        for (int64_t t = 0; t < T; t++) sums[0] += row_loss[t];
    }
    swat_comm_allreduce_double(comm, SWAT_SCOPE_WORLD, sums, 1);
    double secs = swat_now() - t0;
    double loss = sums[0] / ((double)n * (double)T);
    if (rank == 0) {
        fprintf(stderr, "swat-eval: %lld samples of %lld tokens in %.1fs (%.0f tok/s)\n",
                (long long)n, (long long)T, secs, (double)(n * T) / secs);
        printf("{\"loss\":%.8f,\"perplexity\":%.6f,\"tokens\":%lld,\"samples\":%lld,\"seq_len\":%lld,\"window\":%lld}\n",
               loss, exp(loss), (long long)(n * T), (long long)n, (long long)T,
               (long long)cfg.model.window_size);
        fflush(stdout);
    }
    swat_free(buf);
    swat_free(row_loss);
    swat_model_free(m);
    swat_data_close(ds);
    swat_comm_free(comm);
    swat_comm_finalize();
    return 0;
}
