/* SPDX-License-Identifier: MIT */
/* swat-bench CONFIG.ini [--set section.key=value]… [--steps N] [--warmup N] [--ckpt DIR]
 *
 * Times full training updates (forward, backward, gradient reduction,
 * AdamW, parameter all-gather) exactly as swat-train runs them, on the
 * config's data and layout, and prints figures: tokens/s, MFU against the
 * sgemm peak measured in the same run, step time, peak RSS, the halo and
 * reduction bytes per update and the share of the step spent waiting on
 * communication. The last line of stdout is one JSON object. Nothing is
 * saved (the run directory is not touched), unless --ckpt DIR: then the
 * trained state is also saved into DIR and loaded back 3 times each
 * (collective parallel HDF5, as swat-train does), and the write and read
 * bandwidths are printed and added to the JSON (the best of the 3; DIR keeps
 * the last checkpoint). */
#include "swat/ckpt.h"
#include "swat/comm.h"
#include "swat/config.h"
#include "swat/gemm.h"
#include "swat/train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

enum { CKPT_REPS = 3 };

/* Best save and load times of CKPT_REPS each into dir (collective); bytes =
 * the file's size. 0, or −1 with err on every rank. */
static int bench_ckpt(swat_trainer *tr, const char *dir, double *save_s, double *load_s,
                      double *bytes, char *err)
{
    snprintf(tr->cfg.checkpoint.dir, sizeof tr->cfg.checkpoint.dir, "%s", dir);
    tr->cfg.checkpoint.keep = 1;
    size_t n = tr->hi - tr->lo;
    swat_real *p = swat_malloc(sizeof(swat_real) * tr->model->nparams_pad);
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
    if (rc == 0 && swat_ckpt_find_latest(dir, path, sizeof path, err) != 0) {
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

int main(int argc, char **argv)
{
    int world = swat_comm_init(&argc, &argv);
    int rank = swat_comm_world_rank();
    char err[SWAT_ERR_LEN] = "";
    swat_config cfg;
    int64_t steps = 5, warmup = 2;
    const char *ckpt_dir = NULL;
    int rc = 0;
    if (argc < 2) rc = swat_errf(err, "usage: swat-bench CONFIG.ini [--set section.key=value]... [--steps N] [--warmup N] [--ckpt DIR]");
    if (rc == 0) {
        swat_config_defaults(&cfg);
        rc = swat_config_load_file(&cfg, argv[1], err);
    }
    for (int i = 2; rc == 0 && i < argc; i++) {
        if (i + 1 >= argc) {
            rc = swat_errf(err, "%s needs a value", argv[i]);
        } else if (strcmp(argv[i], "--set") == 0) {
            rc = swat_config_set(&cfg, argv[++i], err);
        } else if (strcmp(argv[i], "--steps") == 0) {
            rc = swat_arg_i64(argv[i], argv[i + 1], 1, &steps, err);
            i++;
        } else if (strcmp(argv[i], "--warmup") == 0) {
            rc = swat_arg_i64(argv[i], argv[i + 1], 0, &warmup, err);
            i++;
        } else if (strcmp(argv[i], "--ckpt") == 0) {
            ckpt_dir = argv[++i];
        } else {
            rc = swat_errf(err, "unknown argument '%s'", argv[i]);
        }
    }
    if (rc == 0) {
        cfg.train.steps = warmup + steps; /* the schedule spans the benchmark */
        rc = swat_config_finalize(&cfg, SWAT_CONFIG_FOR_TRAINING, err);
    }
    if (rc == 0) rc = swat_config_check_layout(&cfg, world, err);
    if (rc != 0) {
        if (rank == 0) fprintf(stderr, "swat-bench: %s\n", err);
        swat_comm_finalize();
        return 2;
    }
    int threads = cfg.parallel.threads > 0 ? (int)cfg.parallel.threads : swat_gemm_auto_threads();
    swat_gemm_set_threads(threads);
    swat_comm *comm = swat_comm_create((int)cfg.parallel.sp);
    /* never resume: the benchmark starts from the seed */
    snprintf(cfg.checkpoint.dir, sizeof cfg.checkpoint.dir, "/nonexistent/swat-bench");
    cfg.train.init_from[0] = '\0';
    swat_trainer tr;
    if (swat_trainer_init(&tr, &cfg, comm, err)) {
        if (rank == 0) fprintf(stderr, "swat-bench: %s\n", err);
        swat_comm_finalize();
        return 2;
    }
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
    double stats[4] = {cs.halo_bytes, cs.reduce_bytes, cs.wait_s, 0};
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    stats[3] = (double)ru.ru_maxrss / 1024.0; /* MiB */
    /* means over the ranks */
    swat_comm_allreduce_double(comm, SWAT_SCOPE_WORLD, stats, 4);
    double tokens = (double)tr.B * (double)tr.T;
    double tps = tokens / per_update, tps_best = tokens / best;
    double mfu = tr.flops_per_token * tps / (tr.peak_gflops * 1e9);
    double halo = stats[0] / world / (double)steps, reduce = stats[1] / world / (double)steps;
    double wait_share = stats[2] / world / (per_update * (double)steps);
    double save_s = 0, load_s = 0, ckpt_bytes = 0;
    if (ckpt_dir && bench_ckpt(&tr, ckpt_dir, &save_s, &load_s, &ckpt_bytes, err) != 0) {
        if (rank == 0) fprintf(stderr, "swat-bench: checkpoint: %s\n", err);
        swat_trainer_free(&tr);
        swat_comm_free(comm);
        swat_comm_finalize();
        return 5;
    }
    if (rank == 0) {
        const swat_model *m = tr.model;
        printf("config      %s: d %lld, L %lld, H %lld, w %lld, T %lld, B %lld, %s\n", argv[1],
               (long long)m->d, (long long)m->L, (long long)m->H, (long long)m->w, (long long)tr.T,
               (long long)tr.B, m->cfg.attention == SWAT_ATTN_SIGMOID ? "sigmoid" : "softmax");
        printf("layout      %d ranks (sp %d x dp %d), %d threads each, micro-batch %lld\n", world,
               tr.sp, tr.dp, threads, (long long)tr.mb);
        char kernels[200];
        printf("peak        %.1f GFLOP/s (all ranks, measured now): %s; BLIS kernels %s\n",
               tr.peak_gflops, tr.engine, swat_gemm_kernels(kernels, sizeof kernels));
        printf("update      %.1f ms mean, %.1f ms best over %lld updates (loss %.4f)\n",
               per_update * 1e3, best * 1e3, (long long)steps, loss);
        printf("throughput  %.0f tokens/s (best %.0f), %.1f GFLOP/s model, MFU %.1f%%\n", tps,
               tps_best, tr.flops_per_token * tps * 1e-9, 100 * mfu);
        /* rank 0's split of the update, ms per update and share of it */
        const double *mt = tr.model->time;
        double total = per_update * (double)steps;
        double inside = mt[SWAT_T_GEMM] + mt[SWAT_T_ATTENTION] + mt[SWAT_T_POINTWISE] +
                        mt[SWAT_T_OUTPUT] + mt[SWAT_T_HALO] + mt[SWAT_T_WEIGHTS];
        struct {
            const char *name;
            double s;
        } br[] = {{"GEMMs", mt[SWAT_T_GEMM]},
                  {"attention", mt[SWAT_T_ATTENTION]},
                  {"pointwise", mt[SWAT_T_POINTWISE]},
                  {"output+loss", mt[SWAT_T_OUTPUT]},
                  {"halo wait", mt[SWAT_T_HALO]},
                  {"weight copy", mt[SWAT_T_WEIGHTS]},
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
               stats[3] / world, (double)m->arena_bytes / 1048576.0);
        printf("comm        halo %.1f KiB/update/rank (%.1f KiB per layer and direction), reduction %.1f KiB/update/rank, waiting %.1f%% of the step\n",
               halo / 1024, halo / 1024 / (double)m->L / 2.0, reduce / 1024, 100 * wait_share);
        if (ckpt_dir)
            printf("checkpoint  %.1f MB: save %.3f s (%.0f MB/s), load %.3f s (%.0f MB/s), best of %d, %d ranks\n",
                   ckpt_bytes * 1e-6, save_s, ckpt_bytes * 1e-6 / save_s, load_s,
                   ckpt_bytes * 1e-6 / load_s, CKPT_REPS, world);
        printf("{\"tokens_per_s\":%.1f,\"mfu\":%.4f,\"update_ms\":%.3f,\"peak_rss_mib\":%.1f,"
               "\"peak_gflops\":%.1f,\"halo_bytes_per_update\":%.0f,\"reduce_bytes_per_update\":%.0f,"
               "\"comm_wait_share\":%.4f,\"world\":%d,\"sp\":%d,\"threads\":%d",
               tps, mfu, per_update * 1e3, stats[3] / world, tr.peak_gflops, halo, reduce,
               wait_share, world, tr.sp, threads);
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
