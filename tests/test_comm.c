/* SPDX-License-Identifier: MIT */
/* test_comm.c: the MPI layer (comm.c) on 2 and 4 ranks, double build.
 *
 * Every expectation is derived from the world size, so the same binary runs at
 * any rank count; each sp that divides the world is tried. Values are small
 * integers plus halves, exact in double, so sums are compared with ==; the
 * determinism test uses inexact values and compares bits.
 *
 * MPI and cmocka: all ranks run the same tests in the same order, and a test
 * makes all its communication calls first and judges afterwards. Checks go
 * through CHECK(), which records (and prints to stderr, tagged with the rank)
 * instead of returning from the test, and verdict() fails the test at its end
 * on every rank if it failed on any; so a failure on one rank never leaves the
 * others waiting in a collective, and rank 0's cmocka report (the only one
 * that reaches the terminal) names the failed test. As a backstop, main()
 * takes the largest failure count of any rank, and every rank exits non-zero
 * if it is not 0. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <mpi.h> /* only to check comm.c against MPI itself and for the verdict */

#include "swat/comm.h"

static int g_rank, g_world;

/* ---- checks that do not leave the test early --------------------------------- */

static int g_bad;
static char g_first[512];

static void check_fail(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check_fail(int line, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (g_bad == 0) snprintf(g_first, sizeof g_first, "line %d: %s", line, msg);
    if (g_bad < 8) fprintf(stderr, "[rank %d] test_comm.c:%d: %s\n", g_rank, line, msg);
    g_bad++;
}

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) check_fail(__LINE__, __VA_ARGS__);                        \
    } while (0)

/* Called by every rank at the end of every test: the test fails on all ranks
 * when it failed on any, so rank 0's report lists it. */
