/* SPDX-License-Identifier: MIT */
/* swat_comm_model.c: the communication of ONE swat training update, replayed
 * under SimGrid SMPI with the compute modelled as delays.
 *
 *   smpicc -O2 -o swat_comm_model swat_comm_model.c
 *   smpirun -np P -platform fattree.xml -hostfile hosts-P.txt \
 *       --cfg=smpi/simulate-computation:no --cfg=smpi/shared-malloc:local \
 *       ./swat_comm_model --sp 64 --d 1024 --L 24 --w 256 --V 32000 --Tc 1024
 *
 * What it reproduces (src/model.c, src/train.c, src/comm.c):
 *   for each micro-batch (accum of them, mb sequences each):
 *     forward, layer l = 0 … L-1:
 *       QKV projection                                   (compute)
 *       halo shift +1: Isend the last w-1 rows of k|v (mb·(w-1)·2d floats) to
 *       the next sp-rank, Irecv the previous one's          (nonblocking)
 *       attention of the rows that need no halo            (compute, overlapped)
 *       wait; attention of the first w-1 rows               (compute)
 *       o-projection + MLP                                  (compute)
 *     classifier forward + backward                         (compute)
 *     backward, layer l = L-1 … 0:
 *       MLP + o-projection backward                         (compute)
 *       attention backward of the rows that reach into the halo (compute)
 *       halo shift -1: the halo's dK|dV back to the previous sp-rank
 *       attention backward of the other rows                (compute, overlapped)
 *       wait; QKV backward                                  (compute)
 *   reduce-scatter of the flat gradient buffer over the world (ZeRO-1)
 *   all-reduce of 2 doubles (loss sum, squared gradient norm)
 *   all-gather of the parameters over the world
 *
 * Compute model: every compute phase is smpi_execute_flops(F) (the call behind
 * SMPI_SAMPLE_FLOPS), F from the model-FLOP count of docs/training.md: per token
 * 6·N + 12·L·d·w, split over the phases as forward 2·N + 4·L·d·w and backward
 * 4·N + 8·L·d·w; per layer QKV 2·3d², o-proj + MLP 2·(d² + 3fd), attention
 * 4·w·d per query row (forward; ×2 backward), classifier 2·V·d (×3 fwd+bwd).
 * The rate is the speed of the simulated host (platform XML), which run_scaling.sh
 * sets to the model-FLOP rate measured by swat-bench on this machine. Run with
 * --cfg=smpi/simulate-computation:no so that only these delays count.
 *
 * Payloads: every message buffer comes from SMPI_SHARED_MALLOC (one block shared
 * by all simulated ranks, contents meaningless), so 1024 ranks × 1.4 GB of
 * gradients never exist; the simulated time depends on the byte counts only.
 * Because the data are meaningless the big collectives are written out as
 * point-to-point algorithms (--coll ring: ring reduce-scatter and ring
 * all-gather; --coll rhd: recursive halving / doubling, power-of-two worlds);
 * the local summation of the reduce-scatter is modelled as a memory-bound
 * delay (--reduce-gbs). --coll mpi calls MPI_Reduce_scatter_block and
 * MPI_Allgather instead, so that SMPI's own algorithm selector is used; SMPI
 * then allocates real per-rank temporaries, so keep N·P small with it.
 *
 * --attn ring replaces the halo by ring attention (Liu et al. 2023): every
 * layer passes the whole K|V chunk of every rank around the sequence ring,
 * sp-1 steps of mb·Tc·2d floats forward and sp-1 steps of mb·Tc·(ring_bwd)·d
 * floats backward (4: K, V and the dK, dV accumulators, as the reference
 * implementation does; 2: K and V only), the first step overlapped with the
 * layer's attention compute. Only for the traffic comparison.
 *
 * Output: a readable summary on rank 0 and, with --csv, one CSV row (header
 * with --csv-header). All times are simulated seconds. */
#include <mpi.h>
#include <simgrid/host.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    long d, L, w, V, f, Tc, mb, accum, sp;
    int tied, updates, csv, csv_header;
    double reduce_gbs; /* local memory bandwidth of the reduce-scatter's sums, GB/s; 0: free */
    double ring_bwd;   /* ring attention backward floats per token per step, in units of d */
    char coll[8], attn[8], label[64];
} opts;

