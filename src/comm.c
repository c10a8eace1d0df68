/* SPDX-License-Identifier: MIT */
/* comm.c: every MPI call of swat: start-up and abort, the sequence- and
 * data-parallel communicators (README "Parallel layout"), the halo shift
 * between sequence chunks, the collectives of the update (gradient
 * reduce-scatter, parameter all-gather, scalar all-reduces), their bucketed
 * form that overlaps the compute (swat_buckets, at the end of the file), the
 * exchange of pieces between the update's and the checkpoint's shards, the
 * agreement on an error, the ordered reduction of checkpoint checksums, and
 * the count of ranks and CPUs per node that the thread policy (gemm.h) needs.
 *
 * Why it is shaped so:
 *   - The library talks only on communicators it owns: a dup of MPI_COMM_WORLD
 *     and two splits of it, so its messages never match a user's or HDF5's.
 *   - MPI_ERRORS_RETURN is set on the world (the splits and dups inherit it,
 *     and we set it again to be explicit) and every return code goes through
 *     mpi_check: a failing call dies with the call's name and MPI's message,
 *     and the abort hook of common.h turns any swat_die/SWAT_ASSERT into
 *     MPI_Abort, so no rank is left hanging in a collective.
 *   - swat_real travels as MPI_FLOAT or MPI_DOUBLE, chosen by its size, since
 *     the same file is compiled for both builds.
 *   - MPI counts are int. Contiguous operations (all-reduce, broadcast) are
 *     cut into chunks of at most SWAT_COMM_CHUNK elements; the halo shift, the
 *     reduce-scatter and the all-gather need their per-message/per-rank count
 *     to fit in an int and die with a clear message otherwise (a halo or a
 *     per-rank shard of more than 2^31 reals, 8 GiB of floats, is far beyond
 *     this machine; chunking a strided reduce-scatter would need a copy).
 *
 * Determinism: only plain MPI collectives on fixed communicators are used, and
 * point-to-point schedules whose additions follow a fixed order (no
 * MPI_ANY_SOURCE, no reductions in arrival order, no atomics). Open MPI's reduction algorithms (coll/tuned) are selected from the
 * communicator size and the message size only, and each fixes the order of the
 * additions, so the same layout gives bit-identical sums run to run. A
 * different world size or sp may round differently (results agree "up to float
 * rounding"). Chunk boundaries depend only on the element count.
 *
 * Statistics (swat_comm_stats), what is counted:
 *   halo_bytes   n·count·sizeof(swat_real) per completed shift, on ranks that
 *                have a neighbour to send to (ends with nothing to send add 0);
 *   reduce_bytes the bytes this rank puts into a collective: all-reduce
 *                n·sizeof(element) (swat_real, double, int for `any`, int64 for
 *                max_i64, the record size for the ordered one); reduce-scatter the full buffer world·shard·
 *                sizeof(swat_real); all-gather its own block shard·
 *                sizeof(swat_real); broadcast `bytes` on the root, 0 elsewhere;
 *                barrier 0. Bytes of the wire protocol are not modelled;
 *   wait_s       wall time inside shift_wait and inside every blocking
 *                collective (including the barrier and broadcast) and in
 *                swat_buckets_wait (also in bucket_wait_s);
 *   wire_bytes   what this rank sends in the gradient reduce-scatters and
 *                parameter all-gathers: the bucket schedules' messages
 *                exactly, (world−1)·shard elements for MPI's own (what a
 *                bandwidth-optimal algorithm sends);
 *   poll_s       time inside swat_buckets_progress (the polling itself);
 *   reductions, gathers  one per bucket transfer started, or per unbucketed
 *                reduce-scatter / all-gather. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "swat/comm.h"

#include "swat/bf16.h"

#include <limits.h>
#include <mpi.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Largest element count per MPI call of a chunked operation; a compile-time
 * knob so that the chunking can be exercised with small buffers. */
#ifndef SWAT_COMM_CHUNK
#define SWAT_COMM_CHUNK ((size_t)INT_MAX)
#endif

/* Buffers per shift: the request array is fixed so no allocation happens in
 * the update. */
#define SWAT_COMM_MAX_SHIFT 64

_Static_assert(sizeof(swat_real) == sizeof(float) || sizeof(swat_real) == sizeof(double),
               "swat_real must be float or double");

struct swat_comm {
    MPI_Comm world; /* dup of MPI_COMM_WORLD */
    MPI_Comm sp;    /* sequence group: sp consecutive world ranks */
    MPI_Comm dp;    /* data group: the ranks of equal sp-rank */
    int rank[3], size[3]; /* indexed by swat_scope */
    swat_node_info node;  /* the node of this rank (start-up) */
    /* the shift in flight (at most one) */
    MPI_Request req[2 * SWAT_COMM_MAX_SHIFT];
    int nreq;
    int shift_active;
    int shift_recv;      /* 1 if this rank has a neighbour to receive from */
    double shift_bytes;  /* bytes this rank sends in the shift in flight */
    swat_comm_stats stats;
};

static void mpi_check(int rc, const char *call)
{
    if (rc == MPI_SUCCESS) return;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS)
        snprintf(msg, sizeof msg, "MPI error code %d", rc);
    swat_die(1, "%s failed: %s", call, msg);
}

/* MPI_CALL(MPI_Barrier, (comm)): checks the return code, names the call. */
#define MPI_CALL(fn, args) mpi_check(fn args, #fn)

static MPI_Datatype real_type(void)
{
    return sizeof(swat_real) == sizeof(double) ? MPI_DOUBLE : MPI_FLOAT;
}

/* MPI is usable: initialised and not yet finalised. Used on the abort path,
 * so it must not die itself. */
static int mpi_up(void)
{
    int init = 0, fin = 0;
    if (MPI_Initialized(&init) != MPI_SUCCESS || !init) return 0;
    if (MPI_Finalized(&fin) != MPI_SUCCESS || fin) return 0;
    return 1;
}

/* Element count of one message: MPI counts are int. */
static int as_count(size_t n, const char *what)
{
    if (n > (size_t)INT_MAX)
        swat_die(1, "%s of %zu elements exceeds MPI's int count limit (%d); use more ranks",
                 what, n, INT_MAX);
    return (int)n;
}

