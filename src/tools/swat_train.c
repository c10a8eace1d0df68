/* SPDX-License-Identifier: MIT */
/* swat-train CONFIG.ini [--set section.key=value]… [--stop-after N]
 *
 * --stop-after N: after N updates of this run, save and exit 75 as on
 * SIGUSR1 (a time-boxed allocation; the tests' deterministic preemption).
 *
 * Argument parsing and the loop; the pieces live in train.c. Exit status:
 *   0  training complete (or already complete)
 *   2  bad input (config, data, checkpoint): one line on stderr from rank 0
 *   4  a non-finite loss or gradient under on_nonfinite = stop, or more than
 *      max_skips of them in a row under skip (nothing saved)
 *   5  a checkpoint could not be written
 *   75 stopped on SIGUSR1/SIGTERM after saving a checkpoint (EX_TEMPFAIL:
 *      the job script requeues; the next start resumes from it) */
#include "swat/comm.h"
#include "swat/config.h"
#include "swat/gemm.h"
#include "swat/metrics.h"
#include "swat/train.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { EXIT_BAD_INPUT = 2, EXIT_NONFINITE = 4, EXIT_SAVE_FAILED = 5, EXIT_PREEMPTED = 75 };

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) { stop_signal = sig; }

#define USAGE "usage: swat-train CONFIG.ini [--set section.key=value]... [--stop-after N]"

static void usage(FILE *out)
{
    fprintf(out, USAGE "\n  Trains a SWAT model (see README.md). Run under mpirun/srun for several ranks.\n"
                 "  Exit: 0 done, 2 bad input, 4 non-finite loss, 5 checkpoint failed,\n"
                 "        75 stopped on a signal or --stop-after with a checkpoint saved.\n");
}

/* Parses the command line and the config; 0 or −1 with err. */
static int load_config(swat_config *cfg, int argc, char **argv, int world, int64_t *stop_after,
                       char *err)
{
    if (argc < 2) return swat_errf(err, "missing CONFIG.ini (" USAGE ")");
    swat_config_defaults(cfg);
    if (swat_config_load_file(cfg, argv[1], err)) return -1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--stop-after") == 0) {
            if (i + 1 >= argc) return swat_errf(err, "--stop-after needs a number of updates >= 1");
            int64_t v;
            if (swat_arg_i64(a, argv[++i], 1, &v, err)) return -1;
            *stop_after = v;
            continue;
        }
        if (strcmp(a, "--set") == 0) {
            if (i + 1 >= argc) return swat_errf(err, "--set needs section.key=value");
            a = argv[++i];
        } else if (strncmp(a, "--set=", 6) == 0) {
            a += 6;
        } else {
            return swat_errf(err, "unknown argument '%s' (" USAGE ")", a);
        }
        if (swat_config_set(cfg, a, err)) return -1;
    }
    if (swat_config_finalize(cfg, SWAT_CONFIG_FOR_TRAINING, err)) return -1;
    return swat_config_check_layout(cfg, world, err);
}

static int make_dirs(const char *path, char *err)
{
    char buf[SWAT_PATH_LEN];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return swat_errf(err, "[checkpoint] dir = %s: cannot create %s: %s", path, buf,
                                 strerror(errno));
            *p = c;
            if (c == '\0') break;
        }
    }
    return 0;
}

/* Rank 0 prepares the run directory and writes the resolved config there. */
static int prepare_run_dir(const swat_config *cfg, char *err)
{
    if (make_dirs(cfg->checkpoint.dir, err)) return -1;
    char path[SWAT_PATH_LEN + 16];
    snprintf(path, sizeof path, "%s/config.ini", cfg->checkpoint.dir);
    FILE *f = fopen(path, "w");
    if (!f) return swat_errf(err, "%s: %s", path, strerror(errno));
    swat_config_write(cfg, f);
    if (fclose(f) != 0) return swat_errf(err, "%s: %s", path, strerror(errno));
    return 0;
}

