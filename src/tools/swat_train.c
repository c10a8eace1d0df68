/* SPDX-License-Identifier: MIT */
/* swat-train CONFIG.ini [--set section.key=value]… [--stop-after N]
 * swat-train --print-config CONFIG.ini [--set …] [--get section.key]…
 * swat-train --print-keys text|markdown
 *
 * Trains; or prints the config it would train with (--print-config: every
 * key, defaults and derived values included, as INI, the same text as the
 * run directory's config.ini; --get: only the values asked for, one a line,
 * for scripts); or prints the reference of every config key (--print-keys
 * markdown is docs/config.md's table). --print-config checks what training
 * checks before it touches a file, except the layout against the number of
 * ranks, which it checks only when started on more than one.
 *
 * --stop-after N: after N updates of this run, save and exit 75 as on
 * SIGUSR1 (a time-boxed allocation; the tests' deterministic preemption).
 *
 * Argument parsing and the loop; the pieces live in train.c. Exit status:
 *   0  training complete (or already complete); --help, --version, --print-*
 *   2  bad input (command line, config, data, checkpoint): one line on stderr
 *      from rank 0
 *   4  a non-finite loss or gradient under on_nonfinite = stop, or more than
 *      max_skips of them in a row under skip (nothing saved)
 *   5  a checkpoint could not be written
 *   6  a stop signal came, but the ranks could not agree to stop in time: a
 *      peer rank or its node is gone (nothing saved; see stop_grace below)
 *   75 stopped on SIGUSR1/SIGTERM after saving a checkpoint (EX_TEMPFAIL:
 *      the job script requeues; the next start resumes from it) */
#include "swat/cli.h"
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
#include <unistd.h>

enum {
    EXIT_BAD_INPUT = 2,
    EXIT_NONFINITE = 4,
    EXIT_SAVE_FAILED = 5,
    EXIT_STOP_TIMEOUT = 6,
    EXIT_PREEMPTED = 75
};

/* A stop signal is acted on when every rank has seen it: the agreement at
 * the end of an update. A rank whose peer is gone (a killed rank, a node
 * that died) never gets there: MPI does not fail a wait for a dead peer, it
 * waits for ever, and SLURM's step termination (SIGTERM, then SIGKILL after
 * KillWait, 30 s by default) is all that would end it. So once training
 * runs, a stop signal also arms an alarm of stop_grace seconds (3 s plus
 * two of the slowest loop iterations so far, so that the agreement always
 * fits), disarmed when the ranks agree (the save may then take what it
 * needs); if it rings, the rank says why and exits at once. */
static volatile sig_atomic_t stop_signal, stop_armed, stop_grace = 10;

static void on_signal(int sig)
{
    if (!stop_signal && stop_armed) alarm((unsigned)stop_grace);
    stop_signal = sig;
}

static void on_alarm(int sig)
{
    static const char msg[] = "swat-train: a stop signal came, but the ranks did not agree to stop "
                              "in time: a rank or its node is gone; exiting without a checkpoint "
                              "(the newest complete one stands)\n";
    (void)sig;
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
    _exit(EXIT_STOP_TIMEOUT);
}

enum { OPT_SET = 256, OPT_STOP_AFTER, OPT_PRINT_CONFIG, OPT_GET, OPT_PRINT_KEYS };

static const swat_cli_option options[] = {
    SWAT_CLI_OPTION_SET(OPT_SET),
    {"stop-after", OPT_STOP_AFTER, "N",
     "after N updates of this run, save a checkpoint and exit 75, as on SIGUSR1"},
    {"print-config", OPT_PRINT_CONFIG, NULL,
     "print the resolved config (every key, defaults included, as INI) and exit without "
     "training"},
    {"get", OPT_GET, "SECTION.KEY",
     "print only this key's resolved value, one line per --get in the order given (implies "
     "--print-config)"},
    {"print-keys", OPT_PRINT_KEYS, "text|markdown",
     "print the reference of every config key (markdown: the tables of docs/config.md) and "
     "exit"},
    {0},
};

static const swat_cli_program program = {
    "swat-train",
    "CONFIG.ini [--set SECTION.KEY=VALUE]... [options]",
    "Trains a SWAT model as CONFIG.ini describes, or resumes the run from the newest "
    "checkpoint in its [checkpoint] dir. One rank as it is; several under mpirun or srun. "
    "docs/config.md lists every key.",
    "exit status: 0 done (or already complete), 2 bad input (one line on stderr), 4 "
    "non-finite loss or gradient, 5 a checkpoint could not be written, 6 a stop signal came "
    "but a peer rank is gone (nothing saved), 75 stopped by SIGUSR1/SIGTERM or --stop-after "
    "with a checkpoint saved.",
    options,
    1,
};