static MPI_Comm scope_comm(const swat_comm *c, swat_scope s)
{
    SWAT_ASSERT(c != NULL);
    switch (s) {
    case SWAT_SCOPE_WORLD: return c->world;
    case SWAT_SCOPE_SP: return c->sp;
    case SWAT_SCOPE_DP: return c->dp;
    }
    SWAT_ASSERT(!"unknown swat_scope");
    return MPI_COMM_NULL;
}

/* ---- start-up and shutdown ------------------------------------------------ */

int swat_comm_init(int *argc, char ***argv)
{
    int init = 0, fin = 0;
    MPI_CALL(MPI_Initialized, (&init));
    MPI_CALL(MPI_Finalized, (&fin));
    if (fin) swat_die(1, "swat_comm_init: MPI has already been finalised");
    if (!init) {
        int provided = MPI_THREAD_SINGLE;
        /* The main thread calls MPI, and so may the progress thread of the
         * bucketed collectives (BLIS/OpenMP threads never do). Without
         * MULTIPLE that thread is refused and the collectives are polled; an
         * MPI that offers less than FUNNELED still works in practice. */
        MPI_CALL(MPI_Init_thread, (argc, argv, MPI_THREAD_MULTIPLE, &provided));
        if (provided < MPI_THREAD_FUNNELED)
            swat_warn("MPI provides thread level %d, below MPI_THREAD_FUNNELED", provided);
    }
    MPI_CALL(MPI_Comm_set_errhandler, (MPI_COMM_WORLD, MPI_ERRORS_RETURN));
    swat_set_abort_hook(swat_comm_abort);
    int rank = 0, world = 1;
    MPI_CALL(MPI_Comm_rank, (MPI_COMM_WORLD, &rank));
    MPI_CALL(MPI_Comm_size, (MPI_COMM_WORLD, &world));
    swat_log_set_rank(rank, world);
    return world;
}

void swat_comm_finalize(void)
{
    if (mpi_up()) MPI_CALL(MPI_Finalize, ());
}

void swat_comm_abort(int code)
{
    if (mpi_up()) MPI_Abort(MPI_COMM_WORLD, code); /* its return code: nothing left to do */
    exit(code);
}

/* Before swat_comm_init (or after finalize) the process is a single rank. */
int swat_comm_world_rank(void)
{
    int rank = 0;
    if (mpi_up()) MPI_CALL(MPI_Comm_rank, (MPI_COMM_WORLD, &rank));
    return rank;
}

int swat_comm_world_size(void)
{
    int size = 1;
    if (mpi_up()) MPI_CALL(MPI_Comm_size, (MPI_COMM_WORLD, &size));
    return size;
}

/* ---- communicators -------------------------------------------------------- */

/* The ranks of this node (MPI_COMM_TYPE_SHARED: what the MPI library counts
 * as one shared-memory node, whatever the launcher) and the CPUs they may
 * use: the union of their affinity masks (all online CPUs where a mask
 * cannot be read); and the number of nodes. Collective, once. */