static void print_banner(const swat_trainer *tr, int threads)
{
    const swat_model *m = tr->model;
    swat_info("model: %lld parameters (V %lld, d %lld, L %lld, H %lld, f %lld, window %lld, %s, alibi %lld)",
              (long long)m->nparams, (long long)m->V, (long long)m->d, (long long)m->L,
              (long long)m->H, (long long)m->f, (long long)m->w,
              m->cfg.attention == SWAT_ATTN_SIGMOID ? "sigmoid" : "softmax", (long long)m->cfg.alibi);
    swat_info("layout: %d ranks = sp %d x dp %d, %d threads/rank; %lld sequences x %lld tokens per "
              "update, chunk %lld, micro-batch %lld x %lld passes",
              tr->world, tr->sp, tr->dp, threads, (long long)tr->B, (long long)tr->T,
              (long long)tr->Tc, (long long)tr->mb, (long long)tr->accum);
    swat_info("train data: %lld tokens, %lld samples; %.3g GFLOP/token; peak %.1f GFLOP/s (all ranks)",
              (long long)swat_data_num_tokens(tr->train_ds), (long long)tr->sampler.n,
              tr->flops_per_token * 1e-9, tr->peak_gflops);
    char kernels[200];
    swat_info("products: %s; BLIS kernels: %s", tr->engine, swat_gemm_kernels(kernels, sizeof kernels));
}

static void run_eval(swat_trainer *tr, swat_metrics *mt)
{
    if (!tr->val_ds) return;
    int64_t tokens = 0;
    double t0 = swat_now();
    double loss = swat_trainer_evaluate(tr, tr->val_ds, tr->cfg.data.val_samples, &tokens);
    swat_info("step %lld | val_loss %.4f | val_ppl %.2f | %lld tokens in %.1fs", (long long)tr->step,
              loss, exp(loss), (long long)tokens, swat_now() - t0);
    swat_metrics_eval(mt, tr->step, loss, tokens);
}

