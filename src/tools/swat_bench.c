/* SPDX-License-Identifier: MIT */
/* swat-bench CONFIG.ini [--set section.key=value]… [--steps N] [--warmup N] [--ckpt DIR]
 *
 * Times full training updates (forward, backward, gradient reduction,
 * AdamW, parameter all-gather) exactly as swat-train runs them, on the
 * config's model, sequence length, batch and layout, and prints figures:
 * tokens/s, MFU against the sgemm peak measured in the same run, step time,
 * peak RSS, the halo and reduction bytes per update and the share of the
 * step spent waiting on communication. The last line of stdout is one JSON
 * object; the config and layout lines come first, before the model is built
 * (a big one takes a while), then the data and the peak, then the timing.
 *
 * It times the config's model, not its schedule or its files: the updates
 * run under the config's optimizer settings squeezed into warm-up + steps
 * updates (so a long warm-up is not refused), nothing is evaluated (no
 * [data] val), and when [data] train is unset or matches no file the
 * updates read random tokens instead (the values of the tokens do not change
 * the work; each rank writes them to a temporary llm.c shard in $TMPDIR,
 * removed once opened). Nothing is saved (the run directory is not
 * touched), unless --ckpt DIR: then the trained state is also saved into DIR
 * and loaded back 3 times each (collective parallel HDF5, as swat-train does),
 * and the write and read bandwidths are printed and added to the JSON (the
 * best of the 3; DIR keeps the last checkpoint). */
#include "swat/ckpt.h"
#include "swat/cli.h"
#include "swat/comm.h"
#include "swat/config.h"
#include "swat/gemm.h"
#include "swat/rng.h"
#include "swat/rundir.h"
#include "swat/train.h"

#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

enum { CKPT_REPS = 3 };

/* Best save and load times of CKPT_REPS each into dir (collective); bytes =
 * the file's size. 0, or −1 with err on every rank. */
static int bench_ckpt(swat_trainer *tr, const char *dir, double *save_s, double *load_s,
                      double *bytes, char *err)
{
    snprintf(tr->cfg.checkpoint.dir, sizeof tr->cfg.checkpoint.dir, "%s", dir);
    tr->cfg.checkpoint.keep = 1;
    size_t n = tr->hi - tr->lo;
    swat_real *p = swat_malloc(sizeof(swat_real) * swat_model_describe(tr->model).nparams_pad);
    swat_real *m = swat_malloc(sizeof(swat_real) * (n ? n : 1));
    swat_real *v = swat_malloc(sizeof(swat_real) * (n ? n : 1));
    char path[SWAT_PATH_LEN];
    int rc = 0;
    *save_s = *load_s = 1e30;
    for (int i = 0; rc == 0 && i < CKPT_REPS; i++) {
        swat_comm_barrier(tr->comm);
        double t = swat_now();
        rc = swat_trainer_save(tr, err);
        swat_comm_barrier(tr->comm);
        t = swat_now() - t;
        if (t < *save_s) *save_s = t;
    }
    if (rc == 0 && swat_rundir_find_latest(dir, path, sizeof path, err) != 0) {
        if (!err[0]) swat_errf(err, "%s: no checkpoint after saving", dir);
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < CKPT_REPS; i++) {
        swat_comm_barrier(tr->comm);
        double t = swat_now();
        rc = swat_ckpt_load(tr->comm, path, tr->model, p, m, v, tr->lo, tr->hi, NULL, err);
        swat_comm_barrier(tr->comm);
        t = swat_now() - t;
        if (t < *load_s) *load_s = t;
    }
    struct stat sb;
    *bytes = rc == 0 && stat(path, &sb) == 0 ? (double)sb.st_size : 0;
    swat_free(p);
    swat_free(m);
    swat_free(v);
    return rc;
}

enum { OPT_SET = 256, OPT_STEPS, OPT_WARMUP, OPT_CKPT };

static const swat_cli_option options[] = {
    SWAT_CLI_OPTION_SET(OPT_SET),
    {"steps", OPT_STEPS, "N", "updates timed (default 5)"},
    {"warmup", OPT_WARMUP, "N", "untimed updates before them (default 2)"},
    {"ckpt", OPT_CKPT, "DIR",
     "also time a collective checkpoint save into DIR and its load, best of 3 each"},
    {0},
};

