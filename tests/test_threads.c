/* SPDX-License-Identifier: MIT */
/* test_threads.c: the thread policy of gemm.c (swat_gemm_plan_threads), one
 * process, no MPI: every case states the node (ranks, CPUs), the CPUs of the
 * rank and the environment, and expects a thread count and either no line or
 * a line with the numbers, what was done and the fix. The environment
 * variables are set and cleared here, so the suite's own OMP_NUM_THREADS does
 * not leak in. The end-to-end side (real ranks, real affinity masks, rank 0
 * printing once) is tests/run_threads.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "swat/gemm.h"

/* Environment of one case: NULL = unset. */
static void env(const char *omp, const char *slurm)
{
    if (omp) setenv("OMP_NUM_THREADS", omp, 1);
    else unsetenv("OMP_NUM_THREADS");
    if (slurm) setenv("SLURM_CPUS_PER_TASK", slurm, 1);
    else unsetenv("SLURM_CPUS_PER_TASK");
}

/* The plan must run `threads` threads from `origin`; its warning must be
 * empty when `parts` is NULL, else contain each of the NULL-terminated
 * strings of `parts` (and "oversubscribed: " at the start). */
static void expect(int set, const char *set_by, int ranks, int cpus, int rank_cpus, int threads,
                   swat_threads_origin origin, const char *const *parts)
{
    swat_thread_plan p;
    swat_gemm_plan_threads(&p, set, set_by, ranks, cpus, rank_cpus);
    if (p.threads != threads || p.origin != origin)
        fail_msg("set %d, %d ranks, %d CPUs, rank %d CPUs: %d threads from %d, want %d from %d", set,
                 ranks, cpus, rank_cpus, p.threads, (int)p.origin, threads, (int)origin);
    if (!parts) {
        if (p.warning[0]) fail_msg("unexpected warning: %s", p.warning);
        return;
    }
    if (strncmp(p.warning, "oversubscribed: ", 16) != 0)
        fail_msg("warning does not start with 'oversubscribed: ': '%s'", p.warning);
    for (; *parts; parts++)
        if (!strstr(p.warning, *parts)) fail_msg("warning '%s' lacks '%s'", p.warning, *parts);
    if (strchr(p.warning, '\n')) fail_msg("warning spans lines: %s", p.warning);
}

#define PARTS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_fits(void **state)
{
    (void)state;
    env(NULL, NULL);
    expect(0, NULL, 2, 8, 8, 4, SWAT_THREADS_AUTO, NULL); /* the node's CPUs shared */
    expect(0, NULL, 3, 8, 8, 2, SWAT_THREADS_AUTO, NULL); /* rounded down */
    expect(0, NULL, 2, 8, 3, 3, SWAT_THREADS_AUTO, NULL); /* bound to 3 CPUs */
    expect(0, NULL, 1, 4, 0, 4, SWAT_THREADS_AUTO, NULL); /* mask unknown: the node's */
    expect(4, "[parallel] threads", 2, 8, 8, 4, SWAT_THREADS_SET, NULL);
    env("2", NULL);
    expect(0, NULL, 2, 4, 4, 2, SWAT_THREADS_OMP, NULL);
    env("1", "3"); /* SLURM's cpus-per-task comes first */
    expect(0, NULL, 2, 8, 8, 3, SWAT_THREADS_SLURM, NULL);
    env("abc", "0"); /* not counts: ignored */
    expect(0, NULL, 2, 8, 8, 4, SWAT_THREADS_AUTO, NULL);
}

static void test_lowered(void **state)
{
    (void)state;
    env("2", NULL); /* the case: 2 ranks x OMP_NUM_THREADS=2 on 2 cores */
    expect(0, NULL, 2, 2, 2, 1, SWAT_THREADS_OMP,
           PARTS("2 ranks on this node x 2 threads (OMP_NUM_THREADS) = 4 threads on 2 CPUs",
                 "lowered to 1 thread per rank;", "fix: OMP_NUM_THREADS=1"));
    env(NULL, "4");
    expect(0, NULL, 4, 8, 8, 2, SWAT_THREADS_SLURM,
           PARTS("4 ranks on this node x 4 threads (SLURM_CPUS_PER_TASK) = 16 threads on 8 CPUs",
                 "lowered to 2 threads per rank", "--cpus-per-task=2"));
    /* the node fits, the rank's binding does not */
    env("2", NULL);
    expect(0, NULL, 2, 4, 1, 1, SWAT_THREADS_OMP,
           PARTS("2 threads per rank (OMP_NUM_THREADS), but a rank is bound to 1 CPU",
                 "lowered to 1 thread", "bind each rank to 2 CPUs"));
    /* more ranks than CPUs: one thread each is the least */
    expect(0, NULL, 4, 2, 2, 1, SWAT_THREADS_OMP,
           PARTS("4 ranks on this node x 2 threads", "lowered to 1 thread per rank, still oversubscribed",
                 "start at most 2 ranks per node"));
    env(NULL, NULL);
    expect(0, NULL, 4, 2, 2, 1, SWAT_THREADS_AUTO,
           PARTS("4 ranks on this node x 1 thread (automatic) = 4 threads on 2 CPUs",
                 "one thread per rank is the least", "start at most 2 ranks per node"));
}

static void test_kept(void **state)
{
    (void)state;
    env("1", NULL); /* a set count wins over the environment */
    expect(2, "[parallel] threads", 2, 2, 2, 2, SWAT_THREADS_SET,
           PARTS("2 ranks on this node x 2 threads ([parallel] threads) = 4 threads on 2 CPUs",
                 "kept as set", "fix: [parallel] threads = 1"));
    expect(3, "--threads", 1, 2, 2, 3, SWAT_THREADS_SET,
           PARTS("1 rank on this node x 3 threads (--threads) = 3 threads on 2 CPUs", "kept as set",
                 "fix: --threads 2"));
    expect(2, "--threads", 2, 4, 1, 2, SWAT_THREADS_SET,
           PARTS("2 threads per rank (--threads), but a rank is bound to 1 CPU", "kept as set"));
}

static void test_auto_threads(void **state)
{
    (void)state;
    env("1", NULL);
    assert_int_equal(swat_gemm_auto_threads(), 1);
    env("100000", NULL); /* never more than this process's CPUs */
    int t = swat_gemm_auto_threads();
    assert_true(t >= 1 && t < 100000);
    env(NULL, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fits),
        cmocka_unit_test(test_lowered),
        cmocka_unit_test(test_kept),
        cmocka_unit_test(test_auto_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