int main(int argc, char **argv)
{
    /* first of all: a signal during start-up (MPI, config, resume) must not
     * kill the rank; it is acted on after the first update */
    signal(SIGUSR1, on_signal);
    signal(SIGTERM, on_signal);
    int world = swat_comm_init(&argc, &argv);
    int rank = swat_comm_world_rank();
    char err[SWAT_ERR_LEN] = "";
    swat_config cfg;
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        if (rank == 0) usage(stdout);
        swat_comm_finalize();
        return 0;
    }
    int64_t stop_after = 0;
    int rc = load_config(&cfg, argc, argv, world, &stop_after, err);
    if (rc == 0 && rank == 0) rc = prepare_run_dir(&cfg, err);
    swat_comm *comm = NULL;
    if (rc == 0 || world > 1) {
        /* the config is read identically everywhere, but the run directory only by rank 0 */
        comm = swat_comm_create(rc == 0 ? (int)cfg.parallel.sp : 1);
        if (swat_comm_any(comm, rc != 0)) {
            int64_t failed = swat_comm_max_i64(comm, rc != 0 ? -(int64_t)rank : INT64_MIN + 1);
            swat_comm_bcast(comm, err, sizeof err, (int)-failed);
            rc = -1;
        }
    }
    if (rc != 0) {
        if (rank == 0) fprintf(stderr, "swat-train: %s\n", err);
        swat_comm_free(comm);
        swat_comm_finalize();
        return EXIT_BAD_INPUT;
    }

    int threads = cfg.parallel.threads > 0 ? (int)cfg.parallel.threads : swat_gemm_auto_threads();
    swat_gemm_set_threads(threads);

    swat_trainer tr;
    if (swat_trainer_init(&tr, &cfg, comm, err)) {
        if (rank == 0) fprintf(stderr, "swat-train: %s\n", err);
        swat_trainer_free(&tr);
        swat_comm_free(comm);
        swat_comm_finalize();
        return EXIT_BAD_INPUT;
    }
    print_banner(&tr, threads);

    swat_metrics mt = {0};
    if (rank == 0 && swat_metrics_open(&mt, cfg.checkpoint.dir, tr.step, err))
        swat_die(EXIT_BAD_INPUT, "%s", err);

    int status = 0;
    int64_t steps = cfg.train.steps, start = tr.step;
    double tokens_per_update = (double)tr.B * (double)tr.T, elapsed = 0;
    if (tr.step >= steps) swat_info("training already complete: step %lld of %lld", (long long)tr.step, (long long)steps);
    int64_t in_row = 0; /* non-finite updates skipped in a row */
    while (tr.step < steps) {
        swat_update_stats st;
        swat_trainer_update(&tr, &st);
        in_row = st.nonfinite ? in_row + 1 : 0;
        if (st.nonfinite) {
            /* loss and norm are global: every rank knows, rank 0 speaks */
            int skip = cfg.train.on_nonfinite == SWAT_NONFINITE_SKIP;
            int64_t update = skip ? tr.step : tr.step + 1; /* a skip has consumed its samples */
            if (skip && cfg.train.max_skips > 0 && in_row > cfg.train.max_skips) skip = 0;
            char why[96];
            if (skip) snprintf(why, sizeof why, "update skipped (on_nonfinite = skip)");
            else if (cfg.train.on_nonfinite == SWAT_NONFINITE_SKIP)
                snprintf(why, sizeof why, "%lld updates in a row (max_skips = %lld); stopping without saving",
                         (long long)in_row, (long long)cfg.train.max_skips);
            else snprintf(why, sizeof why, "stopping without saving it (on_nonfinite = stop)");
            if (rank == 0)
                fprintf(stderr, "swat-train: update %lld: loss %g, gradient norm %g: not finite; %s\n",
                        (long long)update, st.loss, st.grad_norm, why);
            if (!skip) {
                status = EXIT_NONFINITE;
                break;
            }
        }
        elapsed += st.seconds;
        double tps = tokens_per_update / st.seconds;
        double mfu = tr.flops_per_token * tps / (tr.peak_gflops * 1e9);
        swat_metrics_update(&mt, tr.step, st.loss, st.lr, st.grad_norm, tps, mfu, st.seconds);
        if (tr.step % cfg.train.log_every == 0 || tr.step == steps) {
            char eta[32];
            swat_format_duration(eta, sizeof eta, elapsed / (double)(tr.step - start) * (double)(steps - tr.step));
            swat_info("step %lld/%lld | loss %.4f | lr %.2e | gnorm %.3f | %.0f tok/s | MFU %.1f%% %s | ETA %s",
                      (long long)tr.step, (long long)steps, st.loss, st.lr, st.grad_norm, tps,
                      100 * mfu, tr.engine_tag, eta);
        }
        int last = tr.step == steps;
        if (cfg.train.eval_every > 0 && tr.step % cfg.train.eval_every == 0 && !last) run_eval(&tr, &mt);
        int stop = swat_comm_any(comm, stop_signal != 0) || (stop_after > 0 && tr.step - start >= stop_after);
        if (last || tr.step % cfg.checkpoint.every == 0 || stop) {
            if (swat_trainer_save(&tr, err)) {
                if (rank == 0) fprintf(stderr, "swat-train: checkpoint at step %lld failed: %s\n", (long long)tr.step, err);
                status = EXIT_SAVE_FAILED;
                break;
            }
            swat_info("saved checkpoint of step %lld in %s", (long long)tr.step, cfg.checkpoint.dir);
        }
        if (stop && !last) {
            swat_info("stopping after step %lld (%s; checkpoint saved): exit %d to be resumed",
                      (long long)tr.step, stop_signal ? "signal" : "--stop-after", EXIT_PREEMPTED);
            status = EXIT_PREEMPTED;
            break;
        }
    }
    if (status == 0 && tr.step == steps && tr.step > start) run_eval(&tr, &mt);

    swat_metrics_close(&mt);
    swat_trainer_free(&tr);
    swat_comm_free(comm);
    swat_comm_finalize();
    return status;
}