typedef struct train_args {
    const char *config;
    const char **sets, **gets; /* [argc] each, pointing into argv */
    int nsets, ngets;
    int64_t stop_after;
    int print_config;
    int print_keys; /* −1, or a swat_config_keys_format */
} train_args;

/* 0, SWAT_CLI_EXIT after --help/--version, or −1 with err. */
static int parse_args(train_args *a, int argc, char **argv, int quiet, char *err)
{
    *a = (train_args){.print_keys = -1};
    a->sets = swat_malloc(sizeof *a->sets * (size_t)argc);
    a->gets = swat_malloc(sizeof *a->gets * (size_t)argc);
    swat_cli cli;
    swat_cli_init(&cli, &program, argc, argv, quiet);
    const char *val;
    int key;
    while ((key = swat_cli_next(&cli, &val, err)) > 0) {
        switch (key) {
        case SWAT_CLI_ARG: a->config = val; break;
        case OPT_SET: a->sets[a->nsets++] = val; break;
        case OPT_STOP_AFTER:
            if (swat_arg_i64(cli.flag, val, 1, &a->stop_after, err)) return -1;
            break;
        case OPT_PRINT_CONFIG: a->print_config = 1; break;
        case OPT_GET:
            a->gets[a->ngets++] = val;
            a->print_config = 1;
            break;
        case OPT_PRINT_KEYS:
            if (!strcmp(val, "text")) a->print_keys = SWAT_CONFIG_KEYS_TEXT;
            else if (!strcmp(val, "markdown")) a->print_keys = SWAT_CONFIG_KEYS_MARKDOWN;
            else return swat_errf(err, "--print-keys %s: expected text or markdown", val);
            break;
        }
    }
    if (key != SWAT_CLI_END) return key;
    if (!a->config && a->print_keys < 0) return swat_cli_usage_errf(&cli, err, "missing CONFIG.ini");
    return 0;
}

/* --print-config: the whole config, or the --get values (all checked first,
 * so that a bad key prints nothing on stdout). Rank 0 prints. */
static int print_config(const swat_config *cfg, const train_args *a, int rank, char *err)
{
    char val[SWAT_PATH_LEN + 64], msg[SWAT_ERR_LEN];
    for (int i = 0; i < a->ngets; i++)
        if (swat_config_get(cfg, a->gets[i], val, sizeof val, msg))
            return swat_errf(err, "--get %s", msg);
    if (rank != 0) return 0;
    if (a->ngets == 0) swat_config_write(cfg, stdout);
    for (int i = 0; i < a->ngets; i++) {
        swat_config_get(cfg, a->gets[i], val, sizeof val, msg);
        printf("%s\n", val);
    }
    return fflush(stdout) == 0 ? 0 : swat_errf(err, "stdout: %s", strerror(errno));
}