static void verdict(void)
{
    int bad = g_bad, ranks_bad = 0, mine = g_bad != 0;
    g_bad = 0;
    MPI_Allreduce(&mine, &ranks_bad, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (bad) fail_msg("[rank %d] %d check(s) failed; first at %s", g_rank, bad, g_first);
    if (ranks_bad) fail_msg("failed on %d other rank(s), see their messages", ranks_bad);
}

/* ---- helpers ----------------------------------------------------------------- */

/* The sp values to try: every divisor of the world size. */
static int divisors(int *out)
{
    int n = 0;
    for (int sp = 1; sp <= g_world; sp++)
        if (g_world % sp == 0) out[n++] = sp;
    return n;
}

/* Is world rank r in this rank's group of the given scope (layout of docs/training.md)? */
static int member(int sp, swat_scope s, int r)
{
    switch (s) {
    case SWAT_SCOPE_WORLD: return 1;
    case SWAT_SCOPE_SP: return r / sp == g_rank / sp;
    case SWAT_SCOPE_DP: return r % sp == g_rank % sp;
    }
    return 0;
}

/* A value owned by rank r, buffer i, element j: exact in double, distinct. */
static double val(int r, int i, size_t j)
{
    return (double)r * 1048576.0 + (double)i * 4096.0 + (double)(j % 4096) + 0.5;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* ---- tests ------------------------------------------------------------------- */

static void test_world(void **state)
{
    (void)state;
    int r = -1, s = -1;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    MPI_Comm_size(MPI_COMM_WORLD, &s);
    CHECK(swat_comm_world_rank() == r, "world rank %d, MPI says %d", swat_comm_world_rank(), r);
    CHECK(swat_comm_world_size() == s, "world size %d, MPI says %d", swat_comm_world_size(), s);
    CHECK(g_world == s, "swat_comm_init returned %d, MPI says %d", g_world, s);
    verdict();
}

/* Sizes, ranks and membership of the three scopes for every sp. Membership is
 * read from an all-reduce of a one-hot vector: entry r is 1 exactly when world
 * rank r is in the group. */
static void test_groups(void **state)
{
    (void)state;
    int sps[64], nsp = divisors(sps);
    for (int k = 0; k < nsp; k++) {
        int sp = sps[k];
        swat_comm *c = swat_comm_create(sp);
        CHECK(swat_comm_size(c, SWAT_SCOPE_WORLD) == g_world, "sp=%d world size", sp);
        CHECK(swat_comm_rank(c, SWAT_SCOPE_WORLD) == g_rank, "sp=%d world rank", sp);
        CHECK(swat_comm_size(c, SWAT_SCOPE_SP) == sp, "sp=%d sp size %d", sp,
              swat_comm_size(c, SWAT_SCOPE_SP));
        CHECK(swat_comm_rank(c, SWAT_SCOPE_SP) == g_rank % sp, "sp=%d sp rank %d", sp,
              swat_comm_rank(c, SWAT_SCOPE_SP));
        CHECK(swat_comm_size(c, SWAT_SCOPE_DP) == g_world / sp, "sp=%d dp size %d", sp,
              swat_comm_size(c, SWAT_SCOPE_DP));
        CHECK(swat_comm_rank(c, SWAT_SCOPE_DP) == g_rank / sp, "sp=%d dp rank %d", sp,
              swat_comm_rank(c, SWAT_SCOPE_DP));

        for (int s = 0; s < 3; s++) {
            swat_real onehot[64] = {0};
            onehot[g_rank] = 1;
            swat_comm_allreduce(c, (swat_scope)s, onehot, (size_t)g_world);
            for (int r = 0; r < g_world; r++)
                CHECK(onehot[r] == (swat_real)member(sp, (swat_scope)s, r),
                      "sp=%d scope %d: rank %d membership %g", sp, s, r, (double)onehot[r]);
        }

        /* The world communicator handed to ckpt.c is a private dup. */
        const MPI_Comm *w = swat_comm_mpi_world(c);
        int cmp = -1;
        MPI_Comm_compare(*w, MPI_COMM_WORLD, &cmp);
        CHECK(cmp == MPI_CONGRUENT, "sp=%d mpi_world compares %d, want MPI_CONGRUENT", sp, cmp);
        swat_comm_free(c);
    }
    verdict();
}

/* One shift of n buffers of count reals in direction dir on c; checks the
 * received data is the neighbour's, the ends get nothing, the sends are
 * untouched, and halo_bytes counts what this rank sent. */
static void shift_case(swat_comm *c, int sp, int dir, int n, size_t count)
{
    int q = g_rank % sp, base = g_rank - q;
    int has_src = q - dir >= 0 && q - dir < sp, has_dst = q + dir >= 0 && q + dir < sp;
    int src = base + q - dir;
    swat_real *send[64], *recv[64];
    for (int i = 0; i < n; i++) {
        send[i] = swat_malloc((count + 1) * sizeof(swat_real));
        recv[i] = swat_malloc((count + 1) * sizeof(swat_real));
        for (size_t j = 0; j <= count; j++) {
            send[i][j] = val(g_rank, i, j);
            recv[i][j] = -1; /* sentinel; element count must stay untouched */
        }
    }
    swat_comm_stats_reset(c);
    swat_comm_shift_start(c, dir, n, send, recv, count);
    int got = swat_comm_shift_wait(c);
    swat_comm_stats st = swat_comm_stats_get(c);

    CHECK(got == has_src, "sp=%d dir=%d: shift_wait returned %d, want %d", sp, dir, got, has_src);
    int bad = 0;
    for (int i = 0; i < n; i++)
        for (size_t j = 0; j <= count; j++) {
            double want = has_src && j < count ? val(src, i, j) : -1.0;
            bad += recv[i][j] != want;
            bad += send[i][j] != val(g_rank, i, j);
        }
    CHECK(bad == 0, "sp=%d dir=%d n=%d count=%zu: %d wrong element(s) (source rank %d)", sp, dir,
          n, count, bad, has_src ? src : -1);
    double want_bytes = has_dst ? (double)n * (double)count * sizeof(swat_real) : 0.0;
    CHECK(st.halo_bytes == want_bytes, "sp=%d dir=%d: halo_bytes %g, want %g", sp, dir,
          st.halo_bytes, want_bytes);
    CHECK(st.reduce_bytes == 0, "shift counted %g reduce bytes", st.reduce_bytes);
    for (int i = 0; i < n; i++) {
        swat_free(send[i]);
        swat_free(recv[i]);
    }
}

static void test_shift(void **state)
{
    (void)state;
    int sps[64], nsp = divisors(sps);
    /* (n, count): several buffers past the eager limit, the maximum number of
     * buffers (distinct tags), and empty messages. */
    const struct { int n; size_t count; } cases[] = {{3, 20000}, {64, 5}, {2, 0}, {1, 1}};
    for (int k = 0; k < nsp; k++) {
        swat_comm *c = swat_comm_create(sps[k]);
        for (size_t m = 0; m < sizeof cases / sizeof cases[0]; m++)
            for (int dir = 1; dir >= -1; dir -= 2)
                shift_case(c, sps[k], dir, cases[m].n, cases[m].count);
        swat_comm_free(c);
    }
    verdict();
}

/* Two comms of the same layout with shifts in opposite directions in flight at
 * once, and a world all-reduce on a third in between: the private
 * communicators keep the traffic apart. */
static void test_shift_concurrent(void **state)
{
    (void)state;
    int sp = g_world;
    swat_comm *a = swat_comm_create(sp), *b = swat_comm_create(sp), *w = swat_comm_create(1);
    enum { N = 1000 };
    swat_real sa[N], ra[N], sb[N], rb[N], x[N];
    for (int j = 0; j < N; j++) {
        sa[j] = val(g_rank, 1, j);
        sb[j] = val(g_rank, 2, j);
        ra[j] = rb[j] = -1;
        x[j] = 1;
    }
    swat_real *psa = sa, *pra = ra, *psb = sb, *prb = rb;
    swat_comm_shift_start(a, +1, 1, &psa, &pra, N);
    swat_comm_shift_start(b, -1, 1, &psb, &prb, N);
    swat_comm_allreduce(w, SWAT_SCOPE_WORLD, x, N);
    int gb = swat_comm_shift_wait(b), ga = swat_comm_shift_wait(a);

    CHECK(ga == (g_rank > 0) && gb == (g_rank < g_world - 1), "received flags %d %d", ga, gb);
    int bad = 0;
    for (int j = 0; j < N; j++) {
        bad += ra[j] != (g_rank > 0 ? val(g_rank - 1, 1, j) : -1);
        bad += rb[j] != (g_rank < g_world - 1 ? val(g_rank + 1, 2, j) : -1);
        bad += x[j] != g_world;
    }
    CHECK(bad == 0, "%d wrong element(s) with concurrent shifts", bad);
    swat_comm_free(w);
    swat_comm_free(b);
    swat_comm_free(a);
    verdict();
}

/* Sum over every scope of every layout, small and large (a different MPI
 * algorithm and protocol), for swat_real and double. */
static void test_allreduce(void **state)
{
    (void)state;
    int sps[64], nsp = divisors(sps);
    const size_t sizes[] = {1, 1000, 300001};
    for (int k = 0; k < nsp; k++) {
        int sp = sps[k];
        swat_comm *c = swat_comm_create(sp);
        for (int s = 0; s < 3; s++) {
            for (size_t m = 0; m < sizeof sizes / sizeof sizes[0]; m++) {
                size_t n = sizes[m];
                swat_real *buf = swat_malloc(n * sizeof *buf);
                for (size_t j = 0; j < n; j++) buf[j] = val(g_rank, s, j);
                swat_comm_allreduce(c, (swat_scope)s, buf, n);
                int bad = 0;
                for (size_t j = 0; j < n; j++) {
                    double want = 0;
                    for (int r = 0; r < g_world; r++)
                        if (member(sp, (swat_scope)s, r)) want += val(r, s, j);
                    bad += buf[j] != want;
                }
                CHECK(bad == 0, "sp=%d scope %d n=%zu: %d wrong sum(s)", sp, s, n, bad);
                swat_free(buf);
            }
            double d[3] = {g_rank + 0.25, -2.0 * g_rank, 1.0}, want[3] = {0, 0, 0};
            swat_comm_allreduce_double(c, (swat_scope)s, d, 3);
            for (int r = 0; r < g_world; r++)
                if (member(sp, (swat_scope)s, r)) {
                    want[0] += r + 0.25;
                    want[1] += -2.0 * r;
                    want[2] += 1.0;
                }
            for (int i = 0; i < 3; i++)
                CHECK(d[i] == want[i], "sp=%d scope %d double[%d] = %g, want %g", sp, s, i, d[i],
                      want[i]);
        }
        swat_comm_free(c);
    }
    verdict();
}

/* Reduce-scatter gives each rank the sum of its block; all-gather of those
 * blocks rebuilds the full sum, which equals the all-reduce. */
static void test_reduce_scatter_allgather(void **state)
{
    (void)state;
    swat_comm *c = swat_comm_create(1);
    const size_t shards[] = {0, 1, 1001, 65537};
    for (size_t m = 0; m < sizeof shards / sizeof shards[0]; m++) {
        size_t shard = shards[m], total = (size_t)g_world * shard;
        swat_real *buf = swat_malloc(total * sizeof *buf), *full = swat_malloc(total * sizeof *buf);
        swat_real *sum = swat_malloc(total * sizeof *buf);
        swat_real *out = swat_malloc((shard + 1) * sizeof *buf);
        for (int b = 0; b < g_world; b++)
            for (size_t j = 0; j < shard; j++) buf[b * shard + j] = val(g_rank, b, j);
        memcpy(sum, buf, total * sizeof *buf);
        out[shard] = -7; /* guard element */

        swat_comm_reduce_scatter(c, buf, out, shard);
        for (size_t i = 0; i < total; i++) full[i] = -1; /* other ranks' blocks: garbage */
        memcpy(full + (size_t)g_rank * shard, out, shard * sizeof *out);
        swat_comm_allgather(c, full, shard);
        swat_comm_allreduce(c, SWAT_SCOPE_WORLD, sum, total);

        int bad_rs = 0, bad_ag = 0, bad_ar = 0, bad_in = 0;
        for (size_t j = 0; j < shard; j++) {
            double want = 0;
            for (int r = 0; r < g_world; r++) want += val(r, g_rank, j);
            bad_rs += out[j] != want;
        }
        for (int b = 0; b < g_world; b++)
            for (size_t j = 0; j < shard; j++) {
                double want = 0;
                for (int r = 0; r < g_world; r++) want += val(r, b, j);
                bad_ag += full[b * shard + j] != want;
                bad_ar += sum[b * shard + j] != full[b * shard + j];
                bad_in += buf[b * shard + j] != val(g_rank, b, j);
            }
        CHECK(bad_rs == 0, "shard=%zu: %d wrong reduce-scatter element(s)", shard, bad_rs);
        CHECK(out[shard] == -7, "shard=%zu: reduce-scatter wrote past the shard", shard);
        CHECK(bad_ag == 0, "shard=%zu: %d wrong all-gather element(s)", shard, bad_ag);
        CHECK(bad_ar == 0, "shard=%zu: round trip differs from all-reduce at %d", shard, bad_ar);
        CHECK(bad_in == 0, "shard=%zu: reduce-scatter modified its input (%d)", shard, bad_in);
        swat_free(out);
        swat_free(sum);
        swat_free(full);
        swat_free(buf);
    }
    swat_comm_free(c);
    verdict();
}

/* Inexact values: the same call twice gives the same bits, and every rank of
 * the group holds the same bits (rank 0's result is broadcast and compared). */
static void test_determinism(void **state)
{
    (void)state;
    enum { N = 100003 };
    swat_comm *c = swat_comm_create(1);
    swat_real *x = swat_malloc(N * sizeof *x), *y = swat_malloc(N * sizeof *x);
    swat_real *z = swat_malloc(N * sizeof *x);
    size_t shard = N / (size_t)g_world;
    swat_real *s1 = swat_malloc((shard + 1) * sizeof *x), *s2 = swat_malloc((shard + 1) * sizeof *x);
    uint64_t st = 0x9E3779B97F4A7C15ull * (uint64_t)(g_rank + 1);
    for (int j = 0; j < N; j++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        x[j] = ((double)(st >> 11) / 9007199254740992.0 - 0.5) * (1 + j % 7) * 1e-3 * (j % 13 + 1);
    }
    memcpy(y, x, N * sizeof *x);
    swat_comm_reduce_scatter(c, x, s1, shard);
    swat_comm_reduce_scatter(c, x, s2, shard);
    swat_comm_allreduce(c, SWAT_SCOPE_WORLD, x, N);
    swat_comm_allreduce(c, SWAT_SCOPE_WORLD, y, N);
    memcpy(z, x, N * sizeof *x);
    swat_comm_bcast(c, z, N * sizeof *z, 0);

    CHECK(memcmp(x, y, N * sizeof *x) == 0, "all-reduce not bit-identical run to run");
    CHECK(memcmp(x, z, N * sizeof *x) == 0, "all-reduce result differs from rank 0's");
    CHECK(memcmp(s1, s2, shard * sizeof *x) == 0, "reduce-scatter not bit-identical run to run");
    swat_free(s2);
    swat_free(s1);
    swat_free(z);
    swat_free(y);
    swat_free(x);
    swat_comm_free(c);
    verdict();
}

static void test_any_max(void **state)
{
    (void)state;
    swat_comm *c = swat_comm_create(1);
    int none = swat_comm_any(c, 0);
    int all = swat_comm_any(c, 1);
    int last = swat_comm_any(c, g_rank == g_world - 1 ? 5 : 0);
    int first = swat_comm_any(c, g_rank == 0 ? -1 : 0);
    int64_t big = swat_comm_max_i64(c, (int64_t)g_rank * ((int64_t)1 << 40) - 7);
    int64_t neg = swat_comm_max_i64(c, -(int64_t)g_rank - ((int64_t)1 << 50));
    int64_t top = swat_comm_max_i64(c, g_rank == g_world - 1 ? INT64_MAX : INT64_MIN);

    CHECK(none == 0, "any(0 everywhere) = %d", none);
    CHECK(all == 1, "any(1 everywhere) = %d", all);
    CHECK(last == 1, "any(5 on the last rank) = %d", last);
    CHECK(first == 1, "any(-1 on rank 0) = %d", first);
    CHECK(big == (int64_t)(g_world - 1) * ((int64_t)1 << 40) - 7, "max_i64 = %lld", (long long)big);
    CHECK(neg == -((int64_t)1 << 50), "max_i64 of negatives = %lld", (long long)neg);
    CHECK(top == INT64_MAX, "max_i64 of the extremes = %lld", (long long)top);
    swat_comm_free(c);
    verdict();
}

/* 3 MB from the first and the last rank; the other ranks start from the
 * complement of the pattern, so every byte must change. */
static void test_bcast(void **state)
{
    (void)state;
    swat_comm *c = swat_comm_create(1);
    const size_t bytes = 3 * 1024 * 1024 + 123;
    unsigned char *buf = swat_malloc(bytes);
    int roots[2] = {0, g_world - 1};
    for (int k = 0; k < 2; k++) {
        int root = roots[k];
        for (size_t i = 0; i < bytes; i++) {
            unsigned char p = (unsigned char)(i * 131u + (size_t)root * 7u + 1u);
            buf[i] = g_rank == root ? p : (unsigned char)~p;
        }
        swat_comm_bcast(c, buf, bytes, root);
        size_t bad = 0;
        for (size_t i = 0; i < bytes; i++)
            bad += buf[i] != (unsigned char)(i * 131u + (size_t)root * 7u + 1u);
        CHECK(bad == 0, "bcast from %d: %zu wrong byte(s)", root, bad);
    }
    swat_comm_bcast(c, buf, 0, 0); /* nothing to send is fine */
    swat_free(buf);
    swat_comm_free(c);
    verdict();
}

/* The byte counts documented in comm.c, and waiting time. The waiting checks
 * make one rank late by 100 ms and expect at least 50 ms of waiting on the
 * ranks it holds up: the slack covers scheduling of 4 ranks on 2 cores. */
static void test_stats(void **state)
{
    (void)state;
    const double R = sizeof(swat_real);
    swat_comm *c = swat_comm_create(1);
    swat_real buf[256];
    double d[3] = {0, 0, 0};
    for (int j = 0; j < 256; j++) buf[j] = 1;

    swat_comm_barrier(c);
    swat_comm_stats_reset(c);
    swat_comm_stats s0 = swat_comm_stats_get(c);
    swat_comm_allreduce(c, SWAT_SCOPE_WORLD, buf, 100);
    swat_comm_stats s1 = swat_comm_stats_get(c);
    swat_comm_allreduce_double(c, SWAT_SCOPE_WORLD, d, 3);
    swat_comm_stats s2 = swat_comm_stats_get(c);
    (void)swat_comm_any(c, 0);
    (void)swat_comm_max_i64(c, 0);
    swat_comm_stats s3 = swat_comm_stats_get(c);
    size_t shard = 256 / (size_t)g_world;
    swat_real out[256];
    swat_comm_reduce_scatter(c, buf, out, shard);
    swat_comm_stats s4 = swat_comm_stats_get(c);
    swat_comm_allgather(c, buf, shard);
    swat_comm_stats s5 = swat_comm_stats_get(c);
    swat_comm_bcast(c, buf, 1000, g_world - 1);
    swat_comm_barrier(c);
    swat_comm_stats s6 = swat_comm_stats_get(c);

    /* waiting: rank 0 is late to a barrier */
    swat_comm_barrier(c);
    swat_comm_stats_reset(c);
    if (g_rank == 0) sleep_ms(100);
    swat_comm_barrier(c);
    swat_comm_stats w1 = swat_comm_stats_get(c);

    /* waiting in a shift: the first rank of the sequence group is late */
    swat_comm *g = swat_comm_create(g_world);
    swat_real *ps = buf, *pr = out;
    swat_comm_barrier(g);
    swat_comm_stats_reset(g);
    if (g_rank == 0) sleep_ms(100);
    swat_comm_shift_start(g, +1, 1, &ps, &pr, 10);
    (void)swat_comm_shift_wait(g);
    swat_comm_stats w2 = swat_comm_stats_get(g);
    swat_comm_free(g);

    CHECK(s0.halo_bytes == 0 && s0.reduce_bytes == 0 && s0.wait_s == 0, "reset left %g %g %g",
          s0.halo_bytes, s0.reduce_bytes, s0.wait_s);
    CHECK(s1.reduce_bytes == 100 * R, "allreduce counted %g", s1.reduce_bytes);
    CHECK(s2.reduce_bytes - s1.reduce_bytes == 3 * 8.0, "allreduce_double counted %g",
          s2.reduce_bytes - s1.reduce_bytes);
    CHECK(s3.reduce_bytes - s2.reduce_bytes == sizeof(int) + 8.0, "any + max_i64 counted %g",
          s3.reduce_bytes - s2.reduce_bytes);
    CHECK(s4.reduce_bytes - s3.reduce_bytes == g_world * shard * R, "reduce-scatter counted %g",
          s4.reduce_bytes - s3.reduce_bytes);
    CHECK(s5.reduce_bytes - s4.reduce_bytes == shard * R, "all-gather counted %g",
          s5.reduce_bytes - s4.reduce_bytes);
    double bc = g_rank == g_world - 1 ? 1000.0 : 0.0;
    CHECK(s6.reduce_bytes - s5.reduce_bytes == bc, "bcast + barrier counted %g, want %g",
          s6.reduce_bytes - s5.reduce_bytes, bc);
    CHECK(s6.halo_bytes == 0, "collectives counted %g halo bytes", s6.halo_bytes);
    CHECK(s6.wait_s >= s5.wait_s && s5.wait_s >= s1.wait_s && s1.wait_s >= 0,
          "wait_s not accumulating: %g %g %g", s1.wait_s, s5.wait_s, s6.wait_s);
    CHECK(w1.wait_s < 10, "barrier wait %g s", w1.wait_s);
    if (g_rank != 0) CHECK(w1.wait_s >= 0.05, "barrier held up 100 ms, waited %g s", w1.wait_s);
    if (g_rank == 1) CHECK(w2.wait_s >= 0.05, "shift held up 100 ms, waited %g s", w2.wait_s);
    CHECK(w2.halo_bytes == (g_rank < g_world - 1 ? 10 * R : 0), "shift halo_bytes %g",
          w2.halo_bytes);
    swat_comm_free(c);
    verdict();
}

/* The failure of some ranks becomes the failure of all, with the message of
 * the lowest failing rank; no failure leaves err alone. */
static void test_agree(void **state)
{
    (void)state;
    swat_comm *c = swat_comm_create(1);
    char err[SWAT_ERR_LEN];
    snprintf(err, sizeof err, "untouched");
    int none = swat_comm_agree(c, 0, err);
    CHECK(none == 0 && strcmp(err, "untouched") == 0, "no failure: %d '%s'", none, err);
    int low = g_world > 1 ? 1 : 0; /* the lowest failing rank: 1 (or 0 alone) */
    snprintf(err, sizeof err, "rank %d failed", g_rank);
    int any = swat_comm_agree(c, g_rank >= low, err);
    char want[64];
    snprintf(want, sizeof want, "rank %d failed", low);
    CHECK(any == -1 && strcmp(err, want) == 0, "agree: %d '%s', want '%s'", any, err, want);
    swat_comm_free(c);
    verdict();
}

/* An affine map x -> a·x + b (mod 2^64): composition is associative and not
 * commutative, so the result shows the order of the merge. */
typedef struct affine {
    uint64_t a, b;
} affine;

/* right = left then right (left applied first, from the lower ranks). */
static void affine_merge(const void *left, void *right, int k)
{
    for (int i = 0; i < k; i++) {
        affine l, r;
        memcpy(&l, (const char *)left + (size_t)i * sizeof l, sizeof l);
        memcpy(&r, (char *)right + (size_t)i * sizeof r, sizeof r);
        affine out = {r.a * l.a, r.a * l.b + r.b};
        memcpy((char *)right + (size_t)i * sizeof out, &out, sizeof out);
    }
}

static void test_allreduce_ordered(void **state)
{
    (void)state;
    swat_comm *c = swat_comm_create(1);
    enum { N = 300 }; /* enough records for MPI to cut the buffer into segments */
    affine *x = malloc(sizeof *x * N);
    for (int i = 0; i < N; i++) x[i] = (affine){3 + 2 * (uint64_t)g_rank + (uint64_t)i, 7 * (uint64_t)g_rank + 1};
    swat_comm_allreduce_ordered(c, x, N, sizeof *x, affine_merge);
    int bad = 0;
    for (int i = 0; i < N && !bad; i++) {
        affine want = {1, 0};
        for (int r = 0; r < g_world; r++) {
            affine f = {3 + 2 * (uint64_t)r + (uint64_t)i, 7 * (uint64_t)r + 1};
            want = (affine){f.a * want.a, f.a * want.b + f.b};
        }
        if (x[i].a != want.a || x[i].b != want.b) {
            CHECK(0, "record %d: (%llu, %llu), want (%llu, %llu) in rank order", i,
                  (unsigned long long)x[i].a, (unsigned long long)x[i].b,
                  (unsigned long long)want.a, (unsigned long long)want.b);
            bad = 1;
        }
    }
    free(x);
    swat_comm_free(c);
    verdict();
}

/* The node as comm.c counts it: every test rank runs on this machine. */
static void test_node(void **state)
{
    (void)state;
    swat_comm *c = swat_comm_create(1);
    swat_node_info n = swat_comm_node(c);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    CHECK(n.ranks == g_world, "ranks on the node: %d, world %d", n.ranks, g_world);
    CHECK(n.nodes == 1, "nodes: %d", n.nodes);
    CHECK(n.cpus >= 1 && n.cpus <= online, "node CPUs %d, online %ld", n.cpus, online);
    swat_comm_free(c);
    verdict();
}


/* ---- bucketed ZeRO-1 collectives (swat_buckets) --------------------------------- */

/* Bucket plans over n elements: one bucket; buckets of 1000; irregular sizes
 * (a bucket smaller than the world leaves slices empty). */
static int bucket_plan(swat_bucket *b, size_t n, int kind, swat_wire wire)
{
    static const size_t odd[] = {1, 3, 7, 1000, 2, 4097};
    int nb = 0;
    size_t at = 0;
    while (at < n) {
        size_t len = kind == 0 ? n : kind == 1 ? 1000 : odd[nb % 6];
        if (len > n - at) len = n - at;
        b[nb++] = (swat_bucket){at, at + len, wire};
        at += len;
    }
    return nb;
}

static int owns(const swat_bucket *b, int nb, size_t i)
{
    for (int j = 0; j < nb; j++)
        if (i >= b[j].lo && i < b[j].hi) {
            size_t lo, hi;
            swat_bucket_slice(&b[j], g_world, g_rank, &lo, &hi);
            return i >= lo && i < hi;
        }
    return 0;
}

/* Reduce-scatter then all-gather of every bucket: started in backward order
 * (last bucket first) with polls between, waited in forward order; the
 * all-gathers one at a time. The sums
 * of exact values must be exact; the gathered parameters every rank's; the
 * bf16 gather must copy bits; wire bytes and counts as documented. */
static void buckets_case(int kind, int thread)
{
    const size_t n = 9001;
    swat_bucket b[9001];
    int nb = bucket_plan(b, n, kind, SWAT_WIRE_REAL);
    swat_comm *c = swat_comm_create(1);
    swat_buckets_opts o = {.thread = thread, .poll_us = 20, .grad_wire = SWAT_WIRE_REAL};
    swat_buckets *z = swat_buckets_create(c, b, nb, &o);
    swat_real *g = swat_malloc(sizeof(swat_real) * n), *p = swat_malloc(sizeof(swat_real) * n);
    uint16_t *h = swat_malloc(sizeof(uint16_t) * n);
    for (size_t i = 0; i < n; i++) {
        g[i] = val(g_rank, 0, i);
        int mine = owns(b, nb, i);
        p[i] = mine ? val(7, 1, i) : -1;
        h[i] = mine ? (uint16_t)(i * 7 + 3) : 0xffff;
    }
    swat_comm_stats_reset(c);
    for (int j = nb - 1; j >= 0; j--) {
        swat_buckets_reduce_start(z, j, g);
        swat_buckets_progress(z);
    }
    for (int j = 0; j < nb; j++) swat_buckets_wait(z, j);
    swat_comm_stats s = swat_comm_stats_get(c);
    for (int j = 0; j < nb; j++) swat_buckets_gather_start(z, j, p, -1);
    /* one all-gather in flight at a time: they complete in start order, so
     * the ones done are always the first ones (with several in flight a
     * small one overtakes a bigger one started before it) */
    int gaps = 0;
    for (int w = 0; w < nb; w += 1 + nb / 4) {
        swat_buckets_wait(z, w);
        for (int j = 1; j < nb; j++) gaps += swat_buckets_done(z, j) && !swat_buckets_done(z, j - 1);
    }
    CHECK(gaps == 0, "plan %d thread %d: an all-gather completed before one started earlier (%d)",
          kind, thread, gaps);
    for (int j = nb - 1; j >= 0; j--) swat_buckets_wait(z, j);
    for (int j = 0; j < nb; j++) {
        swat_buckets_gather_start(z, j, h, SWAT_WIRE_BF16);
        swat_buckets_progress(z);
    }
    for (int j = 0; j < nb; j++) swat_buckets_wait(z, j);
    swat_comm_stats s2 = swat_comm_stats_get(c);

    size_t bad_sum = 0, bad_p = 0, bad_h = 0;
    for (size_t i = 0; i < n; i++) {
        if (owns(b, nb, i)) {
            double want = 0;
            for (int r = 0; r < g_world; r++) want += val(r, 0, i);
            bad_sum += g[i] != want;
        }
        bad_p += p[i] != val(7, 1, i);
        bad_h += h[i] != (uint16_t)(i * 7 + 3);
    }
    double want_bytes = 0;
    size_t own = 0;
    for (int j = 0; j < nb; j++) {
        size_t lo, hi;
        swat_bucket_slice(&b[j], g_world, g_rank, &lo, &hi);
        own += hi - lo;
        want_bytes += swat_buckets_bytes(z, j, 0, SWAT_WIRE_REAL);
    }
    CHECK(bad_sum == 0, "plan %d thread %d: %zu wrong sum(s) in %d bucket(s)", kind, thread,
          bad_sum, nb);
    CHECK(bad_p == 0, "plan %d thread %d: %zu wrong gathered parameter(s)", kind, thread, bad_p);
    CHECK(bad_h == 0, "plan %d thread %d: %zu wrong bf16 parameter(s)", kind, thread, bad_h);
    /* a reduce-scatter sends all but this rank's slice (partial sums) */
    CHECK(want_bytes == (double)(n - own) * sizeof(swat_real) && s.wire_bytes == want_bytes,
          "plan %d: reduce wire bytes %g, schedule %g, want %g", kind, s.wire_bytes, want_bytes,
          (double)(n - own) * sizeof(swat_real));
    CHECK(s.reductions == nb && s2.gathers == 2 * nb, "plan %d: %lld reductions %lld gathers, "
          "want %d and %d", kind, (long long)s.reductions, (long long)s2.gathers, nb, 2 * nb);
    CHECK(s2.wire_bytes > s.wire_bytes, "gathers counted no bytes");
    swat_buckets_free(z);
    swat_free(g);
    swat_free(p);
    swat_free(h);
    swat_comm_free(c);
}

static void test_buckets(void **state)
{
    (void)state;
    for (int kind = 0; kind < 3; kind++) {
        buckets_case(kind, 0);
        if (swat_comm_thread_multiple()) buckets_case(kind, 1);
    }
    verdict();
}

/* The sum of inexact values, then gathered whole: with recursive halving
 * (power-of-two worlds) the bits do not depend on the bucket plan nor on
 * polling vs the thread; rings fix them per plan (checked run to run). The
 * bf16 gradient wire rounds partial sums: within log2(P) + 1 bf16 roundings
 * of Σ|v| (2^-8 relative each). */
static void reduce_full(int kind, int thread, swat_wire gw, swat_real *out, size_t n)
{
    swat_bucket b[9001];
    int nb = bucket_plan(b, n, kind, SWAT_WIRE_REAL);
    swat_comm *c = swat_comm_create(1);
    swat_buckets_opts o = {.thread = thread, .poll_us = 20, .grad_wire = gw};
    swat_buckets *z = swat_buckets_create(c, b, nb, &o);
    for (size_t i = 0; i < n; i++) out[i] = (swat_real)sin(0.37 * (double)i + 1.3 * g_rank) / 3;
    for (int j = nb - 1; j >= 0; j--) swat_buckets_reduce_start(z, j, out);
    for (int j = 0; j < nb; j++) swat_buckets_wait(z, j);
    for (int j = 0; j < nb; j++) swat_buckets_gather_start(z, j, out, SWAT_WIRE_REAL);
    for (int j = 0; j < nb; j++) swat_buckets_wait(z, j);
    swat_buckets_free(z);
    swat_comm_free(c);
}

static void test_buckets_bits(void **state)
{
    (void)state;
    const size_t n = 6007;
    swat_real *a = swat_malloc(sizeof(swat_real) * n), *b = swat_malloc(sizeof(swat_real) * n);
    int pow2 = (g_world & (g_world - 1)) == 0;
    reduce_full(1, 0, SWAT_WIRE_REAL, a, n);
    for (int kind = 0; kind < 3; kind++)
        for (int thread = 0; thread < 1 + swat_comm_thread_multiple(); thread++) {
            reduce_full(kind, thread, SWAT_WIRE_REAL, b, n);
            if (pow2 || kind == 1)
                CHECK(memcmp(a, b, sizeof(swat_real) * n) == 0,
                      "plan %d thread %d: sums differ in bits from plan 1", kind, thread);
        }
    reduce_full(1, 0, SWAT_WIRE_BF16, b, n);
    int rounds = 1;
    while ((1 << rounds) < g_world) rounds++;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        double mag = 0;
        for (int r = 0; r < g_world; r++) mag += fabs(sin(0.37 * (double)i + 1.3 * r) / 3);
        bad += fabs((double)b[i] - (double)a[i]) > ldexp(mag, -8) * (rounds + 1);
    }
    CHECK(bad == 0, "bf16 gradient wire: %zu sum(s) beyond %d bf16 roundings", bad, rounds + 1);
    swat_free(a);
    swat_free(b);
    verdict();
}

/* Every rank sends every rank (itself too) one or two pieces whose sizes
 * depend on both ranks; receivers list them per sender in the same order. */
static void test_exchange(void **state)
{
    (void)state;
    swat_comm *c = swat_comm_create(1);
    enum { MAXP = 2 * 64 };
    swat_piece send[MAXP], recv[MAXP];
    int ns = 0, nr = 0;
    size_t at = 0;
    double src[4096], dst[4096];
    for (int q = 0; q < g_world; q++)
        for (int k = 0; k < 1 + (q + g_rank) % 2; k++) {
            size_t len = (size_t)(3 * g_rank + q + k + 1);
            send[ns++] = (swat_piece){q, at, len};
            for (size_t i = 0; i < len; i++) src[at + i] = val(g_rank, q * 2 + k, i);
            at += len;
        }
    at = 0;
    for (int r = 0; r < g_world; r++)
        for (int k = 0; k < 1 + (r + g_rank) % 2; k++) {
            size_t len = (size_t)(3 * r + g_rank + k + 1);
            recv[nr++] = (swat_piece){r, at, len};
            at += len;
        }
    for (size_t i = 0; i < at; i++) dst[i] = -1;
    swat_comm_exchange(c, src, send, ns, dst, recv, nr, sizeof(double));
    size_t bad = 0;
    for (int i = 0; i < nr; i++)
        for (size_t e = 0; e < recv[i].n; e++) {
            int r = recv[i].peer, k = i > 0 && recv[i - 1].peer == r;
            bad += dst[recv[i].off + e] != val(r, g_rank * 2 + k, e);
        }
    CHECK(bad == 0, "exchange: %zu wrong element(s)", bad);
    swat_comm_free(c);
    verdict();
}

int main(int argc, char **argv)
{
    g_world = swat_comm_init(&argc, &argv);
    g_rank = swat_comm_world_rank();
    if (g_world > 64) {
        if (g_rank == 0) fprintf(stderr, "test_comm: written for at most 64 ranks\n");
        swat_comm_finalize();
        return 1;
    }
    if (g_rank != 0) {
        /* cmocka's TAP output goes to stdout only, which is dropped here;
         * CHECK() still reports this rank's failures on stderr. */
        cmocka_set_message_output(CM_OUTPUT_TAP);
        if (!freopen("/dev/null", "w", stdout)) perror("freopen");
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_world),
        cmocka_unit_test(test_groups),
        cmocka_unit_test(test_shift),
        cmocka_unit_test(test_shift_concurrent),
        cmocka_unit_test(test_allreduce),
        cmocka_unit_test(test_reduce_scatter_allgather),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_any_max),
        cmocka_unit_test(test_bcast),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_agree),
        cmocka_unit_test(test_allreduce_ordered),
        cmocka_unit_test(test_node),
        cmocka_unit_test(test_buckets),
        cmocka_unit_test(test_buckets_bits),
        cmocka_unit_test(test_exchange),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    int total = 0;
    MPI_Allreduce(&failed, &total, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (g_rank == 0 && total) fprintf(stderr, "test_comm: %d test(s) failed\n", total);
    swat_comm_finalize();
    return total ? 1 : 0;
}