static const swat_cli_program program = {
    "swat-bench",
    "CONFIG.ini [--set SECTION.KEY=VALUE]... [options]",
    "Times training updates of the config's model on its layout (mpirun/srun for several "
    "ranks): tokens/s, MFU, peak RSS, communication. The config's schedule does not matter, "
    "and random tokens stand in when [data] train matches no file. Nothing is saved unless "
    "--ckpt.",
    "exit status: 0 measured, 2 bad input (one line on stderr), 5 --ckpt could not save.",
    options,
    1,
};

typedef struct bench_args {
    const char *config, *ckpt_dir;
    const char **sets; /* [argc], pointing into argv */
    int nsets;
    int64_t steps, warmup;
} bench_args;

/* 0, SWAT_CLI_EXIT after --help/--version, or −1 with err. */
static int parse_args(bench_args *a, int argc, char **argv, int quiet, char *err)
{
    *a = (bench_args){.steps = 5, .warmup = 2};
    a->sets = swat_malloc(sizeof *a->sets * (size_t)argc);
    swat_cli cli;
    swat_cli_init(&cli, &program, argc, argv, quiet);
    const char *val;
    int key;
    while ((key = swat_cli_next(&cli, &val, err)) > 0) {
        switch (key) {
        case SWAT_CLI_ARG: a->config = val; break;
        case OPT_SET: a->sets[a->nsets++] = val; break;
        case OPT_STEPS:
            if (swat_arg_i64(cli.flag, val, 1, &a->steps, err)) return -1;
            break;
        case OPT_WARMUP:
            if (swat_arg_i64(cli.flag, val, 0, &a->warmup, err)) return -1;
            break;
        case OPT_CKPT: a->ckpt_dir = val; break;
        }
    }
    if (key != SWAT_CLI_END) return key;
    if (!a->config) return swat_cli_usage_errf(&cli, err, "missing CONFIG.ini");
    return 0;
}

/* The config as the benchmark runs it: the model, sequence, batch and layout
 * of the file; the schedule squeezed into its updates; no evaluation, no
 * resume. *synthetic: [data] train is unset (a placeholder stands in). */
static int bench_config(swat_config *cfg, const bench_args *a, int world, int *synthetic, char *err)
{
    if (swat_cli_load_config(cfg, a->config, a->sets, a->nsets, SWAT_CONFIG_FOR_MODEL, err))
        return -1;
    swat_train_config *t = &cfg->train;
    t->steps = a->warmup + a->steps;
    if (t->warmup_steps > t->steps) t->warmup_steps = t->steps;
    t->eval_every = 0;
    t->init_from[0] = '\0';
    cfg->data.val[0] = '\0';
    /* never resume: the benchmark starts from the seed (--ckpt sets its own) */
    snprintf(cfg->checkpoint.dir, sizeof cfg->checkpoint.dir, "/nonexistent/swat-bench");
    *synthetic = !cfg->data.train[0];
    if (*synthetic) {
        snprintf(cfg->data.train, sizeof cfg->data.train, "(random tokens)");
        cfg->data.format = SWAT_DATA_LLMC;
    }
    if (swat_config_finalize(cfg, SWAT_CONFIG_FOR_TRAINING, err)) return -1;
    return swat_config_check_layout(cfg, world, err);
}

static void put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Writes an llm.c shard of random tokens in [0, V), enough for one batch of
 * distinct samples (at most 16M tokens), into a new file of $TMPDIR; its
 * path goes to cfg->data.train. */