/* Rank 0 prepares the run directory and writes the resolved config there. */
static int prepare_run_dir(const swat_config *cfg, char *err)
{
    char why[SWAT_ERR_LEN];
    if (swat_mkdir_p(cfg->checkpoint.dir, why)) return swat_errf(err, "[checkpoint] dir: %s", why);
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
    swat_model_info m = swat_model_describe(tr->model);
    char attention[32], alibi[32], err[SWAT_ERR_LEN]; /* the names of the config's key table */
    swat_config_get(&tr->cfg, "model.attention", attention, sizeof attention, err);
    swat_config_get(&tr->cfg, "model.alibi", alibi, sizeof alibi, err);
    swat_info("model: %lld parameters (V %lld, d %lld, L %lld, H %lld, f %lld, window %lld, %s, alibi %s)",
              (long long)m.nparams, (long long)m.V, (long long)m.d, (long long)m.L,
              (long long)m.H, (long long)m.f, (long long)m.w, attention, alibi);
    swat_node_info node = swat_comm_node(tr->comm);
    swat_info("layout: %d ranks = sp %d x dp %d, %d threads/rank, %d node%s (%d ranks on rank 0's); "
              "%lld sequences x %lld tokens per update, chunk %lld, micro-batch %lld x %lld passes",
              tr->world, tr->sp, tr->dp, threads, node.nodes, node.nodes == 1 ? "" : "s",
              node.ranks, (long long)tr->B, (long long)tr->T, (long long)tr->Tc, (long long)tr->mb,
              (long long)tr->accum);
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

/* The run after the config is agreed on: 0 or an exit status. */
static int train(const swat_config *cfg_in, swat_comm *comm, int64_t stop_after, int rank)
{
    swat_config cfg = *cfg_in;
    char err[SWAT_ERR_LEN] = "";
    /* threads per rank against the node's CPUs (gemm.h); rank 0 speaks */
    char note[SWAT_ERR_LEN];
    swat_node_info node = swat_comm_node(comm);
    int threads = swat_gemm_setup_threads((int)cfg.parallel.threads, "[parallel] threads",
                                          node.ranks, node.cpus, note);
    if (swat_comm_agree(comm, note[0] != 0, note) && rank == 0) swat_warn("%s", note);

    swat_trainer tr;
    if (swat_trainer_init(&tr, &cfg, comm, err)) {
        if (rank == 0) fprintf(stderr, "swat-train: %s\n", err);
        swat_trainer_free(&tr);
        return EXIT_BAD_INPUT;
    }
    print_banner(&tr, threads);

    swat_metrics mt = {0};
    if (rank == 0 && swat_metrics_open(&mt, cfg.checkpoint.dir, tr.step, err))
        swat_die(EXIT_BAD_INPUT, "%s", err);

    int status = 0;
    int64_t steps = cfg.train.steps, start = tr.step;
    double tokens_per_update = (double)tr.B * (double)tr.T, elapsed = 0;
    int mfu_warned = 0; /* one line when the measured peak makes MFU exceed 100 % */
    if (tr.step >= steps) swat_info("training already complete: step %lld of %lld", (long long)tr.step, (long long)steps);
    int64_t in_row = 0; /* non-finite updates skipped in a row */
    double iter_t0 = swat_now(), slowest = 0;
    stop_armed = 1;
    if (stop_signal) alarm((unsigned)stop_grace); /* a signal during start-up */
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
        if (mfu > 1.0 && !mfu_warned && cfg.train.peak_gflops <= 0) {
            /* the model cannot outrun the products it is made of: the peak
             * measured at start-up was disturbed (other jobs on the CPUs) */
            swat_warn("MFU %.0f%% is above 100%%: the start-up peak (%.1f GFLOP/s) was measured "
                      "while the CPUs were busy; give one rank's peak as [train] peak_gflops",
                      100 * mfu, tr.peak_gflops);
            mfu_warned = 1;
        }
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
        if (stop) alarm(0); /* every rank is here: the save may take what it needs */
        /* agreement to agreement: an update, an evaluation, the save before */
        double now = swat_now(), iter = now - iter_t0;
        iter_t0 = now;
        if (iter > slowest) slowest = iter;
        stop_grace = (sig_atomic_t)(3 + 2 * (slowest < 1800 ? slowest : 1800));
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
    return status;
}

int main(int argc, char **argv)
{
    /* first of all: a signal during start-up (MPI, config, resume) must not
     * kill the rank; it is acted on after the first update */
    signal(SIGUSR1, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGALRM, on_alarm);
    int world = swat_comm_init(&argc, &argv);
    int rank = swat_comm_world_rank();
    char err[SWAT_ERR_LEN] = "";
    swat_config cfg;
    train_args a;
    int rc = parse_args(&a, argc, argv, rank != 0, err);
    if (rc == 0 && a.print_keys >= 0) {
        if (rank == 0) swat_config_write_keys(stdout, (swat_config_keys_format)a.print_keys);
        rc = SWAT_CLI_EXIT;
    }
    /* the command line is the same on every rank, and so is its verdict */
    int status = rc == SWAT_CLI_EXIT ? 0 : EXIT_BAD_INPUT;
    if (rc == 0) {
        rc = swat_cli_load_config(&cfg, a.config, a.sets, a.nsets, SWAT_CONFIG_FOR_TRAINING, err);
        if (rc == 0 && (!a.print_config || world > 1)) rc = swat_config_check_layout(&cfg, world, err);
        /* the run directory is rank 0's alone, and a config file may be
         * readable on one node and not on another: agree before going on */
        if (rc == 0 && !a.print_config && rank == 0) rc = prepare_run_dir(&cfg, err);
        swat_comm *comm = swat_comm_create(rc == 0 && !a.print_config ? (int)cfg.parallel.sp : 1);
        rc = swat_comm_agree(comm, rc, err);
        if (rc == 0 && a.print_config) rc = print_config(&cfg, &a, rank, err);
        else if (rc == 0) status = train(&cfg, comm, a.stop_after, rank);
        swat_comm_free(comm);
        if (rc == 0 && a.print_config) status = 0;
    }
    if (rc != 0 && rc != SWAT_CLI_EXIT && rank == 0) fprintf(stderr, "swat-train: %s\n", err);
    swat_free(a.sets);
    swat_free(a.gets);
    swat_comm_finalize();
    return status;
}
