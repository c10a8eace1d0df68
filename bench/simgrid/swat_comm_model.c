/* SPDX-License-Identifier: MIT */
/* swat_comm_model.c: the communication of swat training updates, replayed
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
 * and then the ZeRO-1 collectives, in one of two forms:
 *
 *   --zero legacy (the unbucketed update, [parallel] bucket_mb = 0): after the
 *     passes, a reduce-scatter of the flat gradient buffer over the world, an
 *     all-reduce of 2 doubles (loss sum, squared norm), AdamW on the shard,
 *     an all-gather of the parameters;
 *   --zero bucketed (train.c's default): the flat buffer is cut into buckets
 *     by the plan of train.c (plan_buckets, ported below: runs of one wire
 *     inside a unit — embedding, layer, final norm —, small units merged up
 *     to --bucket-mb, big runs cut evenly); every rank owns one slice of each.
 *     In the last micro-batch's backward, a bucket's reduce-scatter (recursive
 *     halving, comm.c's schedule, at most 4 in flight) starts when its units
 *     are done; after the passes the rank waits for the last ones (the tail:
 *     embedding and layer 0), all-reduces the norm, and runs AdamW on its
 *     slices bucket by bucket in forward order, starting each bucket's
 *     all-gather (recursive doubling) as soon as its slice is updated; the
 *     next update's forward waits for a unit's buckets just before the unit. --overlap 0 starts them after the passes instead and waits
 *     for the gathers at once. Progress, as in comm.c: --progress poll tests
 *     the transfers between compute phases (the rank does the sums itself);
 *     --progress thread gives every rank a second simulated process on its
 *     host (an agent, SMPI rank 2r+1, on a second core) that drives the
 *     collectives the moment a message arrives, as the progress thread
 *     does, and tells its rank when a bucket is done.
 *     --pwire 2: the matrices' all-gather in bf16 (the embedding and the
 *     RMSNorm weights stay 4 bytes; --ewire 2: the embedding too, train.c's
 *     embed_wire); --gwire 2: the gradients in bf16.
 *
 * Time and steady state: legacy, the last of --updates; bucketed, the end
 * of a previous update (AdamW, all-gathers started) runs first and one
 * update is timed from its start to the start of the next, so an all-gather
 * that spills into the next forward is charged where it costs.
 *
 * Compute model: every compute phase is smpi_execute_flops(F) (the call behind
 * SMPI_SAMPLE_FLOPS), F from the model-FLOP count of docs/training.md: per token
 * 6·N + 12·L·d·w, split over the phases as forward 2·N + 4·L·d·w and backward
 * 4·N + 8·L·d·w; per layer QKV 2·3d², o-proj + MLP 2·(d² + 3fd), attention
 * 4·w·d per query row (forward; ×2 backward), classifier 2·V·d (×3 fwd+bwd).
 * The rate is the speed of the simulated host (platform XML). Memory-bound
 * work that is not model FLOPs is charged as delays: the sums of a
 * reduce-scatter, (8 + wire bytes) per received element, on the agent at
 * --reduce-gbs (the progress thread's bandwidth) or, polling, on the rank at
 * --adam-gbs (the rank's threads), and AdamW, 28 bytes per owned element at
 * --adam-gbs. The legacy collectives charge 12 bytes per element at
 * --reduce-gbs. Run with --cfg=smpi/simulate-computation:no so
 * that only these delays count.
 *
 * Payloads: every message buffer comes from SMPI_SHARED_MALLOC (one block shared
 * by all simulated ranks, contents meaningless), so 1024 ranks × 1.4 GB of
 * gradients never exist; the simulated time depends on the byte counts only.
 * Because the data are meaningless the legacy collectives are written out as
 * point-to-point algorithms (--coll ring: ring reduce-scatter and ring
 * all-gather; --coll rhd: recursive halving / doubling, power-of-two worlds);
 * --coll mpi calls MPI_Reduce_scatter_block and MPI_Allgather instead, so
 * that SMPI's own algorithm selector is used; SMPI then allocates real
 * per-rank temporaries, so keep N·P small with it.
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
    double reduce_gbs; /* memory bandwidth of a reduce-scatter's sums, GB/s; 0: free */
    double adam_gbs;   /* memory bandwidth of AdamW on the owned elements, GB/s; 0: free */
    double link_gbs;   /* a link's usable bandwidth, for the "collectives at link bandwidth" time */
    double ring_bwd;   /* ring attention backward floats per token per step, in units of d */
    char coll[8], attn[8], label[64];
    int zero;          /* 0 legacy, 1 bucketed */
    double bucket_mb;
    int overlap, thread, pwire, gwire;
} opts;

static int SLOTS = 4;  /* transfers in flight (--slots): comm.c's BUCKET_SLOTS */
static int GSLOTS = 1; /* all-gathers among them (--gather-slots): comm.c's GATHER_SLOTS */
static int TAIL_ALONE = 1; /* --tail-alone: units 0 and 1 bucketed alone (train.c's plan) */
static double POLL_S = 50e-6; /* --poll-us: the progress thread's sleep between tests */
static int EWIRE = 4;  /* --ewire 2: the embedding's all-gather in bf16 too (embed_wire) */

static void usage_die(int rank, const char *msg, const char *arg)
{
    if (rank == 0) fprintf(stderr, "swat_comm_model: %s%s%s\n", msg, arg ? " " : "", arg ? arg : "");
    MPI_Abort(MPI_COMM_WORLD, 2);
    exit(2);
}