static int write_random_tokens(swat_config *cfg, char *err)
{
    const char *dir = getenv("TMPDIR");
    char *path = cfg->data.train;
    size_t n = sizeof cfg->data.train;
    if (snprintf(path, n, "%s/swat-bench-XXXXXX", dir && dir[0] ? dir : "/tmp") >= (int)n)
        return swat_errf(err, "TMPDIR is too long for a path");
    int fd = mkstemp(path);
    if (fd < 0) return swat_errf(err, "%s: cannot create the random tokens: %s", path, strerror(errno));
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        unlink(path);
        return swat_errf(err, "%s: %s", path, strerror(errno));
    }
    int64_t V = cfg->model.vocab_size, T = cfg->data.seq_len, samples = cfg->data.batch_size;
    int64_t most = ((int64_t)1 << 24) / T;
    if (samples > most) samples = most > 0 ? most : 1;
    int64_t count = samples * T + 1;
    int wide = V > 65536; /* uint32 tokens: magic 20240801 */
    unsigned char header[1024] = {0}, tok[4];
    put_le32(header, wide ? 20240801u : 20240520u);
    put_le32(header + 4, 1);
    put_le32(header + 8, (uint32_t)count);
    int bad = fwrite(header, 1, sizeof header, f) != sizeof header;
    swat_rng r;
    swat_rng_seed(&r, (uint64_t)cfg->train.seed, 0x62656e6368); /* "bench" */
    for (int64_t i = 0; i < count && !bad; i++) {
        put_le32(tok, (uint32_t)swat_rng_below(&r, (uint64_t)V));
        bad = fwrite(tok, 1, wide ? 4 : 2, f) != (size_t)(wide ? 4 : 2);
    }
    if (fclose(f) != 0 || bad) {
        swat_errf(err, "%s: cannot write the random tokens: %s", path, strerror(errno));
        unlink(path);
        return -1;
    }
    cfg->data.format = SWAT_DATA_LLMC;
    return 0;
}