static void usage_die(int rank, const char *msg, const char *arg)
{
    if (rank == 0) fprintf(stderr, "swat_comm_model: %s%s%s\n", msg, arg ? " " : "", arg ? arg : "");
    MPI_Abort(MPI_COMM_WORLD, 2);
    exit(2);
}

static void parse(int argc, char **argv, opts *o, int rank)
{
    *o = (opts){.d = 1024, .L = 24, .w = 256, .V = 32000, .f = 0, .Tc = 1024, .mb = 1,
                .accum = 1, .sp = 1, .tied = 1, .updates = 1, .reduce_gbs = 10.0, .ring_bwd = 4.0};
    strcpy(o->coll, "ring");
    strcpy(o->attn, "halo");
    strcpy(o->label, "-");
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i];
        if (!strcmp(k, "--csv")) { o->csv = 1; continue; }
        if (!strcmp(k, "--csv-header")) { o->csv_header = 1; continue; }
        if (i + 1 >= argc) usage_die(rank, "missing value after", k);
        const char *v = argv[++i];
        char *end = NULL;
        long n = strtol(v, &end, 10);
        int is_int = end && *end == '\0';
#define INT_OPT(name, field, min)                                                              \
    if (!strcmp(k, name)) {                                                                     \
        if (!is_int || n < (min)) usage_die(rank, "bad value for " name ":", v);               \
        o->field = n;                                                                           \
        continue;                                                                               \
    }
        INT_OPT("--d", d, 1) INT_OPT("--L", L, 1) INT_OPT("--w", w, 1) INT_OPT("--V", V, 1)
        INT_OPT("--f", f, 0) INT_OPT("--Tc", Tc, 1) INT_OPT("--mb", mb, 1)
        INT_OPT("--accum", accum, 1) INT_OPT("--sp", sp, 1) INT_OPT("--tied", tied, 0)
        INT_OPT("--updates", updates, 1)
#undef INT_OPT
        if (!strcmp(k, "--reduce-gbs")) { o->reduce_gbs = atof(v); continue; }
        if (!strcmp(k, "--ring-bwd")) { o->ring_bwd = atof(v); continue; }
        if (!strcmp(k, "--coll") && (!strcmp(v, "ring") || !strcmp(v, "rhd") || !strcmp(v, "mpi"))) {
            strcpy(o->coll, v);
            continue;
        }
        if (!strcmp(k, "--attn") && (!strcmp(v, "halo") || !strcmp(v, "ring"))) {
            strcpy(o->attn, v);
            continue;
        }
        if (!strcmp(k, "--label")) { snprintf(o->label, sizeof o->label, "%s", v); continue; }
        usage_die(rank, "unknown or bad option", k);
    }
    if (o->f == 0) { /* the config's default (docs/config.md): 256·ceil(floor(8d/3)/256) */
        long f0 = 8 * o->d / 3;
        o->f = 256 * ((f0 + 255) / 256);
    }
}

/* ---- the simulated rank's clocks and counters ---------------------------- */

static double g_speed;      /* flop/s of this simulated host */
static double g_flops;      /* model FLOPs executed (the ideal, comm-free work) */
static double g_bytes_halo, g_bytes_attn, g_bytes_coll;
static double g_t_halo, g_t_attn, g_t_rs, g_t_ar, g_t_ag;

static void compute(double flops)
{
    if (flops <= 0) return;
    g_flops += flops;
    smpi_execute_flops(flops); /* what SMPI_SAMPLE_FLOPS(flops) {} expands to */
}

/* A delay that is not model work (the reduce-scatter's local sums). */
static void overhead_seconds(double s)
{
    if (s > 0) smpi_execute_flops(s * g_speed);
}

/* ---- buffers ---------------------------------------------------------------
 * One shared block per call site (smpi/shared-malloc:local), so each buffer
 * gets its own line. */
static float *g_sbuf, *g_rbuf;
static size_t g_buf_elems;