static void parse(int argc, char **argv, opts *o, int rank)
{
    *o = (opts){.d = 1024, .L = 24, .w = 256, .V = 32000, .f = 0, .Tc = 1024, .mb = 1,
                .accum = 1, .sp = 1, .tied = 1, .updates = 1, .reduce_gbs = 10.0, .ring_bwd = 4.0,
                .link_gbs = 12.125, .bucket_mb = 25, .overlap = 1, .pwire = 4, .gwire = 4};
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
        INT_OPT("--updates", updates, 1) INT_OPT("--overlap", overlap, 0)
        INT_OPT("--pwire", pwire, 2) INT_OPT("--gwire", gwire, 2)
#undef INT_OPT
        if (!strcmp(k, "--reduce-gbs")) { o->reduce_gbs = atof(v); continue; }
        if (!strcmp(k, "--adam-gbs")) { o->adam_gbs = atof(v); continue; }
        if (!strcmp(k, "--link-gbs")) { o->link_gbs = atof(v); continue; }
        if (!strcmp(k, "--bucket-mb")) { o->bucket_mb = atof(v); continue; }
        if (!strcmp(k, "--slots")) { SLOTS = atoi(v) > 0 ? atoi(v) : 1; continue; }
        if (!strcmp(k, "--gather-slots")) { GSLOTS = atoi(v) > 0 ? atoi(v) : 1; continue; }
        if (!strcmp(k, "--tail-alone")) { TAIL_ALONE = atoi(v) != 0; continue; }
        if (!strcmp(k, "--poll-us")) { POLL_S = atof(v) * 1e-6; continue; }
        if (!strcmp(k, "--ewire")) { EWIRE = atoi(v) == 2 ? 2 : 4; continue; }
        if (!strcmp(k, "--ring-bwd")) { o->ring_bwd = atof(v); continue; }
        if (!strcmp(k, "--coll") && (!strcmp(v, "ring") || !strcmp(v, "rhd") || !strcmp(v, "mpi"))) {
            strcpy(o->coll, v);
            continue;
        }
        if (!strcmp(k, "--attn") && (!strcmp(v, "halo") || !strcmp(v, "ring"))) {
            strcpy(o->attn, v);
            continue;
        }
        if (!strcmp(k, "--zero") && (!strcmp(v, "legacy") || !strcmp(v, "bucketed"))) {
            o->zero = !strcmp(v, "bucketed");
            continue;
        }
        if (!strcmp(k, "--progress") && (!strcmp(v, "poll") || !strcmp(v, "thread"))) {
            o->thread = !strcmp(v, "thread");
            continue;
        }
        if (!strcmp(k, "--label")) { snprintf(o->label, sizeof o->label, "%s", v); continue; }
        usage_die(rank, "unknown or bad option", k);
    }
    if (o->f == 0) { /* the config's default (docs/config.md): 256·ceil(floor(8d/3)/256) */
        long f0 = 8 * o->d / 3;
        o->f = 256 * ((f0 + 255) / 256);
    }
    if ((o->pwire != 2 && o->pwire != 4) || (o->gwire != 2 && o->gwire != 4))
        usage_die(rank, "--pwire and --gwire take 2 or 4 (bytes)", NULL);
    if (!o->zero) o->thread = 0;
}

/* ---- the simulated rank's clocks and counters ---------------------------- */

static MPI_Comm g_cw;       /* the compute ranks (the world, or every other rank with agents) */
static double g_speed;      /* flop/s of this simulated host */
static double g_flops;      /* model FLOPs executed (the ideal, comm-free work) */
static double g_bytes_halo, g_bytes_attn, g_bytes_coll;
static double g_t_halo, g_t_attn, g_t_rs, g_t_ar, g_t_ag, g_t_adam, g_t_poll;

static void compute(double flops)
{
    if (flops <= 0) return;
    g_flops += flops;
    smpi_execute_flops(flops); /* what SMPI_SAMPLE_FLOPS(flops) {} expands to */
}

/* A delay that is not model work (sums, AdamW). */
static void overhead_seconds(double s)
{
    if (s > 0) smpi_execute_flops(s * g_speed);
}