int main(int argc, char **argv)
{
    int world = swat_comm_init(&argc, &argv);
    int rank = swat_comm_world_rank();
    char err[SWAT_ERR_LEN] = "";
    swat_config cfg;
    bench_args a;
    int synthetic = 0, train_unset = 0;
    char pattern[SWAT_PATH_LEN] = ""; /* [data] train as the config gives it */
    int rc = parse_args(&a, argc, argv, rank != 0, err);
    if (rc == SWAT_CLI_EXIT) {
        swat_free(a.sets);
        swat_comm_finalize();
        return 0;
    }
    if (rc == 0) rc = bench_config(&cfg, &a, world, &synthetic, err);
    if (rc == 0) {
        train_unset = synthetic;
        snprintf(pattern, sizeof pattern, "%s", cfg.data.train);
    }
    swat_comm *comm = swat_comm_create(rc == 0 ? (int)cfg.parallel.sp : 1);
    if (rc == 0 && !synthetic) { /* rank 0 looks, so that every rank decides alike */
        glob_t g;
        int found = 0;
        if (rank == 0) {
            found = glob(cfg.data.train, 0, NULL, &g) == 0 && g.gl_pathc > 0;
            globfree(&g);
        }
        synthetic = !swat_comm_any(comm, found);
    }
    if (rc == 0 && synthetic) rc = write_random_tokens(&cfg, err);
    int threads = 0;
    swat_trainer tr;
    if (swat_comm_agree(comm, rc, err) == 0) {
        /* threads per rank against the node's CPUs (gemm.h); rank 0 speaks */
        char note[SWAT_ERR_LEN];
        swat_node_info node = swat_comm_node(comm);
        threads = swat_gemm_setup_threads((int)cfg.parallel.threads, "[parallel] threads",
                                          node.ranks, node.cpus, note);
        if (swat_comm_agree(comm, note[0] != 0, note) && rank == 0) swat_warn("%s", note);
        /* what is measured, before the model is built: a big one takes a while */
        if (rank == 0) {
            const swat_model_config *mc = &cfg.model;
            int64_t sp = cfg.parallel.sp, dp = world / sp, B = cfg.data.batch_size;
            printf("config      %s: d %lld, L %lld, H %lld, w %lld, T %lld, B %lld, %s\n", a.config,
                   (long long)mc->hidden_size, (long long)mc->num_hidden_layers,
                   (long long)mc->num_heads, (long long)mc->window_size,
                   (long long)cfg.data.seq_len, (long long)B,
                   mc->attention == SWAT_ATTN_SIGMOID ? "sigmoid" : "softmax");
            printf("layout      %d ranks (sp %lld x dp %lld), %d threads each, micro-batch %lld\n",
                   world, (long long)sp, (long long)dp, threads,
                   (long long)(cfg.train.micro_batch > 0 ? cfg.train.micro_batch : B / dp));
            if (train_unset)
                printf("data        random tokens in [0, %lld) ([data] train is unset)\n",
                       (long long)mc->vocab_size);
            else if (synthetic)
                printf("data        random tokens in [0, %lld) ([data] train = %s matches no file)\n",
                       (long long)mc->vocab_size, pattern);
            fflush(stdout);
        }
        rc = swat_trainer_init(&tr, &cfg, comm, err);
        if (synthetic) unlink(cfg.data.train); /* open: the descriptors keep it */
        if (rc) swat_trainer_free(&tr);
    } else {
        rc = -1;
    }
    swat_free(a.sets);
    if (rc != 0) {
        if (rank == 0) fprintf(stderr, "swat-bench: %s\n", err);
        swat_comm_free(comm);
        swat_comm_finalize();
        return 2;
    }
    if (rank == 0) {
        if (!synthetic)
            printf("data        %s (%lld tokens)\n", cfg.data.train,
                   (long long)swat_data_num_tokens(tr.train_ds));
        char kernels[200];
        printf("peak        %.1f GFLOP/s (all ranks, measured now): %s; BLIS kernels %s\n",
               tr.peak_gflops, tr.engine, swat_gemm_kernels(kernels, sizeof kernels));
        fflush(stdout);
    }
    int64_t steps = a.steps, warmup = a.warmup;
    const char *ckpt_dir = a.ckpt_dir;
    swat_update_stats st;
    for (int64_t i = 0; i < warmup; i++) swat_trainer_update(&tr, &st);
    swat_comm_stats_reset(comm);
    swat_model_timers_reset(tr.model, 1);
    double t0 = swat_now(), best = 1e30, loss = 0;
    double part[4] = {0, 0, 0, 0}; /* data, model, reduction, optimizer */
    for (int64_t i = 0; i < steps; i++) {
        swat_trainer_update(&tr, &st);
        if (st.seconds < best) best = st.seconds;
        loss = st.loss;
        part[0] += st.data_s, part[1] += st.model_s, part[2] += st.reduce_s, part[3] += st.optim_s;
    }
    double per_update = (swat_now() - t0) / (double)steps;
    swat_comm_stats cs = swat_comm_stats_get(comm);
    double stats[9] = {cs.halo_bytes, cs.reduce_bytes, cs.wait_s, 0, cs.wire_bytes,
                       cs.bucket_wait_s, cs.poll_s, (double)cs.reductions, (double)cs.gathers};
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    stats[3] = (double)ru.ru_maxrss / 1024.0; /* MiB */
    /* means over the ranks */
    swat_comm_allreduce_double(comm, SWAT_SCOPE_WORLD, stats, 9);
    double tokens = (double)tr.B * (double)tr.T;
    double tps = tokens / per_update, tps_best = tokens / best;
    double mfu = tr.flops_per_token * tps / (tr.peak_gflops * 1e9);
    double halo = stats[0] / world / (double)steps, reduce = stats[1] / world / (double)steps;
    double wait_share = stats[2] / world / (per_update * (double)steps);
    /* the ZeRO-1 collectives: per update, means over the ranks */
    double wire = stats[4] / world / (double)steps, zwait = stats[5] / world / (double)steps;
    double poll_share = stats[6] / world / (per_update * (double)steps);
    double nred = stats[7] / world / (double)steps, ngat = stats[8] / world / (double)steps;
    double save_s = 0, load_s = 0, ckpt_bytes = 0;
    if (ckpt_dir && bench_ckpt(&tr, ckpt_dir, &save_s, &load_s, &ckpt_bytes, err) != 0) {
        if (rank == 0) fprintf(stderr, "swat-bench: checkpoint: %s\n", err);
        swat_trainer_free(&tr);
        swat_comm_free(comm);
        swat_comm_finalize();
        return 5;
    }
    if (rank == 0) {
        printf("update      %.1f ms mean, %.1f ms best over %lld updates (loss %.4f)\n",
               per_update * 1e3, best * 1e3, (long long)steps, loss);
        printf("throughput  %.0f tokens/s (best %.0f), %.1f GFLOP/s model, MFU %.1f%%\n", tps,
               tps_best, tr.flops_per_token * tps * 1e-9, 100 * mfu);
        /* rank 0's split of the update, ms per update and share of it */
        double mt[SWAT_T_COUNT];
        swat_model_timers(tr.model, mt);
        swat_model_info m = swat_model_describe(tr.model); /* after the run: its plan's arena */
        double total = per_update * (double)steps;
        double inside = mt[SWAT_T_GEMM] + mt[SWAT_T_ATTENTION] + mt[SWAT_T_POINTWISE] +
                        mt[SWAT_T_OUTPUT] + mt[SWAT_T_HALO] + mt[SWAT_T_WEIGHTS] +
                        mt[SWAT_T_HOOKS];
        struct {
            const char *name;
            double s;
        } br[] = {{"GEMMs", mt[SWAT_T_GEMM]},
                  {"attention", mt[SWAT_T_ATTENTION]},
                  {"pointwise", mt[SWAT_T_POINTWISE]},
                  {"output+loss", mt[SWAT_T_OUTPUT]},
                  {"halo wait", mt[SWAT_T_HALO]},
                  {"weight copy", mt[SWAT_T_WEIGHTS]},
                  {"collectives in the passes", mt[SWAT_T_HOOKS]},
                  {"model other", part[1] - inside},
                  {"reduction", part[2]},
                  {"optimizer", part[3]},
                  {"data", part[0]},
                  {"rest", total - part[0] - part[1] - part[2] - part[3]}};
        printf("breakdown  ");
        for (size_t i = 0; i < sizeof br / sizeof br[0]; i++)
            printf(" %s %.1f ms (%.0f%%)%s", br[i].name, br[i].s / (double)steps * 1e3,
                   100 * br[i].s / total, i + 1 < sizeof br / sizeof br[0] ? "," : "\n");
        printf("memory      peak RSS %.1f MiB per rank (mean), activations %.1f MiB\n",
               stats[3] / world, (double)m.arena_bytes / 1048576.0);
        printf("comm        halo %.1f KiB/update/rank (%.1f KiB per layer and direction), reduction %.1f KiB/update/rank, waiting %.1f%% of the step\n",
               halo / 1024, halo / 1024 / (double)m.L / 2.0, reduce / 1024, 100 * wait_share);
        const swat_parallel_config *pc = &cfg.parallel;
        printf("zero-1      %.4g reduce-scatters + %.4g all-gathers per update (%s), %.1f MiB sent "
               "per rank per update (matrices %s, gradients %s), bucket waits %.1f ms per update, "
               "polling %.1f%% of the step\n",
               nred, ngat, tr.zero ? "bucketed" : "unbucketed", wire / 1048576.0,
               swat_param_wire_label(pc),
               pc->grad_wire ? "bf16" : "fp32", zwait * 1e3,
               100 * poll_share);
        if (ckpt_dir)
            printf("checkpoint  %.1f MB: save %.3f s (%.0f MB/s), load %.3f s (%.0f MB/s), best of %d, %d ranks\n",
                   ckpt_bytes * 1e-6, save_s, ckpt_bytes * 1e-6 / save_s, load_s,
                   ckpt_bytes * 1e-6 / load_s, CKPT_REPS, world);
        printf("{\"tokens_per_s\":%.1f,\"mfu\":%.4f,\"update_ms\":%.3f,\"peak_rss_mib\":%.1f,"
               "\"peak_gflops\":%.1f,\"halo_bytes_per_update\":%.0f,\"reduce_bytes_per_update\":%.0f,"
               "\"comm_wait_share\":%.4f,\"world\":%d,\"sp\":%d,\"threads\":%d,"
               "\"buckets\":%d,\"reductions_per_update\":%.4g,\"gathers_per_update\":%.4g,"
               "\"wire_bytes_per_update\":%.0f,\"bucket_wait_ms\":%.3f,\"comm_poll_share\":%.4f",
               tps, mfu, per_update * 1e3, stats[3] / world, tr.peak_gflops, halo, reduce,
               wait_share, world, tr.sp, threads, tr.nbk, nred, ngat, wire, zwait * 1e3,
               poll_share);
        if (ckpt_dir)
            printf(",\"ckpt_bytes\":%.0f,\"ckpt_save_s\":%.4f,\"ckpt_load_s\":%.4f", ckpt_bytes,
                   save_s, load_s);
        printf("}\n");
    }
    swat_trainer_free(&tr);
    swat_comm_free(comm);
    swat_comm_finalize();
    return 0;
}