static void buffers_init(size_t elems)
{
    g_buf_elems = elems;
    g_sbuf = SMPI_SHARED_MALLOC(elems * sizeof(float));
    g_rbuf = SMPI_SHARED_MALLOC(elems * sizeof(float));
}

static int count_of(size_t n)
{
    if (n > (size_t)INT32_MAX || n > g_buf_elems) {
        fprintf(stderr, "swat_comm_model: message of %zu floats exceeds the buffer or int range\n", n);
        MPI_Abort(MPI_COMM_WORLD, 3);
    }
    return (int)n;
}

/* ---- the sequence-parallel pieces ------------------------------------------ */

/* Neighbour shift inside the sequence group, as swat_comm_shift_start/wait:
 * send to sp-rank me+dir, receive from me-dir, ends skip the missing side. */
typedef struct { MPI_Request r[2]; int n; } shift_t;

static void shift_start(shift_t *s, MPI_Comm spc, int me, int sp, int dir, size_t count)
{
    int dst = me + dir, src = me - dir, c = count_of(count);
    s->n = 0;
    if (src >= 0 && src < sp) MPI_Irecv(g_rbuf, c, MPI_FLOAT, src, 0, spc, &s->r[s->n++]);
    if (dst >= 0 && dst < sp) {
        MPI_Isend(g_sbuf, c, MPI_FLOAT, dst, 0, spc, &s->r[s->n++]);
        g_bytes_halo += (double)count * sizeof(float);
    }
}

static void shift_wait(shift_t *s)
{
    double t0 = MPI_Wtime();
    MPI_Waitall(s->n, s->r, MPI_STATUSES_IGNORE);
    g_t_halo += MPI_Wtime() - t0;
}

/* Ring attention's pass of one block around the whole sequence ring, sp-1
 * steps; `overlap_flops` of attention run during the first step. */
static void ring_pass(MPI_Comm spc, int me, int sp, size_t count, double overlap_flops)
{
    int right = (me + 1) % sp, left = (me - 1 + sp) % sp, c = count_of(count);
    for (int step = 0; step < sp - 1; step++) {
        MPI_Request r[2];
        MPI_Irecv(g_rbuf, c, MPI_FLOAT, left, 1, spc, &r[0]);
        MPI_Isend(g_sbuf, c, MPI_FLOAT, right, 1, spc, &r[1]);
        g_bytes_attn += (double)count * sizeof(float);
        if (step == 0) compute(overlap_flops);
        double t0 = MPI_Wtime();
        MPI_Waitall(2, r, MPI_STATUSES_IGNORE);
        g_t_attn += MPI_Wtime() - t0;
    }
    if (sp == 1) compute(overlap_flops);
}

/* ---- the ZeRO-1 collectives ------------------------------------------------ */

static void reduce_delay(size_t elems, const opts *o)
{
    /* sum of two float arrays into one: 12 bytes of memory traffic per element */
    if (o->reduce_gbs > 0) overhead_seconds(12.0 * (double)elems / (o->reduce_gbs * 1e9));
}