static swat_node_info node_layout(MPI_Comm world)
{
    swat_node_info n = {1, 1, 1};
    MPI_Comm node;
    int node_rank = 0;
    MPI_CALL(MPI_Comm_split_type, (world, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
    MPI_CALL(MPI_Comm_size, (node, &n.ranks));
    MPI_CALL(MPI_Comm_rank, (node, &node_rank));
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        for (long i = 0; i < online && i < CPU_SETSIZE; i++) CPU_SET((int)i, &set);
    }
    MPI_CALL(MPI_Allreduce, (MPI_IN_PLACE, &set, (int)sizeof set, MPI_UNSIGNED_CHAR, MPI_BOR, node));
    n.cpus = CPU_COUNT(&set) > 0 ? CPU_COUNT(&set) : 1;
    int leader = node_rank == 0;
    MPI_CALL(MPI_Allreduce, (&leader, &n.nodes, 1, MPI_INT, MPI_SUM, world));
    MPI_CALL(MPI_Comm_free, (&node));
    return n;
}

swat_comm *swat_comm_create(int sp)
{
    SWAT_ASSERT(mpi_up());
    int rank = 0, world = 1;
    MPI_CALL(MPI_Comm_rank, (MPI_COMM_WORLD, &rank));
    MPI_CALL(MPI_Comm_size, (MPI_COMM_WORLD, &world));
    SWAT_ASSERT(sp >= 1 && world % sp == 0); /* the config refuses other values */

    swat_comm *c = swat_calloc(sizeof *c);
    MPI_CALL(MPI_Comm_dup, (MPI_COMM_WORLD, &c->world));
    MPI_CALL(MPI_Comm_split, (c->world, rank / sp, rank, &c->sp));
    MPI_CALL(MPI_Comm_split, (c->world, rank % sp, rank, &c->dp));
    MPI_Comm *comms[3] = {&c->world, &c->sp, &c->dp};
    for (int s = 0; s < 3; s++) {
        MPI_CALL(MPI_Comm_set_errhandler, (*comms[s], MPI_ERRORS_RETURN));
        MPI_CALL(MPI_Comm_rank, (*comms[s], &c->rank[s]));
        MPI_CALL(MPI_Comm_size, (*comms[s], &c->size[s]));
    }
    SWAT_ASSERT(c->size[SWAT_SCOPE_SP] == sp && c->rank[SWAT_SCOPE_SP] == rank % sp);
    SWAT_ASSERT(c->size[SWAT_SCOPE_DP] == world / sp && c->rank[SWAT_SCOPE_DP] == rank / sp);
    for (int i = 0; i < 2 * SWAT_COMM_MAX_SHIFT; i++) c->req[i] = MPI_REQUEST_NULL;
    c->node = node_layout(c->world);
    return c;
}

void swat_comm_free(swat_comm *c)
{
    if (!c) return;
    SWAT_ASSERT(!c->shift_active); /* freeing a comm with a shift in flight */
    MPI_CALL(MPI_Comm_free, (&c->dp));
    MPI_CALL(MPI_Comm_free, (&c->sp));
    MPI_CALL(MPI_Comm_free, (&c->world));
    swat_free(c);
}

int swat_comm_rank(const swat_comm *c, swat_scope s)
{
    (void)scope_comm(c, s);
    return c->rank[s];
}

int swat_comm_size(const swat_comm *c, swat_scope s)
{
    (void)scope_comm(c, s);
    return c->size[s];
}

swat_node_info swat_comm_node(const swat_comm *c)
{
    SWAT_ASSERT(c != NULL);
    return c->node;
}

const void *swat_comm_mpi_world(const swat_comm *c)
{
    SWAT_ASSERT(c != NULL);
    return &c->world;
}

/* ---- halo shift ------------------------------------------------------------ */

void swat_comm_shift_start(swat_comm *c, int dir, int n, swat_real *const *send,
                           swat_real *const *recv, size_t count)
{
    SWAT_ASSERT(c != NULL && !c->shift_active);
    SWAT_ASSERT(dir == 1 || dir == -1);
    SWAT_ASSERT(n >= 0 && n <= SWAT_COMM_MAX_SHIFT);
    int cnt = as_count(count, "halo shift buffer");
    int me = c->rank[SWAT_SCOPE_SP], size = c->size[SWAT_SCOPE_SP];
    int dst = me + dir, src = me - dir;
    int has_dst = dst >= 0 && dst < size, has_src = src >= 0 && src < size;
    MPI_Datatype t = real_type();

    /* Receives first, so the sends can complete without unexpected-message
     * buffering; tag = buffer index keeps the n messages apart. */
    c->nreq = 0;
    for (int i = 0; i < n && has_src; i++) {
        SWAT_ASSERT(recv != NULL && recv[i] != NULL);
        MPI_CALL(MPI_Irecv, (recv[i], cnt, t, src, i, c->sp, &c->req[c->nreq++]));
    }
    for (int i = 0; i < n && has_dst; i++) {
        SWAT_ASSERT(send != NULL && send[i] != NULL);
        MPI_CALL(MPI_Isend, (send[i], cnt, t, dst, i, c->sp, &c->req[c->nreq++]));
    }
    c->shift_active = 1;
    c->shift_recv = has_src;
    c->shift_bytes = has_dst ? (double)n * (double)count * (double)sizeof(swat_real) : 0.0;
}

/* MPI_Waitall without statuses. MPICH defines MPI_STATUSES_IGNORE as
 * (MPI_Status *)1 and declares the parameter as an array, so GCC >= 11 warns
 * that 20 bytes are read from a region of size 0: a false positive MPICH
 * keeps (pmodels/mpich#5687; HDF5 silences it the same way). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif
static void waitall(int n, MPI_Request *req) { MPI_CALL(MPI_Waitall, (n, req, MPI_STATUSES_IGNORE)); }
/* The same for MPI_Testall (the bucket schedules' rounds). */
static void testall(int n, MPI_Request *req, int *flag)
{
    MPI_CALL(MPI_Testall, (n, req, flag, MPI_STATUSES_IGNORE));
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

int swat_comm_shift_wait(swat_comm *c)
{
    SWAT_ASSERT(c != NULL && c->shift_active);
    double t0 = swat_now();
    waitall(c->nreq, c->req);
    c->stats.wait_s += swat_now() - t0;
    c->stats.halo_bytes += c->shift_bytes;
    c->shift_active = 0;
    c->nreq = 0;
    return c->shift_recv;
}

/* ---- collectives ------------------------------------------------------------ */

void swat_comm_allreduce(swat_comm *c, swat_scope s, swat_real *buf, size_t n)
{
    MPI_Comm comm = scope_comm(c, s);
    double t0 = swat_now();
    for (size_t off = 0; off < n; off += SWAT_COMM_CHUNK) {
        size_t k = n - off < SWAT_COMM_CHUNK ? n - off : SWAT_COMM_CHUNK;
        MPI_CALL(MPI_Allreduce, (MPI_IN_PLACE, buf + off, (int)k, real_type(), MPI_SUM, comm));
    }
    c->stats.wait_s += swat_now() - t0;
    c->stats.reduce_bytes += (double)n * (double)sizeof(swat_real);
}

void swat_comm_allreduce_double(swat_comm *c, swat_scope s, double *buf, int n)
{
    MPI_Comm comm = scope_comm(c, s);
    SWAT_ASSERT(n >= 0);
    double t0 = swat_now();
    MPI_CALL(MPI_Allreduce, (MPI_IN_PLACE, buf, n, MPI_DOUBLE, MPI_SUM, comm));
    c->stats.wait_s += swat_now() - t0;
    c->stats.reduce_bytes += (double)n * (double)sizeof(double);
}

int swat_comm_any(swat_comm *c, int flag)
{
    SWAT_ASSERT(c != NULL);
    int v = flag != 0;
    double t0 = swat_now();
    MPI_CALL(MPI_Allreduce, (MPI_IN_PLACE, &v, 1, MPI_INT, MPI_LOR, c->world));
    c->stats.wait_s += swat_now() - t0;
    c->stats.reduce_bytes += (double)sizeof(int);
    return v != 0;
}

int64_t swat_comm_max_i64(swat_comm *c, int64_t x)
{
    SWAT_ASSERT(c != NULL);
    double t0 = swat_now();
    MPI_CALL(MPI_Allreduce, (MPI_IN_PLACE, &x, 1, MPI_INT64_T, MPI_MAX, c->world));
    c->stats.wait_s += swat_now() - t0;
    c->stats.reduce_bytes += (double)sizeof(int64_t);
    return x;
}

/* The merge of the ordered reduction in flight: an MPI user operation has no
 * context argument, and only the main thread calls MPI (FUNNELED). */
static void (*ordered_merge)(const void *left, void *right, int k);

static void ordered_op(void *in, void *inout, int *len, MPI_Datatype *type)
{
    (void)type;
    ordered_merge(in, inout, *len); /* MPI: inout = in ∘ inout, in from lower ranks */
}

void swat_comm_allreduce_ordered(swat_comm *c, void *buf, int n, size_t size,
                                 void (*merge)(const void *left, void *right, int k))
{
    SWAT_ASSERT(c != NULL && n >= 0 && size > 0 && size <= (size_t)INT_MAX && merge != NULL);
    SWAT_ASSERT(ordered_merge == NULL); /* not reentrant */
    MPI_Datatype record;
    MPI_Op op;
    /* one datatype per record: MPI may cut a buffer into segments, never a record */
    MPI_CALL(MPI_Type_contiguous, ((int)size, MPI_BYTE, &record));
    MPI_CALL(MPI_Type_commit, (&record));
    MPI_CALL(MPI_Op_create, (ordered_op, 0 /* not commutative: rank order kept */, &op));
    ordered_merge = merge;
    double t0 = swat_now();
    MPI_CALL(MPI_Allreduce, (MPI_IN_PLACE, buf, n, record, op, c->world));
    c->stats.wait_s += swat_now() - t0;
    c->stats.reduce_bytes += (double)n * (double)size;
    ordered_merge = NULL;
    MPI_CALL(MPI_Op_free, (&op));
    MPI_CALL(MPI_Type_free, (&record));
}

int swat_comm_agree(swat_comm *c, int rc, char *err)
{
    SWAT_ASSERT(c != NULL);
    int world = c->size[SWAT_SCOPE_WORLD];
    int first = rc != 0 ? c->rank[SWAT_SCOPE_WORLD] : world; /* world: no failure */
    double t0 = swat_now();
    MPI_CALL(MPI_Allreduce, (MPI_IN_PLACE, &first, 1, MPI_INT, MPI_MIN, c->world));
    c->stats.wait_s += swat_now() - t0;
    c->stats.reduce_bytes += (double)sizeof(int);
    if (first == world) return 0;
    swat_comm_bcast(c, err, SWAT_ERR_LEN, first);
    err[SWAT_ERR_LEN - 1] = '\0';
    return -1;
}

void swat_comm_reduce_scatter(swat_comm *c, const swat_real *buf, swat_real *shard_out,
                              size_t shard)
{
    SWAT_ASSERT(c != NULL);
    int world = c->size[SWAT_SCOPE_WORLD];
    int cnt = as_count(shard, "reduce-scatter shard");
    /* MPI forbids overlapping send and receive buffers (the in-place form
     * would put the result at the start of buf, not at this rank's block). */
    uintptr_t b0 = (uintptr_t)buf, b1 = b0 + (uintptr_t)world * shard * sizeof(swat_real);
    uintptr_t o0 = (uintptr_t)shard_out, o1 = o0 + shard * sizeof(swat_real);
    SWAT_ASSERT(shard == 0 || o1 <= b0 || b1 <= o0);
    double t0 = swat_now();
    MPI_CALL(MPI_Reduce_scatter_block, (buf, shard_out, cnt, real_type(), MPI_SUM, c->world));
    c->stats.wait_s += swat_now() - t0;
    c->stats.reduce_bytes += (double)world * (double)shard * (double)sizeof(swat_real);
    c->stats.wire_bytes += (double)(world - 1) * (double)shard * (double)sizeof(swat_real);
    c->stats.reductions++;
}

void swat_comm_allgather(swat_comm *c, swat_real *buf, size_t shard)
{
    SWAT_ASSERT(c != NULL);
    int cnt = as_count(shard, "all-gather shard");
    double t0 = swat_now();
    MPI_CALL(MPI_Allgather, (MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, cnt, real_type(), c->world));
    c->stats.wait_s += swat_now() - t0;
    c->stats.reduce_bytes += (double)shard * (double)sizeof(swat_real);
    c->stats.wire_bytes +=
        (double)(c->size[SWAT_SCOPE_WORLD] - 1) * (double)shard * (double)sizeof(swat_real);
    c->stats.gathers++;
}

void swat_comm_allgather_i64(swat_comm *c, const int64_t *mine, int64_t *all, int n)
{
    SWAT_ASSERT(c != NULL && n >= 0);
    double t0 = swat_now();
    MPI_CALL(MPI_Allgather, (mine, n, MPI_INT64_T, all, n, MPI_INT64_T, c->world));
    c->stats.wait_s += swat_now() - t0;
    c->stats.reduce_bytes += (double)n * (double)sizeof(int64_t);
}

void swat_comm_bcast(swat_comm *c, void *buf, size_t bytes, int root)
{
    SWAT_ASSERT(c != NULL && root >= 0 && root < c->size[SWAT_SCOPE_WORLD]);
    double t0 = swat_now();
    for (size_t off = 0; off < bytes; off += SWAT_COMM_CHUNK) {
        size_t k = bytes - off < SWAT_COMM_CHUNK ? bytes - off : SWAT_COMM_CHUNK;
        MPI_CALL(MPI_Bcast, ((char *)buf + off, (int)k, MPI_BYTE, root, c->world));
    }
    c->stats.wait_s += swat_now() - t0;
    if (c->rank[SWAT_SCOPE_WORLD] == root) c->stats.reduce_bytes += (double)bytes;
}

void swat_comm_barrier(swat_comm *c)
{
    SWAT_ASSERT(c != NULL);
    double t0 = swat_now();
    MPI_CALL(MPI_Barrier, (c->world));
    c->stats.wait_s += swat_now() - t0;
}

/* ---- statistics ------------------------------------------------------------- */

void swat_comm_stats_reset(swat_comm *c)
{
    SWAT_ASSERT(c != NULL);
    c->stats = (swat_comm_stats){0};
}

swat_comm_stats swat_comm_stats_get(const swat_comm *c)
{
    SWAT_ASSERT(c != NULL);
    return c->stats;
}

int swat_comm_thread_multiple(void)
{
    int level = MPI_THREAD_SINGLE;
    if (!mpi_up()) return 0;
    MPI_CALL(MPI_Query_thread, (&level));
    return level == MPI_THREAD_MULTIPLE;
}

/* ---- moving pieces between ranks ---------------------------------------------- */

/* Pieces travel in messages of at most this many bytes (MPI counts are int). */
#define SWAT_COMM_PIECE_BYTES ((size_t)1 << 30)
#define SWAT_COMM_TAG_EXCHANGE 17

/* Messages of a piece of n elements: the same cut on both sides. */
static size_t piece_msgs(size_t n, size_t es)
{
    size_t per = SWAT_COMM_PIECE_BYTES / es;
    return n == 0 ? 0 : (n + per - 1) / per;
}

void swat_comm_exchange(swat_comm *c, const void *sendbuf, const swat_piece *send, int nsend,
                        void *recvbuf, const swat_piece *recv, int nrecv, size_t es)
{
    SWAT_ASSERT(c != NULL && nsend >= 0 && nrecv >= 0 && es > 0 && es <= SWAT_COMM_PIECE_BYTES);
    int me = c->rank[SWAT_SCOPE_WORLD], world = c->size[SWAT_SCOPE_WORLD];
    size_t per = SWAT_COMM_PIECE_BYTES / es, nmsg = 0;
    for (int i = 0; i < nsend; i++) nmsg += send[i].peer == me ? 0 : piece_msgs(send[i].n, es);
    for (int i = 0; i < nrecv; i++) nmsg += recv[i].peer == me ? 0 : piece_msgs(recv[i].n, es);
    MPI_Request *req = swat_malloc(sizeof *req * (nmsg + 1));
    int nreq = 0;
    double t0 = swat_now();
    /* receives first; one tag, so the pieces of a pair match in listed order */
    for (int i = 0; i < nrecv; i++) {
        const swat_piece *p = &recv[i];
        SWAT_ASSERT(p->peer >= 0 && p->peer < world);
        if (p->peer == me) continue;
        for (size_t k = 0; k < p->n; k += per) {
            size_t m = p->n - k < per ? p->n - k : per;
            MPI_CALL(MPI_Irecv, ((char *)recvbuf + (p->off + k) * es, (int)(m * es), MPI_BYTE,
                                 p->peer, SWAT_COMM_TAG_EXCHANGE, c->world, &req[nreq++]));
        }
    }
    for (int i = 0; i < nsend; i++) {
        const swat_piece *p = &send[i];
        SWAT_ASSERT(p->peer >= 0 && p->peer < world);
        if (p->peer == me) continue;
        for (size_t k = 0; k < p->n; k += per) {
            size_t m = p->n - k < per ? p->n - k : per;
            MPI_CALL(MPI_Isend, ((const char *)sendbuf + (p->off + k) * es, (int)(m * es), MPI_BYTE,
                                 p->peer, SWAT_COMM_TAG_EXCHANGE, c->world, &req[nreq++]));
        }
        c->stats.reduce_bytes += (double)p->n * (double)es;
    }
    /* pieces to oneself: the k-th sent is the k-th received */
    int r = 0;
    for (int i = 0; i < nsend; i++) {
        if (send[i].peer != me) continue;
        while (r < nrecv && recv[r].peer != me) r++;
        SWAT_ASSERT(r < nrecv && recv[r].n == send[i].n); /* the two lists disagree */
        const char *src = (const char *)sendbuf + send[i].off * es;
        char *dst = (char *)recvbuf + recv[r].off * es;
        if (src != dst) memmove(dst, src, send[i].n * es);
        r++;
    }
    waitall(nreq, req);
    c->stats.wait_s += swat_now() - t0;
    swat_free(req);
}

/* ---- bucketed ZeRO-1 collectives -------------------------------------------------
 *
 * A transfer is a sequence of rounds; round k sends one contiguous range of
 * the bucket to one rank and receives one from another (the same rank in
 * recursive halving/doubling, the ring's neighbours otherwise). Round k + 1
 * is posted when both messages of round k are complete and, in a
 * reduce-scatter, the received partial sums are added into the gradients:
 *
 *   reduce-scatter, P = 2^q, round k = 0 … q−1 (recursive halving): the rank
 *     holds partial sums of the 2m slices [base, base + 2m), m = P >> (k+1);
 *     it sends the half its partner rank ^ m keeps and adds the partner's
 *     partial sums of its own half. Element x is summed in one balanced tree
 *     over the ranks (pairs differing in the top bit first), whoever owns x:
 *     the bits of a sum do not depend on the bucket plan or the timing.
 *   all-gather, P = 2^q (recursive doubling): in round k the rank holds the
 *     m = 2^k slices of its block and swaps them with rank ^ m.
 *   other P: rings (P − 1 rounds): reduce-scatter round k sends slice
 *     (r − k − 1) mod P to r + 1 and adds slice (r − k − 2) mod P from r − 1
 *     (slice s is summed from rank s + 1 around to s); all-gather round k
 *     passes slice (r − k) mod P on.
 * Every schedule sends (P − 1)/P of the bucket per rank, the least any
 * reduce-scatter or all-gather can; recursive halving/doubling takes log2 P
 * rounds (latency) where the ring takes P − 1.
 *
 * Messages carry tag 2j (reduce) or 2j + 1 (gather) on a private dup of the
 * world, so rounds of one bucket between two ranks match in order (MPI does
 * not overtake) and buckets never cross. At most BUCKET_SLOTS transfers are
 * in flight, and at most GATHER_SLOTS (one) all-gathers among them; the
 * others wait in a queue in start order, which is the same on every rank,
 * and none overtakes an earlier one of its kind, so the earliest started
 * always completes. Transfers in flight share the links, and the forward
 * pass needs the first buckets first: with 4 all-gathers in flight, the
 * embedding's (needed first) ended with the 3 after it (simulated,
 * bench/simgrid: 30 ms instead of 11 at 64 ranks); one at a time, each
 * arrives as early as the link allows. The reduce-scatters are all needed
 * before the norm, so 4 in flight cost nothing and hide the rounds'
 * latency. A reduce-scatter takes one of BUCKET_SLOTS receive buffers
 * (sized for the largest round); gathers receive in place.
 *
 * Progress. MPI moves a message only inside MPI calls (Open MPI has no
 * asynchronous progress over TCP or shared memory), and only this code can
 * add a round's sums and post the next round. Polling: the model calls
 * swat_buckets_progress between its products, each call tests every transfer
 * and moves it as far as it goes. Thread: a progress thread loops over the
 * same calls, sleeping poll_us between rounds that are not complete yet, and
 * waits on a condition when nothing is in flight; every field below the
 * mutex is then shared with it, and the main thread's calls take the mutex.
 * Statistics are counted by the main thread only (at start and at wait). */

enum { OP_NONE = 0, OP_REDUCE = 1, OP_GATHER = 2 };
#define BUCKET_SLOTS 4
#define GATHER_SLOTS 1

typedef struct bucket_op {
    int kind;    /* transfer in flight (or queued): OP_REDUCE, OP_GATHER; OP_NONE when idle */
    int round, nrounds;
    int slot;    /* receive buffer of a reduce, −1 */
    swat_wire wire;
    void *buf;
    MPI_Request req[2]; /* receive, send of the current round */
} bucket_op;

/* Round k of a transfer: send [s0, s0 + sn) of the bucket to `to`, receive
 * [r0, r0 + rn) from `from` (element offsets within the bucket). */
typedef struct round_t {
    int to, from;
    size_t s0, sn, r0, rn;
} round_t;

struct swat_buckets {
    swat_comm *c;
    MPI_Comm comm; /* private dup of the world */
    int rank, world, pow2, log2p;
    int n;
    swat_bucket *b;
    swat_buckets_opts opts;
    MPI_Datatype t_bf16; /* one bfloat16 as the parameter buffer holds it */
    size_t es_bf16;      /* its stride in that buffer */
    size_t slot_elems;   /* largest reduce round received */
    void *slot_recv[BUCKET_SLOTS], *slot_send[BUCKET_SLOTS];
    MPI_Request *wreq; /* scratch of the blocking wait [2n] */
    int *widx;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    /* shared with the progress thread (under mu) */
    bucket_op *op;
    int slot_used[BUCKET_SLOTS];
    int *queue, qlen;        /* transfers waiting for room, in start order */
    int *active, nactive;    /* transfers in flight, in start order */
    int stop;
};

static void zlock(swat_buckets *z)
{
    if (z->opts.thread) pthread_mutex_lock(&z->mu);
}

static void zunlock(swat_buckets *z)
{
    if (z->opts.thread) pthread_mutex_unlock(&z->mu);
}

/* ⌊i·n/P⌋ without overflow for any n < 2^64 / P: the start of slice i. */
static size_t slice_start(size_t n, int world, int i)
{
    size_t P = (size_t)world, k = (size_t)i;
    return n / P * k + n % P * k / P;
}

void swat_bucket_slice(const swat_bucket *b, int world, int rank, size_t *lo, size_t *hi)
{
    SWAT_ASSERT(b->lo <= b->hi && world >= 1 && rank >= 0 && rank < world);
    size_t n = b->hi - b->lo;
    *lo = b->lo + slice_start(n, world, rank);
    *hi = b->lo + slice_start(n, world, rank + 1);
}

static int nrounds_of(const swat_buckets *z)
{
    return z->world == 1 ? 0 : z->pow2 ? z->log2p : z->world - 1;
}

static void schedule(const swat_buckets *z, int j, int kind, int k, round_t *r)
{
    size_t n = z->b[j].hi - z->b[j].lo;
    int P = z->world, me = z->rank, sb, rb, cnt;
    if (z->pow2 && kind == OP_REDUCE) {
        int m = P >> (k + 1), base = me & ~(2 * m - 1);
        rb = (me & m) ? base + m : base;
        sb = (me & m) ? base : base + m;
        cnt = m;
        r->to = r->from = me ^ m;
    } else if (z->pow2) {
        int m = 1 << k;
        sb = me & ~(m - 1);
        rb = sb ^ m;
        cnt = m;
        r->to = r->from = me ^ m;
    } else {
        int d = kind == OP_REDUCE ? 1 : 0;
        sb = ((me - k - d) % P + P) % P;
        rb = ((me - k - d - 1) % P + P) % P;
        cnt = 1;
        r->to = (me + 1) % P;
        r->from = (me + P - 1) % P;
    }
    r->s0 = slice_start(n, P, sb);
    r->sn = slice_start(n, P, sb + cnt) - r->s0;
    r->r0 = slice_start(n, P, rb);
    r->rn = slice_start(n, P, rb + cnt) - r->r0;
}

static size_t wire_size(const swat_buckets *z, swat_wire w)
{
    (void)z;
    return w == SWAT_WIRE_BF16 ? sizeof(swat_bf16) : sizeof(swat_real);
}

double swat_buckets_bytes(const swat_buckets *z, int j, int gather, swat_wire wire)
{
    SWAT_ASSERT(j >= 0 && j < z->n);
    double sent = 0;
    round_t r;
    for (int k = 0; k < nrounds_of(z); k++) {
        schedule(z, j, gather ? OP_GATHER : OP_REDUCE, k, &r);
        sent += (double)r.sn;
    }
    return sent * (double)wire_size(z, wire);
}

static void post_round(swat_buckets *z, int j)
{
    bucket_op *o = &z->op[j];
    round_t r;
    schedule(z, j, o->kind, o->round, &r);
    size_t lo = z->b[j].lo;
    int tag = 2 * j + (o->kind == OP_GATHER);
    int rn = as_count(r.rn, "bucket round"), sn = as_count(r.sn, "bucket round");
    if (o->kind == OP_REDUCE) {
        swat_real *g = (swat_real *)o->buf + lo;
        if (o->wire == SWAT_WIRE_REAL) {
            MPI_CALL(MPI_Irecv, (z->slot_recv[o->slot], rn, real_type(), r.from, tag, z->comm,
                                 &o->req[0]));
            MPI_CALL(MPI_Isend, (g + r.s0, sn, real_type(), r.to, tag, z->comm, &o->req[1]));
        } else {
            swat_bf16 *out = z->slot_send[o->slot];
            const swat_real *src = g + r.s0;
            for (size_t i = 0; i < r.sn; i++) out[i] = swat_bf16_from_float((float)src[i]);
            MPI_CALL(MPI_Irecv, (z->slot_recv[o->slot], rn, MPI_UINT16_T, r.from, tag, z->comm,
                                 &o->req[0]));
            MPI_CALL(MPI_Isend, (out, sn, MPI_UINT16_T, r.to, tag, z->comm, &o->req[1]));
        }
        return;
    }
    MPI_Datatype t = o->wire == SWAT_WIRE_REAL ? real_type() : z->t_bf16;
    size_t es = o->wire == SWAT_WIRE_REAL ? sizeof(swat_real) : z->es_bf16;
    char *base = (char *)o->buf + lo * es;
    MPI_CALL(MPI_Irecv, (base + r.r0 * es, rn, t, r.from, tag, z->comm, &o->req[0]));
    MPI_CALL(MPI_Isend, (base + r.s0 * es, sn, t, r.to, tag, z->comm, &o->req[1]));
}

/* A reduce round's received partial sums into the gradients. */
static void add_round(swat_buckets *z, int j)
{
    bucket_op *o = &z->op[j];
    round_t r;
    schedule(z, j, OP_REDUCE, o->round, &r);
    swat_real *g = (swat_real *)o->buf + z->b[j].lo + r.r0;
    int64_t n = (int64_t)r.rn;
    /* the polling caller may use the rank's threads; the progress thread adds alone */
    int par = !z->opts.thread && n >= ((int64_t)1 << 16);
    if (o->wire == SWAT_WIRE_REAL) {
        const swat_real *in = z->slot_recv[o->slot];
#pragma omp parallel for simd schedule(static) if (par)
        for (int64_t i = 0; i < n; i++) g[i] += in[i];
    } else {
        const swat_bf16 *in = z->slot_recv[o->slot];
#pragma omp parallel for simd schedule(static) if (par)
        for (int64_t i = 0; i < n; i++) g[i] += (swat_real)swat_bf16_to_float(in[i]);
    }
}

/* Room for transfer j in flight: fewer than BUCKET_SLOTS transfers, and for
 * an all-gather, fewer than GATHER_SLOTS all-gathers. Lock held. */
static int has_room(const swat_buckets *z, int j)
{
    if (z->nactive == BUCKET_SLOTS) return 0;
    if (z->op[j].kind != OP_GATHER) return 1;
    int gathers = 0;
    for (int i = 0; i < z->nactive; i++) gathers += z->op[z->active[i]].kind == OP_GATHER;
    return gathers < GATHER_SLOTS;
}

/* Transfer j in flight, with a receive buffer for a reduce. Lock held. */
static void activate(swat_buckets *z, int j)
{
    if (z->op[j].kind == OP_REDUCE) {
        int s = 0;
        while (z->slot_used[s]) s++; /* fewer than BUCKET_SLOTS in flight: one is free */
        z->slot_used[s] = 1;
        z->op[j].slot = s;
    }
    z->active[z->nactive++] = j;
    post_round(z, j);
}

/* The queued transfers in flight, in start order, as far as there is room:
 * none overtakes an earlier one of its kind. Lock held. */
static void drain(swat_buckets *z)
{
    int k = 0;
    for (int i = 0; i < z->qlen; i++) {
        int j = z->queue[i];
        if (has_room(z, j))
            activate(z, j);
        else
            z->queue[k++] = j;
    }
    z->qlen = k;
}

/* Transfer j started: queued, then in flight if there is room. Lock held. */
static void admit(swat_buckets *z, int j)
{
    z->queue[z->qlen++] = j;
    drain(z);
}

/* Transfer j is complete. Lock held. */
static void finish(swat_buckets *z, int j)
{
    bucket_op *o = &z->op[j];
    int slot = o->slot;
    o->kind = OP_NONE;
    o->slot = -1;
    o->buf = NULL;
    if (slot >= 0) z->slot_used[slot] = 0;
    drain(z);
}

/* Moves every transfer in flight as far as it goes; the number that
 * completed. Lock held. */
static int advance(swat_buckets *z)
{
    int completed = 0;
    for (int i = 0; i < z->nactive;) {
        int j = z->active[i], over = 0;
        bucket_op *o = &z->op[j];
        for (;;) {
            int flag = 0;
            testall(2, o->req, &flag);
            if (!flag) break;
            if (o->kind == OP_REDUCE) add_round(z, j);
            if (++o->round == o->nrounds) {
                over = 1;
                break;
            }
            post_round(z, j);
        }
        if (!over) {
            i++;
            continue;
        }
        memmove(z->active + i, z->active + i + 1, sizeof(int) * (size_t)(z->nactive - i - 1));
        z->nactive--;
        finish(z, j); /* may activate queued transfers at the end of the list */
        completed++;
    }
    return completed;
}

/* Blocks in MPI until one request in flight completes. Lock held (polling
 * mode only). */
static void block_any(swat_buckets *z)
{
    int n = 0;
    for (int i = 0; i < z->nactive; i++)
        for (int q = 0; q < 2; q++)
            if (z->op[z->active[i]].req[q] != MPI_REQUEST_NULL) {
                z->wreq[n] = z->op[z->active[i]].req[q];
                z->widx[n++] = 2 * z->active[i] + q;
            }
    if (n == 0) return;
    int idx = MPI_UNDEFINED;
    MPI_CALL(MPI_Waitany, (n, z->wreq, &idx, MPI_STATUS_IGNORE));
    if (idx != MPI_UNDEFINED) z->op[z->widx[idx] / 2].req[z->widx[idx] % 2] = MPI_REQUEST_NULL;
}

static void *progress_main(void *arg)
{
    swat_buckets *z = arg;
    struct timespec nap = {0, (long)(z->opts.poll_us * 1e3)};
    pthread_mutex_lock(&z->mu);
    while (!z->stop) {
        if (z->nactive == 0) {
            pthread_cond_wait(&z->work, &z->mu);
            continue;
        }
        if (advance(z) > 0) pthread_cond_broadcast(&z->done);
        if (z->nactive == 0) continue;
        pthread_mutex_unlock(&z->mu);
        nanosleep(&nap, NULL);
        pthread_mutex_lock(&z->mu);
    }
    pthread_mutex_unlock(&z->mu);
    return NULL;
}

swat_buckets *swat_buckets_create(swat_comm *c, const swat_bucket *b, int n,
                                  const swat_buckets_opts *opts)
{
    SWAT_ASSERT(c != NULL && n >= 1 && opts != NULL);
    SWAT_ASSERT(!opts->thread || swat_comm_thread_multiple());
    swat_buckets *z = swat_calloc(sizeof *z);
    z->c = c;
    z->opts = *opts;
    z->rank = c->rank[SWAT_SCOPE_WORLD];
    z->world = c->size[SWAT_SCOPE_WORLD];
    z->pow2 = (z->world & (z->world - 1)) == 0;
    while ((1 << z->log2p) < z->world) z->log2p++;
    SWAT_ASSERT(2 * (int64_t)n + 1 < 32767); /* tags: MPI guarantees 32767 */
    z->n = n;
    z->b = swat_malloc(sizeof *z->b * (size_t)n);
    memcpy(z->b, b, sizeof *z->b * (size_t)n);
    for (int j = 0; j < n; j++) SWAT_ASSERT(b[j].lo <= b[j].hi && (j == 0 || b[j - 1].hi <= b[j].lo));
    z->op = swat_calloc(sizeof *z->op * (size_t)n);
    for (int j = 0; j < n; j++) {
        z->op[j].slot = -1;
        z->op[j].req[0] = z->op[j].req[1] = MPI_REQUEST_NULL;
    }
    z->queue = swat_malloc(sizeof(int) * (size_t)n);
    z->active = swat_malloc(sizeof(int) * (size_t)n);
    z->wreq = swat_malloc(sizeof(MPI_Request) * 2 * (size_t)n);
    z->widx = swat_malloc(sizeof(int) * 2 * (size_t)n);
    MPI_CALL(MPI_Comm_dup, (c->world, &z->comm));
    MPI_CALL(MPI_Comm_set_errhandler, (z->comm, MPI_ERRORS_RETURN));

    /* bf16 on the wire: the buffer's uint16s, or the upper halves of rounded floats */
    if (opts->rounded) {
        SWAT_ASSERT(sizeof(swat_real) == sizeof(float)); /* bf16 is the top of a float */
        const float one = 1.0f;
        unsigned char bytes[sizeof one];
        memcpy(bytes, &one, sizeof one); /* 0x3f800000: the high byte holds 0x3f */
        int blen = 1;
        MPI_Aint disp = bytes[3] == 0x3f ? 2 : 0;
        MPI_Datatype u16 = MPI_UINT16_T, half;
        MPI_CALL(MPI_Type_create_struct, (1, &blen, &disp, &u16, &half));
        MPI_CALL(MPI_Type_create_resized, (half, 0, (MPI_Aint)sizeof(float), &z->t_bf16));
        MPI_CALL(MPI_Type_free, (&half));
        MPI_CALL(MPI_Type_commit, (&z->t_bf16));
        z->es_bf16 = sizeof(float);
    } else {
        MPI_CALL(MPI_Type_dup, (MPI_UINT16_T, &z->t_bf16));
        z->es_bf16 = sizeof(swat_bf16);
    }

    /* reduce buffers: the largest round any bucket receives (or sends, in bf16) */
    size_t most = 1;
    round_t r;
    for (int j = 0; j < n; j++)
        for (int k = 0; k < nrounds_of(z); k++) {
            schedule(z, j, OP_REDUCE, k, &r);
            if (r.rn > most) most = r.rn;
            if (r.sn > most) most = r.sn;
        }
    z->slot_elems = most;
    size_t es = opts->grad_wire == SWAT_WIRE_BF16 ? sizeof(swat_bf16) : sizeof(swat_real);
    for (int s = 0; s < BUCKET_SLOTS && z->world > 1; s++) {
        z->slot_recv[s] = swat_malloc(es * most);
        if (opts->grad_wire == SWAT_WIRE_BF16) z->slot_send[s] = swat_malloc(es * most);
    }
    if (opts->thread) {
        pthread_mutex_init(&z->mu, NULL);
        pthread_cond_init(&z->work, NULL);
        pthread_cond_init(&z->done, NULL);
        /* Under a real-time policy (chrt) a thread that wakes from its nap
         * waits for the compute thread of its core to block; one priority
         * above it, the short bursts preempt at once (under the default
         * policy the scheduler favours a thread that slept anyway). */
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        struct sched_param sp;
        int policy = SCHED_OTHER;
        if (pthread_getschedparam(pthread_self(), &policy, &sp) == 0 &&
            (policy == SCHED_FIFO || policy == SCHED_RR) &&
            sp.sched_priority < sched_get_priority_max(policy)) {
            sp.sched_priority++;
            pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
            pthread_attr_setschedpolicy(&attr, policy);
            pthread_attr_setschedparam(&attr, &sp);
        }
        if (pthread_create(&z->thread, &attr, progress_main, z) != 0)
            swat_die(1, "swat_buckets_create: cannot start the progress thread");
        pthread_attr_destroy(&attr);
    }
    return z;
}

void swat_buckets_free(swat_buckets *z)
{
    if (!z) return;
    zlock(z);
    SWAT_ASSERT(z->nactive == 0 && z->qlen == 0); /* transfers in flight */
    z->stop = 1;
    if (z->opts.thread) pthread_cond_signal(&z->work);
    zunlock(z);
    if (z->opts.thread) {
        pthread_join(z->thread, NULL);
        pthread_cond_destroy(&z->done);
        pthread_cond_destroy(&z->work);
        pthread_mutex_destroy(&z->mu);
    }
    MPI_CALL(MPI_Type_free, (&z->t_bf16));
    MPI_CALL(MPI_Comm_free, (&z->comm));
    for (int s = 0; s < BUCKET_SLOTS; s++) {
        swat_free(z->slot_recv[s]);
        swat_free(z->slot_send[s]);
    }
    swat_free(z->b);
    swat_free(z->op);
    swat_free(z->queue);
    swat_free(z->active);
    swat_free(z->wreq);
    swat_free(z->widx);
    swat_free(z);
}

/* Starts transfer `kind` of bucket j. Main thread. */
static void start(swat_buckets *z, int j, int kind, void *buf, swat_wire wire)
{
    SWAT_ASSERT(j >= 0 && j < z->n && buf != NULL);
    z->c->stats.wire_bytes += swat_buckets_bytes(z, j, kind == OP_GATHER, wire);
    if (kind == OP_REDUCE)
        z->c->stats.reductions++;
    else
        z->c->stats.gathers++;
    zlock(z);
    bucket_op *o = &z->op[j];
    SWAT_ASSERT(o->kind == OP_NONE); /* one transfer per bucket at a time */
    o->round = 0;
    o->nrounds = nrounds_of(z);
    o->wire = wire;
    o->buf = buf;
    o->slot = -1;
    if (o->nrounds > 0) {
        o->kind = kind;
        admit(z, j);
        if (z->opts.thread) pthread_cond_signal(&z->work);
    }
    zunlock(z);
}

void swat_buckets_reduce_start(swat_buckets *z, int j, swat_real *grads)
{
    start(z, j, OP_REDUCE, grads, z->opts.grad_wire);
}

void swat_buckets_gather_start(swat_buckets *z, int j, void *buf, int wire)
{
    SWAT_ASSERT(j >= 0 && j < z->n);
    swat_wire w = wire >= 0 ? (swat_wire)wire : z->b[j].wire;
    SWAT_ASSERT(w == SWAT_WIRE_REAL || !z->opts.rounded || sizeof(swat_real) == sizeof(float));
    start(z, j, OP_GATHER, buf, w);
}

int swat_buckets_done(swat_buckets *z, int j)
{
    SWAT_ASSERT(j >= 0 && j < z->n);
    zlock(z);
    int idle = z->op[j].kind == OP_NONE;
    zunlock(z);
    return idle;
}

void swat_buckets_wait(swat_buckets *z, int j)
{
    SWAT_ASSERT(j >= 0 && j < z->n);
    double t0 = swat_now();
    zlock(z);
    if (z->opts.thread) {
        while (z->op[j].kind != OP_NONE) pthread_cond_wait(&z->done, &z->mu);
    } else {
        while (z->op[j].kind != OP_NONE) {
            advance(z);
            if (z->op[j].kind != OP_NONE) block_any(z);
        }
    }
    zunlock(z);
    double dt = swat_now() - t0;
    z->c->stats.wait_s += dt;
    z->c->stats.bucket_wait_s += dt;
}

void swat_buckets_progress(swat_buckets *z)
{
    if (z->opts.thread || z->nactive == 0) return;
    double t0 = swat_now();
    advance(z);
    z->c->stats.poll_s += swat_now() - t0;
}