static double mem_seconds(double bytes, double gbs)
{
    return gbs > 0 ? bytes / (gbs * 1e9) : 0.0;
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

/* ---- the legacy ZeRO-1 collectives ------------------------------------------- */

static void reduce_delay(size_t elems, const opts *o)
{
    /* sum of two float arrays into one: 12 bytes of memory traffic per element */
    if (o->reduce_gbs > 0) overhead_seconds(12.0 * (double)elems / (o->reduce_gbs * 1e9));
}

static void reduce_scatter(const opts *o, int rank, int P, size_t shard, float *grads, float *out)
{
    double t0 = MPI_Wtime();
    if (!strcmp(o->coll, "mpi")) {
        MPI_Reduce_scatter_block(grads, out, count_of(shard), MPI_FLOAT, MPI_SUM, g_cw);
        g_bytes_coll += (double)(P - 1) * shard * sizeof(float); /* nominal: the ring's */
    } else if (!strcmp(o->coll, "ring")) {
        int right = (rank + 1) % P, left = (rank - 1 + P) % P, c = count_of(shard);
        for (int k = 0; k < P - 1; k++) {
            MPI_Sendrecv(g_sbuf, c, MPI_FLOAT, right, 2, g_rbuf, c, MPI_FLOAT, left, 2,
                         g_cw, MPI_STATUS_IGNORE);
            g_bytes_coll += (double)shard * sizeof(float);
            reduce_delay(shard, o); /* the block sent next is the one just summed */
        }
    } else { /* recursive halving */
        size_t len = shard * (size_t)P;
        for (int mask = P >> 1; mask >= 1; mask >>= 1) {
            len /= 2;
            int c = count_of(len);
            MPI_Sendrecv(g_sbuf, c, MPI_FLOAT, rank ^ mask, 3, g_rbuf, c, MPI_FLOAT, rank ^ mask, 3,
                         g_cw, MPI_STATUS_IGNORE);
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
                      g_cw);
        g_bytes_coll += (double)(P - 1) * shard * sizeof(float);
    } else if (!strcmp(o->coll, "ring")) {
        int right = (rank + 1) % P, left = (rank - 1 + P) % P, c = count_of(shard);
        for (int k = 0; k < P - 1; k++) {
            MPI_Sendrecv(g_sbuf, c, MPI_FLOAT, right, 4, g_rbuf, c, MPI_FLOAT, left, 4,
                         g_cw, MPI_STATUS_IGNORE);
            g_bytes_coll += (double)shard * sizeof(float);
        }
    } else { /* recursive doubling */
        size_t len = shard;
        for (int mask = 1; mask < P; mask <<= 1) {
            int c = count_of(len);
            MPI_Sendrecv(g_sbuf, c, MPI_FLOAT, rank ^ mask, 5, g_rbuf, c, MPI_FLOAT, rank ^ mask, 5,
                         g_cw, MPI_STATUS_IGNORE);
            g_bytes_coll += (double)len * sizeof(float);
            len *= 2;
        }
    }
    g_t_ag += MPI_Wtime() - t0;
}

/* ---- the bucket plan (src/train.c, plan_buckets) ------------------------------ */

typedef struct { size_t lo, hi; int wire; } bucket_t; /* wire: bytes per parameter */

typedef struct {
    int nb, units;
    bucket_t *b;
    int *unit_first, *unit_last; /* buckets touching each unit */
    size_t nparams, npad;
} plan_t;

typedef struct { size_t numel; int unit, matrix, emb; } tensor_t;

static int close_bucket(bucket_t cur, size_t target, bucket_t *out, int n)
{
    size_t len = cur.hi - cur.lo, parts = len > target + target / 2 ? (len + target - 1) / target : 1;
    for (size_t p = 0; p < parts; p++, n++)
        if (out) out[n] = (bucket_t){cur.lo + len * p / parts, cur.lo + len * (p + 1) / parts, cur.wire};
    return n;
}

static int plan_pass(const tensor_t *t, int nt, size_t target, int pwire, size_t npad, bucket_t *out)
{
    int n = 0, cur_unit = -1;
    size_t off = 0;
    bucket_t cur = {0, 0, 4};
    for (int i = 0; i < nt; i++) {
        int w = pwire == 2 && t[i].matrix && (!t[i].emb || EWIRE == 2) ? 2 : 4;
        int grow = cur_unit >= 0 && cur.wire == w && cur.hi == off &&
                   (cur_unit == t[i].unit || (cur.hi - cur.lo < target && (!TAIL_ALONE || t[i].unit > 2)));
        if (!grow) {
            if (cur_unit >= 0) n = close_bucket(cur, target, out, n);
            cur = (bucket_t){off, off, w};
        }
        off += t[i].numel;
        cur.hi = off;
        cur_unit = t[i].unit;
    }
    cur.hi = npad;
    return close_bucket(cur, target, out, n);
}

static void make_plan(plan_t *p, const opts *o, int P)
{
    size_t d = (size_t)o->d, f = (size_t)o->f, V = (size_t)o->V, L = (size_t)o->L;
    int nt = 0, cap = (int)(3 + 9 * L);
    tensor_t *t = malloc(sizeof *t * (size_t)cap);
    t[nt++] = (tensor_t){V * d, 0, 1, 1};
    for (size_t l = 0; l < L; l++) {
        int u = (int)l + 1;
        size_t sz[9] = {d, d * d, d * d, d * d, d * d, d, f * d, f * d, d * f};
        for (int k = 0; k < 9; k++) t[nt++] = (tensor_t){sz[k], u, k != 0 && k != 5, 0};
    }
    t[nt++] = (tensor_t){d, (int)L + 1, 0, 0};
    if (!o->tied) t[nt++] = (tensor_t){V * d, (int)L + 1, 1, 0};
    p->nparams = 0;
    for (int i = 0; i < nt; i++) p->nparams += t[i].numel;
    p->npad = (p->nparams + (size_t)P - 1) / (size_t)P * (size_t)P;
    size_t target = (size_t)(o->bucket_mb * 262144.0);
    if (target < p->npad / 4000 + 1) target = p->npad / 4000 + 1;
    p->nb = plan_pass(t, nt, target, o->pwire, p->npad, NULL);
    p->b = malloc(sizeof *p->b * (size_t)p->nb);
    plan_pass(t, nt, target, o->pwire, p->npad, p->b);
    p->units = (int)L + 2;
    p->unit_first = malloc(sizeof(int) * (size_t)p->units);
    p->unit_last = malloc(sizeof(int) * (size_t)p->units);
    size_t off = 0;
    for (int u = 0, i = 0; u < p->units; u++) {
        size_t lo = off;
        while (i < nt && t[i].unit == u) off += t[i++].numel;
        int first = 0, last = p->nb - 1;
        while (p->b[first].hi <= lo) first++;
        while (p->b[last].lo >= off) last--;
        p->unit_first[u] = first;
        p->unit_last[u] = last;
    }
    free(t);
}

/* ---- the bucket engine (src/comm.c, swat_buckets) ------------------------------ */

enum { OP_NONE = 0, OP_REDUCE = 1, OP_GATHER = 2 };
enum { TAG_CTRL = 40, TAG_NOTE = 41 };
enum { CMD_REDUCE = 1, CMD_GATHER = 2, CMD_QUIT = 3, NOTE_REDUCED = 4, NOTE_GATHERED = 5 };

typedef struct { int kind, round; MPI_Request req[2]; } bop_t;

typedef struct {
    MPI_Comm comm;
    int rank, P, log2p;
    const plan_t *plan;
    const opts *o;
    bop_t *op;
    int *queue, ql, *active, na;
    MPI_Request *wreq;
    int *widx;
    int notify;       /* an agent: tell the compute rank (world rank − 1) what completed */
    int *done_reduce, *done_gather; /* completions since the start (compute side in poll mode) */
} engine_t;

static size_t slice_start(size_t n, int P, int i)
{
    return n / (size_t)P * (size_t)i + n % (size_t)P * (size_t)i / (size_t)P;
}

/* comm.c's schedule() for power-of-two worlds: element counts of round k */
static void round_of(const engine_t *e, int j, int kind, int k, int *peer, size_t *sn, size_t *rn)
{
    size_t n = e->plan->b[j].hi - e->plan->b[j].lo;
    int me = e->rank, sb, rb, m;
    if (kind == OP_REDUCE) {
        m = e->P >> (k + 1);
        int base = me & ~(2 * m - 1);
        rb = (me & m) ? base + m : base;
        sb = (me & m) ? base : base + m;
    } else {
        m = 1 << k;
        sb = me & ~(m - 1);
        rb = sb ^ m;
    }
    *peer = me ^ m;
    *sn = slice_start(n, e->P, sb + m) - slice_start(n, e->P, sb);
    *rn = slice_start(n, e->P, rb + m) - slice_start(n, e->P, rb);
}

static int wire_of(const engine_t *e, int j, int kind)
{
    return kind == OP_REDUCE ? e->o->gwire : e->plan->b[j].wire;
}

static void post_round(engine_t *e, int j)
{
    bop_t *op = &e->op[j];
    int peer, tag = 2 * j + (op->kind == OP_GATHER);
    size_t sn, rn;
    round_of(e, j, op->kind, op->round, &peer, &sn, &rn);
    size_t es = (size_t)wire_of(e, j, op->kind);
    MPI_Irecv(g_rbuf, count_of(rn * es / sizeof(float)) * (int)sizeof(float), MPI_BYTE, peer,
              tag, e->comm, &op->req[0]);
    MPI_Isend(g_sbuf, count_of(sn * es / sizeof(float)) * (int)sizeof(float), MPI_BYTE, peer, tag,
              e->comm, &op->req[1]);
}

/* Bytes this rank sends per update: every bucket's reduce-scatter and all-gather. */
static double update_bytes(const engine_t *e)
{
    double sent = 0;
    for (int j = 0; j < e->plan->nb; j++)
        for (int kind = OP_REDUCE; kind <= OP_GATHER; kind++)
            for (int k = 0; k < e->log2p; k++) {
                int peer;
                size_t sn, rn;
                round_of(e, j, kind, k, &peer, &sn, &rn);
                sent += (double)(sn * (size_t)wire_of(e, j, kind));
            }
    return sent;
}

static void activate(engine_t *e, int j)
{
    e->active[e->na++] = j;
    post_round(e, j);
}

/* comm.c's has_room(): fewer than SLOTS transfers, and GSLOTS all-gathers */
static int has_room(const engine_t *e, int j)
{
    if (e->na == SLOTS) return 0;
    if (e->op[j].kind != OP_GATHER) return 1;
    int g = 0;
    for (int i = 0; i < e->na; i++) g += e->op[e->active[i]].kind == OP_GATHER;
    return g < GSLOTS;
}

/* comm.c's drain(): the queued transfers in flight, in start order, as far
 * as there is room */
static void drain(engine_t *e)
{
    int k = 0;
    for (int i = 0; i < e->ql; i++) {
        int j = e->queue[i];
        if (has_room(e, j))
            activate(e, j);
        else
            e->queue[k++] = j;
    }
    e->ql = k;
}

static void admit(engine_t *e, int j)
{
    e->queue[e->ql++] = j;
    drain(e);
}

static void engine_start(engine_t *e, int j, int kind)
{
    bop_t *op = &e->op[j];
    if (op->kind != OP_NONE) usage_die(e->rank, "bucket started twice", NULL);
    op->kind = kind;
    op->round = 0;
    op->req[0] = op->req[1] = MPI_REQUEST_NULL;
    admit(e, j);
}

static void note(engine_t *e, int what, int j)
{
    if (what == NOTE_REDUCED) e->done_reduce[j] = 1;
    if (what == NOTE_GATHERED) e->done_gather[j] = 1;
    if (e->notify) {
        int msg[2] = {what, j};
        int wr;
        MPI_Comm_rank(MPI_COMM_WORLD, &wr);
        MPI_Send(msg, 2, MPI_INT, wr - 1, TAG_NOTE, MPI_COMM_WORLD);
    }
}

/* comm.c's advance(): every transfer as far as it goes; the sums are delays
 * on whoever runs this (the agent, or the rank when polling). */
static int advance(engine_t *e)
{
    int completed = 0;
    for (int i = 0; i < e->na;) {
        int j = e->active[i], over = 0;
        bop_t *op = &e->op[j];
        for (;;) {
            int flag = 0;
            MPI_Testall(2, op->req, &flag, MPI_STATUSES_IGNORE);
            if (!flag) break;
            if (op->kind == OP_REDUCE) {
                int peer;
                size_t sn, rn;
                round_of(e, j, OP_REDUCE, op->round, &peer, &sn, &rn);
                double gbs = e->notify ? e->o->reduce_gbs : e->o->adam_gbs;
                overhead_seconds(mem_seconds((double)rn * (8.0 + e->o->gwire), gbs));
            }
            if (++op->round == e->log2p) {
                over = 1;
                break;
            }
            post_round(e, j);
        }
        if (!over) {
            i++;
            continue;
        }
        memmove(e->active + i, e->active + i + 1, sizeof(int) * (size_t)(e->na - i - 1));
        e->na--;
        int kind = op->kind;
        op->kind = OP_NONE;
        drain(e);
        note(e, kind == OP_REDUCE ? NOTE_REDUCED : NOTE_GATHERED, j);
        completed++;
    }
    return completed;
}

/* Blocks until a request in flight (or `extra`, if not NULL) completes;
 * returns 1 when it was `extra`. */
static int block_any(engine_t *e, MPI_Request *extra)
{
    int n = 0;
    if (extra) {
        e->wreq[n] = *extra;
        e->widx[n++] = -1;
    }
    for (int i = 0; i < e->na; i++)
        for (int q = 0; q < 2; q++)
            if (e->op[e->active[i]].req[q] != MPI_REQUEST_NULL) {
                e->wreq[n] = e->op[e->active[i]].req[q];
                e->widx[n++] = 2 * e->active[i] + q;
            }
    if (n == 0) return 0;
    int idx = MPI_UNDEFINED;
    MPI_Waitany(n, e->wreq, &idx, MPI_STATUS_IGNORE);
    if (idx == MPI_UNDEFINED) return 0;
    if (e->widx[idx] < 0) {
        *extra = MPI_REQUEST_NULL;
        return 1;
    }
    e->op[e->widx[idx] / 2].req[e->widx[idx] % 2] = MPI_REQUEST_NULL;
    return 0;
}

static void engine_init(engine_t *e, MPI_Comm comm, const plan_t *plan, const opts *o, int notify)
{
    memset(e, 0, sizeof *e);
    e->comm = comm;
    MPI_Comm_rank(comm, &e->rank);
    MPI_Comm_size(comm, &e->P);
    while ((1 << e->log2p) < e->P) e->log2p++;
    e->plan = plan;
    e->o = o;
    e->notify = notify;
    int nb = plan->nb;
    e->op = calloc((size_t)nb, sizeof *e->op);
    e->queue = calloc((size_t)nb, sizeof(int));
    e->active = calloc((size_t)nb, sizeof(int));
    e->wreq = calloc(2 * (size_t)nb + 1, sizeof(MPI_Request));
    e->widx = calloc(2 * (size_t)nb + 1, sizeof(int));
    e->done_reduce = calloc((size_t)nb, sizeof(int));
    e->done_gather = calloc((size_t)nb, sizeof(int));
}

/* The progress thread: waits for its rank's commands and for messages, and
 * moves every transfer the moment it can. */
static void agent_main(const opts *o, const plan_t *plan, MPI_Comm aw)
{
    engine_t e;
    engine_init(&e, aw, plan, o, 1);
    int wr, cmd[2];
    MPI_Comm_rank(MPI_COMM_WORLD, &wr);
    MPI_Request creq;
    MPI_Irecv(cmd, 2, MPI_INT, wr - 1, TAG_CTRL, MPI_COMM_WORLD, &creq);
    for (;;) {
        if (block_any(&e, &creq)) {
            if (cmd[0] == CMD_QUIT) break;
            if (cmd[0] == CMD_REDUCE) engine_start(&e, cmd[1], OP_REDUCE);
            if (cmd[0] == CMD_GATHER) engine_start(&e, cmd[1], OP_GATHER);
            MPI_Irecv(cmd, 2, MPI_INT, wr - 1, TAG_CTRL, MPI_COMM_WORLD, &creq);
        } else {
            /* a round completed: the thread sees it at its next test, on
             * average half its sleep later */
            overhead_seconds(POLL_S / 2);
        }
        advance(&e);
    }
}

/* ---- the compute rank's side of the bucketed update ------------------------------ */

typedef struct {
    const opts *o;
    const plan_t *plan;
    engine_t e;      /* polling: the engine runs here */
    int agent;       /* world rank of this rank's agent, −1 when polling */
    int *pending, *reduced, *gathered, nreduced, gathering, last_pass;
} zero_t;

static void ctrl(zero_t *z, int what, int j)
{
    int msg[2] = {what, j};
    MPI_Send(msg, 2, MPI_INT, z->agent, TAG_CTRL, MPI_COMM_WORLD);
}

/* One note from the agent (blocking). */
static void take_note(zero_t *z)
{
    int msg[2];
    MPI_Recv(msg, 2, MPI_INT, z->agent, TAG_NOTE, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    if (msg[0] == NOTE_REDUCED) z->reduced[msg[1]] = 1, z->nreduced++;
    if (msg[0] == NOTE_GATHERED) z->gathered[msg[1]] = 1;
}

static void poll_progress(zero_t *z)
{
    if (z->agent >= 0 || z->e.na == 0) return;
    double t0 = MPI_Wtime();
    advance(&z->e);
    g_t_poll += MPI_Wtime() - t0;
}

/* Polling: pull the engine's completions into the rank's flags. */
static void sync_done(zero_t *z)
{
    for (int j = 0; j < z->plan->nb; j++) {
        if (z->e.done_reduce[j] && !z->reduced[j]) z->reduced[j] = 1, z->nreduced++;
        if (z->e.done_gather[j]) z->gathered[j] = 1;
    }
}

static void wait_gathered(zero_t *z, int j)
{
    while (!z->gathered[j]) {
        if (z->agent >= 0) {
            take_note(z);
        } else {
            advance(&z->e);
            sync_done(z);
            if (!z->gathered[j]) block_any(&z->e, NULL);
        }
    }
}

static void wait_all_reduced(zero_t *z)
{
    while (z->nreduced < z->plan->nb) {
        if (z->agent >= 0) {
            take_note(z);
        } else {
            advance(&z->e);
            sync_done(z);
            if (z->nreduced < z->plan->nb) block_any(&z->e, NULL);
        }
    }
}

static void start_reduce(zero_t *z, int j)
{
    if (z->agent >= 0)
        ctrl(z, CMD_REDUCE, j);
    else
        engine_start(&z->e, j, OP_REDUCE);
}

static void need_unit(zero_t *z, int u)
{
    if (!z->gathering) return;
    double t0 = MPI_Wtime();
    for (int j = z->plan->unit_first[u]; j <= z->plan->unit_last[u]; j++) wait_gathered(z, j);
    if (u == z->plan->units - 1) z->gathering = 0;
    g_t_ag += MPI_Wtime() - t0;
}

static void unit_done(zero_t *z, int u)
{
    if (!z->last_pass || !z->o->overlap) return;
    for (int j = z->plan->unit_first[u]; j <= z->plan->unit_last[u]; j++)
        if (--z->pending[j] == 0) start_reduce(z, j);
}

/* AdamW bucket by bucket, each all-gather started as soon as its slice is
 * updated: the first buckets (needed first) leave early. */
static void adam_and_gather(zero_t *z, int P)
{
    const plan_t *p = z->plan;
    for (int j = 0; j < p->nb; j++) z->gathered[j] = 0, z->e.done_gather[j] = 0;
    for (int j = 0; j < p->nb; j++) {
        double t0 = MPI_Wtime();
        overhead_seconds(mem_seconds(28.0 * (double)(p->b[j].hi - p->b[j].lo) / P, z->o->adam_gbs));
        g_t_adam += MPI_Wtime() - t0;
        if (z->agent >= 0) {
            ctrl(z, CMD_GATHER, j);
        } else {
            engine_start(&z->e, j, OP_GATHER);
            poll_progress(z);
        }
    }
    z->gathering = 1;
}

/* After the passes: the tail of the reduce-scatters, the norm, AdamW on the
 * owned slices, the all-gathers. */
static void zero_step(zero_t *z, int P)
{
    const plan_t *p = z->plan;
    if (!z->o->overlap)
        for (int j = p->nb - 1; j >= 0; j--) start_reduce(z, j);
    double t0 = MPI_Wtime();
    wait_all_reduced(z);
    g_t_rs += MPI_Wtime() - t0;
    double red[2] = {1.0, 1.0};
    t0 = MPI_Wtime();
    MPI_Allreduce(MPI_IN_PLACE, red, 2, MPI_DOUBLE, MPI_SUM, g_cw);
    g_t_ar += MPI_Wtime() - t0;
    adam_and_gather(z, P);
    if (!z->o->overlap) {
        t0 = MPI_Wtime();
        for (int j = 0; j < p->nb; j++) wait_gathered(z, j);
        z->gathering = 0;
        g_t_ag += MPI_Wtime() - t0;
    }
}

/* ---- one update ------------------------------------------------------------ */

typedef struct {
    double N;        /* parameters in matrix products (docs/training.md) */
    double qkv, post, cls; /* FLOPs per token: QKV fwd, o-proj+MLP fwd, classifier fwd */
    double attn_row; /* forward attention FLOPs per query row per layer */
} flops_t;

static void one_update(const opts *o, const flops_t *F, MPI_Comm spc, int me, int sp, int rank,
                       int P, size_t shard, float *grads, float *params, zero_t *z)
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
#define STEP(x) do { x; if (z) poll_progress(z); } while (0)

    if (z)
        for (int j = 0; j < z->plan->nb; j++) z->pending[j] = 0;
    for (int u = 0; z && u < z->plan->units; u++)
        for (int j = z->plan->unit_first[u]; j <= z->plan->unit_last[u]; j++) z->pending[j]++;
    if (z) {
        z->nreduced = 0;
        for (int j = 0; j < z->plan->nb; j++) z->reduced[j] = 0, z->e.done_reduce[j] = 0;
    }
    for (long a = 0; a < o->accum; a++) {
        if (z) z->last_pass = a == o->accum - 1, need_unit(z, 0);
        for (long l = 0; l < o->L; l++) { /* forward */
            if (z) need_unit(z, (int)l + 1);
            STEP(compute(n * F->qkv));
            if (sp > 1 && halo && nh > 0) {
                shift_t s;
                shift_start(&s, spc, me, sp, +1, halo_count);
                STEP(compute(rows_free * F->attn_row));
                shift_wait(&s);
                STEP(compute(rows_halo * F->attn_row));
            } else if (sp > 1 && !halo) {
                ring_pass(spc, me, sp, ring_fwd, n * F->attn_row);
            } else {
                STEP(compute(n * F->attn_row));
            }
            STEP(compute(n * F->post / 2)); /* o-projection, then the MLP */
            STEP(compute(n * F->post / 2));
        }
        if (z) need_unit(z, (int)o->L + 1);
        STEP(compute(3.0 * n * F->cls)); /* classifier forward and backward */
        if (z) unit_done(z, (int)o->L + 1);
        for (long l = o->L - 1; l >= 0; l--) { /* backward */
            STEP(compute(n * F->post));
            STEP(compute(n * F->post));
            if (sp > 1 && halo && nh > 0) {
                STEP(compute(2.0 * rows_halo * F->attn_row));
                shift_t s;
                shift_start(&s, spc, me, sp, -1, halo_count);
                STEP(compute(2.0 * rows_free * F->attn_row));
                shift_wait(&s);
            } else if (sp > 1 && !halo) {
                ring_pass(spc, me, sp, ring_bwd, 2.0 * n * F->attn_row);
            } else {
                STEP(compute(2.0 * n * F->attn_row));
            }
            STEP(compute(2.0 * n * F->qkv));
            if (z) unit_done(z, (int)l + 1);
        }
        if (z) unit_done(z, 0);
    }
#undef STEP
    if (z) {
        zero_step(z, P);
        return;
    }
    if (P > 1) reduce_scatter(o, rank, P, shard, grads, params);
    double red[2] = {1.0, 1.0};
    double t0 = MPI_Wtime();
    MPI_Allreduce(MPI_IN_PLACE, red, 2, MPI_DOUBLE, MPI_SUM, g_cw);
    g_t_ar += MPI_Wtime() - t0;
    t0 = MPI_Wtime();
    overhead_seconds(mem_seconds(28.0 * (double)shard, o->adam_gbs));
    g_t_adam += MPI_Wtime() - t0;
    if (P > 1) allgather(o, rank, P, shard, params);
}

/* The end of every simulated process: buffers, communicators, MPI. */
static int finish(MPI_Comm *spc)
{
    SMPI_SHARED_FREE(g_sbuf);
    SMPI_SHARED_FREE(g_rbuf);
    MPI_Comm_free(spc);
    MPI_Comm_free(&g_cw);
    MPI_Finalize();
    return 0;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int wrank, wsize;
    MPI_Comm_rank(MPI_COMM_WORLD, &wrank);
    MPI_Comm_size(MPI_COMM_WORLD, &wsize);
    opts o;
    parse(argc, argv, &o, wrank);
    /* with a progress thread, world rank 2r is rank r and 2r + 1 its agent */
    if (o.thread && wsize % 2) usage_die(wrank, "--progress thread needs an even world", NULL);
    int is_agent = o.thread && (wrank & 1);
    MPI_Comm_split(MPI_COMM_WORLD, is_agent, wrank, &g_cw);
    int rank, P;
    MPI_Comm_rank(g_cw, &rank);
    MPI_Comm_size(g_cw, &P);
    if (P % o.sp != 0) usage_die(wrank, "world size not divisible by --sp", NULL);
    if (o.sp > 1 && (o.Tc % o.w != 0 || o.Tc < o.w))
        usage_die(wrank, "--Tc must be a multiple of --w and at least --w (the halo reaches one rank back)", NULL);
    if ((!strcmp(o.coll, "rhd") || o.zero) && (P & (P - 1)) != 0)
        usage_die(wrank, "--coll rhd and --zero bucketed need a power-of-two world", NULL);
    int sp = (int)o.sp, dp = P / sp;

    /* communicators exactly as comm.c: sequence groups of sp consecutive ranks */
    MPI_Comm spc;
    MPI_Comm_split(g_cw, rank / sp, rank, &spc);
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
    plan_t plan = {0};
    if (o.zero) make_plan(&plan, &o, P);

    /* buffers: the largest single message */
    size_t maxmsg = (size_t)o.mb * (size_t)(o.w > 1 ? o.w - 1 : 1) * 2 * (size_t)o.d;
    if (!strcmp(o.attn, "ring")) {
        size_t r = (size_t)ceil((double)o.mb * (double)o.Tc * fmax(2.0, o.ring_bwd) * d);
        if (r > maxmsg) maxmsg = r;
    }
    if (!strcmp(o.coll, "rhd")) { if (shard * (size_t)P / 2 > maxmsg) maxmsg = shard * (size_t)P / 2; }
    else if (shard > maxmsg) maxmsg = shard;
    for (int j = 0; j < plan.nb; j++)
        if (plan.b[j].hi - plan.b[j].lo > maxmsg) maxmsg = plan.b[j].hi - plan.b[j].lo;
    buffers_init(maxmsg);

    if (is_agent) {
        agent_main(&o, &plan, g_cw);
        return finish(&spc);
    }
    zero_t zs, *z = NULL;
    if (o.zero) {
        memset(&zs, 0, sizeof zs);
        zs.o = &o;
        zs.plan = &plan;
        zs.agent = o.thread ? wrank + 1 : -1;
        engine_init(&zs.e, g_cw, &plan, &o, 0);
        zs.pending = calloc((size_t)plan.nb, sizeof(int));
        zs.reduced = calloc((size_t)plan.nb, sizeof(int));
        zs.gathered = calloc((size_t)plan.nb, sizeof(int));
        for (int j = 0; j < plan.nb; j++) zs.gathered[j] = 1;
        z = &zs;
    }
    float *grads = NULL, *params = NULL;
    if (!strcmp(o.coll, "mpi") && !o.zero) {
        grads = SMPI_SHARED_MALLOC(shard * (size_t)P * sizeof(float));
        params = SMPI_SHARED_MALLOC(shard * (size_t)P * sizeof(float));
    }

    /* Legacy: every update alone, the last of --updates measured. Bucketed,
     * in steady state: the previous update's end (AdamW bucket by bucket,
     * starting the all-gathers) runs first, then one update is measured from
     * its start (its forward waits for those all-gathers) to the start of the
     * next (its own all-gathers in flight), which are then waited for. */
    double t_period = 0, t0 = 0;
    double mine[13] = {0};
    MPI_Barrier(g_cw);
    if (z) adam_and_gather(z, P);
    for (int u = 0; u < (z ? 1 : o.updates); u++) {
        g_flops = g_bytes_halo = g_bytes_attn = g_bytes_coll = 0;
        g_t_halo = g_t_attn = g_t_rs = g_t_ar = g_t_ag = g_t_adam = g_t_poll = 0;
        if (!z) MPI_Barrier(g_cw);
        t0 = MPI_Wtime();
        one_update(&o, &F, spc, me, sp, rank, P, shard, grads, params, z);
        t_period = MPI_Wtime() - t0;
    }
    double m2[13] = {g_flops, g_t_halo, g_t_attn, g_t_rs, g_t_ar, g_t_ag, g_bytes_halo,
                     g_bytes_attn, g_bytes_coll + (z ? update_bytes(&z->e) : 0), g_t_adam,
                     g_t_poll, t_period, 0};
    memcpy(mine, m2, sizeof mine);
    if (z) /* the last all-gathers, before the agents stop */
        for (int k = 0; k < plan.units; k++) need_unit(z, k);
    if (z && z->agent >= 0) ctrl(z, CMD_QUIT, 0);
    double agg[13], mx[4] = {g_bytes_halo, g_bytes_attn, g_flops, t_period}, mxr[4];
    MPI_Reduce(mine, agg, 13, MPI_DOUBLE, MPI_SUM, 0, g_cw);
    mx[0] = mine[6], mx[1] = mine[7], mx[2] = mine[0], mx[3] = mine[11];
    MPI_Reduce(mx, mxr, 4, MPI_DOUBLE, MPI_MAX, 0, g_cw);

    if (rank == 0) {
        double t_upd = mxr[3];
        double t_comp = mxr[2] / g_speed; /* the busiest rank's model work */
        double eff = t_comp / t_upd;
        double m_halo = agg[1] / P, m_attn = agg[2] / P, m_rs = agg[3] / P, m_ar = agg[4] / P,
               m_ag = agg[5] / P, m_adam = agg[9] / P, m_poll = agg[10] / P;
        double b_halo = agg[6] / P, b_attn = agg[7] / P, b_coll = agg[8] / P;
        double tokens = (double)o.mb * o.accum * o.Tc; /* per rank per update */
        double t_link = b_coll / (o.link_gbs * 1e9);
        double big = fmax(t_comp, t_link), small = fmin(t_comp, t_link);
        double target = big >= 2 * small ? 1.1 : 1.3;
        const char *zero = o.zero ? "bucketed" : "legacy";
        const char *prog = !o.zero ? "-" : o.thread ? "thread" : "poll";
        if (o.csv_header)
            printf("label,world,sp,dp,d,L,w,V,f,Tc,mb,accum,coll,attn,N,speed_gflops,"
                   "flop_per_token,t_update_s,t_compute_s,efficiency,comm_share,"
                   "halo_wait_s,attn_wait_s,rs_s,ar_s,ag_s,halo_MB_mean,halo_MB_max,"
                   "attn_MB_mean,coll_MB,total_MB,zero,overlap,progress,pwire,gwire,bucket_mb,"
                   "buckets,tokens_rank,t_link_s,ratio,target,adam_s,poll_s\n");
        if (o.csv) {
            printf("%s,%d,%d,%d,%ld,%ld,%ld,%ld,%ld,%ld,%ld,%ld,%s,%s,%.0f,%.3f,%.6e,%.6f,%.6f,"
                   "%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.4f,%.4f,%.4f,%.4f,%.4f,"
                   "%s,%d,%s,%d,%d,%g,%d,%.0f,%.6f,%.4f,%.1f,%.6f,%.6f\n",
                   o.label, P, sp, dp, o.d, o.L, o.w, o.V, o.f, o.Tc, o.mb, o.accum, o.coll, o.attn,
                   F.N, g_speed / 1e9, flops_per_token, t_upd, t_comp, eff, 1 - eff, m_halo, m_attn,
                   m_rs, m_ar, m_ag, b_halo / 1e6, mxr[0] / 1e6, b_attn / 1e6, b_coll / 1e6,
                   (b_halo + b_attn + b_coll) / 1e6, zero, o.overlap, prog, o.pwire, o.gwire,
                   o.bucket_mb, plan.nb, tokens, t_link, t_upd / big, target, m_adam, m_poll);
        } else {
            printf("layout      %d ranks = sp %d x dp %d; %s attention exchange; ZeRO-1 %s", P,
                   sp, dp, o.attn, zero);
            if (o.zero)
                printf(" (%d buckets of %g MiB target, %s, %s; wire: params %d B, grads %d B)\n",
                       plan.nb, o.bucket_mb, o.overlap ? "overlapped" : "after the passes", prog,
                       o.pwire, o.gwire);
            else
                printf(" (%s collectives)\n", o.coll);
            printf("model       d %ld, L %ld, w %ld, V %ld, f %ld; N %.0f (matrices), gradient buffer %zu "
                   "(shard %zu per rank)\n", o.d, o.L, o.w, o.V, o.f, F.N, nbuf_i, shard);
            printf("work        Tc %ld tokens x mb %ld x accum %ld per rank; %.3e FLOP/token; host %.2f GFLOP/s\n",
                   o.Tc, o.mb, o.accum, flops_per_token, g_speed / 1e9);
            printf("update      %.6f s simulated (max over ranks); compute %.6f s (%.0f tokens/rank)\n",
                   t_upd, t_comp, tokens);
            printf("efficiency  %.4f%% compute, %.4f%% communication (exposed)\n", 100 * eff,
                   100 * (1 - eff));
            printf("target      collectives at %.2f GB/s take %.6f s: update / max(compute, that) = %.3f (target %.1f)\n",
                   o.link_gbs, t_link, t_upd / big, target);
            printf("waits       halo %.6f s, ring-attn %.6f s, reduce-scatter %.6f s, allreduce %.6f s, "
                   "all-gather %.6f s; AdamW %.6f s, polling %.6f s (means over ranks)\n",
                   m_halo, m_attn, m_rs, m_ar, m_ag, m_adam, m_poll);
            printf("bytes/rank  halo %.3f MB (max %.3f), ring-attn %.3f MB, collectives %.3f MB, total %.3f MB\n",
                   b_halo / 1e6, mxr[0] / 1e6, b_attn / 1e6, b_coll / 1e6,
                   (b_halo + b_attn + b_coll) / 1e6);
        }
        fflush(stdout);
    }
    if (grads) { SMPI_SHARED_FREE(grads); SMPI_SHARED_FREE(params); }
    return finish(&spc);
}