static void reduce_scatter(const opts *o, int rank, int P, size_t shard, float *grads, float *out)
{
    double t0 = MPI_Wtime();
    if (!strcmp(o->coll, "mpi")) {
        MPI_Reduce_scatter_block(grads, out, count_of(shard), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        g_bytes_coll += (double)(P - 1) * shard * sizeof(float); /* nominal: the ring's */
    } else if (!strcmp(o->coll, "ring")) {
        int right = (rank + 1) % P, left = (rank - 1 + P) % P, c = count_of(shard);
        for (int k = 0; k < P - 1; k++) {
            MPI_Sendrecv(g_sbuf, c, MPI_FLOAT, right, 2, g_rbuf, c, MPI_FLOAT, left, 2,
                         MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            g_bytes_coll += (double)shard * sizeof(float);
            reduce_delay(shard, o); /* the block sent next is the one just summed */
        }
    } else { /* recursive halving */
        size_t len = shard * (size_t)P;
        for (int mask = P >> 1; mask >= 1; mask >>= 1) {
            len /= 2;
            int c = count_of(len);
            MPI_Sendrecv(g_sbuf, c, MPI_FLOAT, rank ^ mask, 3, g_rbuf, c, MPI_FLOAT, rank ^ mask, 3,
                         MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            g_bytes_coll += (double)len * sizeof(float);
            reduce_delay(len, o);
        }
    }
    g_t_rs += MPI_Wtime() - t0;
}

static void allgather(const opts *o, int rank, int P, size_t shard, float *params)
{
    double t0 = MPI_Wtime();
    if (!strcmp(o->coll, "mpi")) {
        MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, params, count_of(shard), MPI_FLOAT,
                      MPI_COMM_WORLD);
        g_bytes_coll += (double)(P - 1) * shard * sizeof(float);
    } else if (!strcmp(o->coll, "ring")) {
        int right = (rank + 1) % P, left = (rank - 1 + P) % P, c = count_of(shard);
        for (int k = 0; k < P - 1; k++) {
            MPI_Sendrecv(g_sbuf, c, MPI_FLOAT, right, 4, g_rbuf, c, MPI_FLOAT, left, 4,
                         MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            g_bytes_coll += (double)shard * sizeof(float);
        }
    } else { /* recursive doubling */
        size_t len = shard;
        for (int mask = 1; mask < P; mask <<= 1) {
            int c = count_of(len);
            MPI_Sendrecv(g_sbuf, c, MPI_FLOAT, rank ^ mask, 5, g_rbuf, c, MPI_FLOAT, rank ^ mask, 5,
                         MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            g_bytes_coll += (double)len * sizeof(float);
            len *= 2;
        }
    }
    g_t_ag += MPI_Wtime() - t0;
}

/* ---- one update ------------------------------------------------------------ */

typedef struct {
    double N;        /* parameters in matrix products (docs/training.md) */
    double qkv, post, cls; /* FLOPs per token: QKV fwd, o-proj+MLP fwd, classifier fwd */
    double attn_row; /* forward attention FLOPs per query row per layer */
} flops_t;

static void one_update(const opts *o, const flops_t *F, MPI_Comm spc, int me, int sp, int rank,
                       int P, size_t shard, float *grads, float *params)
{
    const double n = (double)o->mb * (double)o->Tc; /* tokens per micro-batch on this rank */
    const long nh = o->w - 1;
    const int halo = !strcmp(o->attn, "halo");
    /* model.c: nh_eff = w-1 when this rank has a left neighbour, else 0 */
    const double nh_eff = (sp > 1 && me > 0) ? (double)nh : 0.0;
    const double rows_free = (double)o->mb * ((double)o->Tc - nh_eff), rows_halo = (double)o->mb * nh_eff;
    const size_t halo_count = (size_t)o->mb * (size_t)nh * 2 * (size_t)o->d;
    const size_t ring_fwd = (size_t)o->mb * (size_t)o->Tc * 2 * (size_t)o->d;
    const size_t ring_bwd = (size_t)llround((double)o->mb * (double)o->Tc * o->ring_bwd * (double)o->d);

    for (long a = 0; a < o->accum; a++) {
        for (long l = 0; l < o->L; l++) { /* forward */
            compute(n * F->qkv);
            if (sp > 1 && halo && nh > 0) {
                shift_t s;
                shift_start(&s, spc, me, sp, +1, halo_count);
                compute(rows_free * F->attn_row);
                shift_wait(&s);
                compute(rows_halo * F->attn_row);
            } else if (sp > 1 && !halo) {
                ring_pass(spc, me, sp, ring_fwd, n * F->attn_row);
            } else {
                compute(n * F->attn_row);
            }
            compute(n * F->post);
        }
        compute(3.0 * n * F->cls); /* classifier forward and backward */
        for (long l = o->L - 1; l >= 0; l--) { /* backward */
            compute(2.0 * n * F->post);
            if (sp > 1 && halo && nh > 0) {
                compute(2.0 * rows_halo * F->attn_row);
                shift_t s;
                shift_start(&s, spc, me, sp, -1, halo_count);
                compute(2.0 * rows_free * F->attn_row);
                shift_wait(&s);
            } else if (sp > 1 && !halo) {
                ring_pass(spc, me, sp, ring_bwd, 2.0 * n * F->attn_row);
            } else {
                compute(2.0 * n * F->attn_row);
            }
            compute(2.0 * n * F->qkv);
        }
    }
    if (P > 1) reduce_scatter(o, rank, P, shard, grads, params);
    double red[2] = {1.0, 1.0};
    double t0 = MPI_Wtime();
    MPI_Allreduce(MPI_IN_PLACE, red, 2, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    g_t_ar += MPI_Wtime() - t0;
    if (P > 1) allgather(o, rank, P, shard, params);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, P;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &P);
    opts o;
    parse(argc, argv, &o, rank);
    if (P % o.sp != 0) usage_die(rank, "world size not divisible by --sp", NULL);
    if (o.sp > 1 && (o.Tc % o.w != 0 || o.Tc < o.w))
        usage_die(rank, "--Tc must be a multiple of --w and at least --w", NULL);
    if (!strcmp(o.coll, "rhd") && (P & (P - 1)) != 0)
        usage_die(rank, "--coll rhd needs a power-of-two world", NULL);
    int sp = (int)o.sp, dp = P / sp;

    /* communicators exactly as comm.c: sequence groups of sp consecutive ranks */
    MPI_Comm spc;
    MPI_Comm_split(MPI_COMM_WORLD, rank / sp, rank, &spc);
    int me;
    MPI_Comm_rank(spc, &me);

    g_speed = sg_host_get_speed(sg_host_self());

    /* parameter counts and FLOPs (src/model.c) */
    double d = (double)o.d, L = (double)o.L, f = (double)o.f, V = (double)o.V, w = (double)o.w;
    flops_t F;
    /* N (docs/training.md): matrices in a product; the output layer counts once, tied or not */
    F.N = L * (4 * d * d + 3 * f * d) + V * d;
    F.qkv = 2 * 3 * d * d;
    F.post = 2 * (d * d + 3 * f * d);
    F.cls = 2 * V * d;
    F.attn_row = 4 * w * d;
    double flops_per_token = 6 * F.N + 12 * L * d * w;
    /* the flat gradient buffer: + RMSNorm weights, + the embedding when untied */
    double nbuf = F.N + 2 * d * L + d + (o.tied ? 0 : V * d);
    size_t nbuf_i = (size_t)nbuf, shard = (nbuf_i + (size_t)P - 1) / (size_t)P;

    /* buffers: the largest single message */
    size_t maxmsg = (size_t)o.mb * (size_t)(o.w > 1 ? o.w - 1 : 1) * 2 * (size_t)o.d;
    if (!strcmp(o.attn, "ring")) {
        size_t r = (size_t)ceil((double)o.mb * (double)o.Tc * fmax(2.0, o.ring_bwd) * d);
        if (r > maxmsg) maxmsg = r;
    }
    if (!strcmp(o.coll, "rhd")) { if (shard * (size_t)P / 2 > maxmsg) maxmsg = shard * (size_t)P / 2; }
    else if (shard > maxmsg) maxmsg = shard;
    buffers_init(maxmsg);
    float *grads = NULL, *params = NULL;
    if (!strcmp(o.coll, "mpi")) {
        grads = SMPI_SHARED_MALLOC(shard * (size_t)P * sizeof(float));
        params = SMPI_SHARED_MALLOC(shard * (size_t)P * sizeof(float));
    }

    double t_best = 1e300, t_sum = 0;
    double agg[9] = {0}; /* per-rank sums of the last update, reset each update */
    for (int u = 0; u < o.updates; u++) {
        g_flops = g_bytes_halo = g_bytes_attn = g_bytes_coll = 0;
        g_t_halo = g_t_attn = g_t_rs = g_t_ar = g_t_ag = 0;
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        one_update(&o, &F, spc, me, sp, rank, P, shard, grads, params);
        double t = MPI_Wtime() - t0, tmax;
        MPI_Allreduce(&t, &tmax, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        if (tmax < t_best) t_best = tmax;
        t_sum += tmax;
        double mine[9] = {g_flops, g_t_halo, g_t_attn, g_t_rs, g_t_ar, g_t_ag,
                          g_bytes_halo, g_bytes_attn, g_bytes_coll};
        MPI_Reduce(mine, agg, 9, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    }
    double mx[3] = {g_bytes_halo, g_bytes_attn, g_flops}, mxr[3];
    MPI_Reduce(mx, mxr, 3, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);

    if (rank == 0) {
        double t_upd = t_sum / o.updates;
        double t_comp = mxr[2] / g_speed; /* the busiest rank's model work */
        double eff = t_comp / t_upd;
        double m_halo = agg[1] / P, m_attn = agg[2] / P, m_rs = agg[3] / P, m_ar = agg[4] / P,
               m_ag = agg[5] / P;
        double b_halo = agg[6] / P, b_attn = agg[7] / P, b_coll = agg[8] / P;
        double tokens = (double)o.mb * o.accum * o.Tc; /* per rank per update */
        if (o.csv_header)
            printf("label,world,sp,dp,d,L,w,V,f,Tc,mb,accum,coll,attn,N,speed_gflops,"
                   "flop_per_token,t_update_s,t_compute_s,efficiency,comm_share,"
                   "halo_wait_s,attn_wait_s,rs_s,ar_s,ag_s,halo_MB_mean,halo_MB_max,"
                   "attn_MB_mean,coll_MB,total_MB\n");
        if (o.csv) {
            printf("%s,%d,%d,%d,%ld,%ld,%ld,%ld,%ld,%ld,%ld,%ld,%s,%s,%.0f,%.3f,%.6e,%.6f,%.6f,"
                   "%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.4f,%.4f,%.4f,%.4f,%.4f\n",
                   o.label, P, sp, dp, o.d, o.L, o.w, o.V, o.f, o.Tc, o.mb, o.accum, o.coll, o.attn,
                   F.N, g_speed / 1e9, flops_per_token, t_upd, t_comp, eff, 1 - eff, m_halo, m_attn,
                   m_rs, m_ar, m_ag, b_halo / 1e6, mxr[0] / 1e6, b_attn / 1e6, b_coll / 1e6,
                   (b_halo + b_attn + b_coll) / 1e6);
        } else {
            printf("layout      %d ranks = sp %d x dp %d; %s attention exchange, %s collectives\n", P,
                   sp, dp, o.attn, o.coll);
            printf("model       d %ld, L %ld, w %ld, V %ld, f %ld; N %.0f (matrices), gradient buffer %zu "
                   "(shard %zu per rank)\n", o.d, o.L, o.w, o.V, o.f, F.N, nbuf_i, shard);
            printf("work        Tc %ld tokens x mb %ld x accum %ld per rank; %.3e FLOP/token; host %.2f GFLOP/s\n",
                   o.Tc, o.mb, o.accum, flops_per_token, g_speed / 1e9);
            printf("update      %.6f s simulated (max over ranks); compute %.6f s (%.0f tokens/rank)\n",
                   t_upd, t_comp, tokens);
            printf("efficiency  %.4f%% compute, %.4f%% communication (exposed)\n", 100 * eff,
                   100 * (1 - eff));
            printf("waits       halo %.6f s, ring-attn %.6f s, reduce-scatter %.6f s, allreduce %.6f s, "
                   "all-gather %.6f s (means over ranks)\n", m_halo, m_attn, m_rs, m_ar, m_ag);
            printf("bytes/rank  halo %.3f MB (max %.3f), ring-attn %.3f MB, collectives %.3f MB, total %.3f MB\n",
                   b_halo / 1e6, mxr[0] / 1e6, b_attn / 1e6, b_coll / 1e6,
                   (b_halo + b_attn + b_coll) / 1e6);
        }
        fflush(stdout);
    }
    if (grads) { SMPI_SHARED_FREE(grads); SMPI_SHARED_FREE(params); }
    SMPI_SHARED_FREE(g_sbuf);
    SMPI_SHARED_FREE(g_rbuf);
    MPI_Comm_free(&spc);
    MPI_Finalize();
    return 0;
}
