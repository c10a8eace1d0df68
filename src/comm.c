/* SPDX-License-Identifier: MIT */
/* comm.c: every MPI call of swat: start-up and abort, the sequence- and
 * data-parallel communicators (README "Parallel layout"), the halo shift
 * between sequence chunks, the collectives of the update (gradient
 * reduce-scatter, parameter all-gather, scalar all-reduces), the agreement on
 * an error, the ordered reduction of checkpoint checksums, and the count of
 * ranks and CPUs per node that the thread policy (gemm.h) needs.
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
 * Determinism: only plain MPI collectives on fixed communicators are used (no
 * MPI_ANY_SOURCE, no nonblocking reductions completing in arrival order, no
 * atomics). Open MPI's reduction algorithms (coll/tuned) are selected from the
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
 *                collective (including the barrier and broadcast). */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "swat/comm.h"

#include <limits.h>
#include <mpi.h>
#include <sched.h>
#include <unistd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

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
        MPI_CALL(MPI_Init_thread, (argc, argv, MPI_THREAD_FUNNELED, &provided));
        /* Only the main thread calls MPI (BLIS/OpenMP threads never do); an
         * MPI that offers less than FUNNELED still works in practice. */
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
}

void swat_comm_allgather(swat_comm *c, swat_real *buf, size_t shard)
{
    SWAT_ASSERT(c != NULL);
    int cnt = as_count(shard, "all-gather shard");
    double t0 = swat_now();
    MPI_CALL(MPI_Allgather, (MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, cnt, real_type(), c->world));
    c->stats.wait_s += swat_now() - t0;
    c->stats.reduce_bytes += (double)shard * (double)sizeof(swat_real);
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
