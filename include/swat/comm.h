/* SPDX-License-Identifier: MIT */
/* comm.h: every MPI call of swat lives behind this header (comm.c is the only
 * file besides ckpt.c that includes mpi.h).
 *
 * Layout (README "Parallel layout"): world = sp × dp. Sequence groups are sp
 * consecutive world ranks (one sequence cut into sp chunks, chunk c on
 * sp-rank c); data groups collect the ranks of equal sp-rank across sequence
 * groups. The optimizer state is sharded over the whole world (ZeRO-1).
 *
 * Buffers of swat_real travel as MPI_FLOAT, or MPI_DOUBLE in the -DSWAT_DOUBLE
 * build. Every MPI return code is checked; a failure aborts the job. */
#ifndef SWAT_COMM_H
#define SWAT_COMM_H

#include "swat/common.h"

typedef struct swat_comm swat_comm;

typedef enum { SWAT_SCOPE_WORLD = 0, SWAT_SCOPE_SP = 1, SWAT_SCOPE_DP = 2 } swat_scope;

/* MPI_Init_thread asking for MPI_THREAD_MULTIPLE (the progress thread of
 * swat_buckets calls MPI beside the main thread; less is accepted, and that
 * thread is then refused), MPI_ERRORS_RETURN on the world, the abort hook of
 * common.h, and swat_log_set_rank. Returns the world size. */
int swat_comm_init(int *argc, char ***argv);
/* MPI_Finalize. */
void swat_comm_finalize(void);
/* MPI_Abort(MPI_COMM_WORLD, code). */
_Noreturn void swat_comm_abort(int code);
int swat_comm_world_rank(void);
int swat_comm_world_size(void);

/* Splits the world into sequence groups of sp ranks and data groups.
 * sp must divide the world size (checked by the config first). */
swat_comm *swat_comm_create(int sp);
void swat_comm_free(swat_comm *c);

int swat_comm_rank(const swat_comm *c, swat_scope s);
int swat_comm_size(const swat_comm *c, swat_scope s);

/* This rank's node, as counted at swat_comm_create: ranks = the world ranks
 * sharing its node (MPI_Comm_split_type, MPI_COMM_TYPE_SHARED, so no
 * launcher's variables are needed), cpus = the CPUs those ranks may use
 * together (the union of their affinity masks), nodes = nodes in the job. */
typedef struct swat_node_info {
    int ranks, cpus, nodes;
} swat_node_info;
swat_node_info swat_comm_node(const swat_comm *c);

/* Nonblocking neighbour shift inside the sequence group: every rank sends
 * `count` reals from send[i] (i < n) to its neighbour in direction dir
 * (+1 = the next sp-rank, −1 = the previous) and receives as many into
 * recv[i] from the neighbour on the other side. Ranks at the ends skip the
 * missing side. At most one shift is in flight per comm. */
void swat_comm_shift_start(swat_comm *c, int dir, int n, swat_real *const *send,
                           swat_real *const *recv, size_t count);
/* Waits for the shift; returns 1 if this rank received data, 0 if it has no
 * neighbour on the receiving side. */
int swat_comm_shift_wait(swat_comm *c);

/* In-place sum of buf[n] over the scope. */
void swat_comm_allreduce(swat_comm *c, swat_scope s, swat_real *buf, size_t n);
/* Sum of doubles over the scope (losses, norms). */
void swat_comm_allreduce_double(swat_comm *c, swat_scope s, double *buf, int n);
/* Logical OR of a flag over the world (stop requests, errors). */
int swat_comm_any(swat_comm *c, int flag);
/* Max of int64 over the world. */
int64_t swat_comm_max_i64(swat_comm *c, int64_t x);
/* Makes a user error that some ranks saw the error of all: rc is this rank's
 * status (non-zero: failed, with its one-line message in err, SWAT_ERR_LEN
 * bytes). Returns 0 on every rank when none failed, else −1 on every rank
 * with err holding the message of the lowest failing rank, so that rank 0
 * can print it once. */
int swat_comm_agree(swat_comm *c, int rc, char *err);

/* In-place reduction over the world of n records of `size` bytes each, in
 * rank order: record i ends up, on every rank, as the merge of the ranks'
 * records i, rank 0's leftmost. merge(left, right, k) overwrites the k
 * records of right with left·right; it must be associative, need not be
 * commutative (checksums of consecutive pieces, joined with crc32_combine). */
void swat_comm_allreduce_ordered(swat_comm *c, void *buf, int n, size_t size,
                                 void (*merge)(const void *left, void *right, int k));

/* Reduce-scatter over the world: buf [world·shard] summed element-wise across
 * ranks; this rank's block (rank·shard … ) is written to shard_out [shard]. */
void swat_comm_reduce_scatter(swat_comm *c, const swat_real *buf, swat_real *shard_out,
                              size_t shard);
/* All-gather over the world, in place: block r of buf [world·shard] comes
 * from rank r, whose block is already in place on it. */
void swat_comm_allgather(swat_comm *c, swat_real *buf, size_t shard);

/* All-gather of n int64 per rank over the world: all [world][n], row r from
 * rank r (counts that ranks add up themselves, as exclusive prefix sums). */
void swat_comm_allgather_i64(swat_comm *c, const int64_t *mine, int64_t *all, int n);

/* Broadcast of bytes from world rank `root`. */
void swat_comm_bcast(swat_comm *c, void *buf, size_t bytes, int root);
void swat_comm_barrier(swat_comm *c);

/* The world communicator as an opaque pointer to an MPI_Comm (for ckpt.c). */
const void *swat_comm_mpi_world(const swat_comm *c);

/* Traffic and waiting, accumulated since the last reset. */
typedef struct swat_comm_stats {
    double halo_bytes;   /* bytes this rank sent in shifts */
    double reduce_bytes; /* bytes this rank contributed to reduce-scatter/all-gather/allreduce */
    double wait_s;       /* seconds spent blocked in shift waits and collectives */
    /* the ZeRO-1 collectives of the update (gradient reduce-scatter, parameter
     * all-gather), bucketed (swat_buckets) or not: */
    double wire_bytes;   /* bytes this rank sends in them: exact for the bucket
                          * schedules, (world−1)·shard elements for MPI's own */
    double bucket_wait_s; /* part of wait_s: blocked in swat_buckets_wait */
    double poll_s;        /* seconds inside swat_buckets_progress (polling) */
    int64_t reductions, gathers; /* reduce-scatters and all-gathers started (a
                                  * bucket each, or one unbucketed collective) */
} swat_comm_stats;
void swat_comm_stats_reset(swat_comm *c);
swat_comm_stats swat_comm_stats_get(const swat_comm *c);

/* 1 when MPI runs with MPI_THREAD_MULTIPLE (swat_comm_init asks for it: a
 * progress thread of swat_buckets calls MPI beside the main thread). */
int swat_comm_thread_multiple(void);

/* ---- moving pieces of buffers between ranks ------------------------------
 *
 * One piece: n elements at element offset `off` of the local buffer, sent to
 * or received from world rank `peer`. */
typedef struct swat_piece {
    int peer;
    size_t off, n;
} swat_piece;

/* Collective over the world (every rank calls it, possibly with no pieces):
 * sends every piece of `send` from sendbuf and receives every piece of `recv`
 * into recvbuf, elements of es bytes. The pieces between two ranks pair up in
 * the order each side lists them (the sender's k-th piece to q is q's k-th
 * piece from it) and must agree in size; pieces to oneself are copied. The
 * regions written must not overlap the regions sent. Used to move optimizer
 * state between the update's bucket slices and the checkpoint's shards. */
void swat_comm_exchange(swat_comm *c, const void *sendbuf, const swat_piece *send, int nsend,
                        void *recvbuf, const swat_piece *recv, int nrecv, size_t es);

/* ---- bucketed ZeRO-1 collectives (overlapped with compute) ---------------
 *
 * The flat buffer (gradients, parameters) is cut into buckets, contiguous
 * ranges [lo, hi). Each bucket is split evenly over the world: rank r owns
 * slice r, [lo + ⌊r·n/P⌋, lo + ⌊(r+1)·n/P⌋), n = hi − lo, P the world size.
 * A bucket's reduce-scatter leaves in this rank's slice of the gradients the
 * sum over all ranks; its all-gather copies every rank's slice of the
 * parameters to every rank. Both are started per bucket (as the backward pass
 * finishes a layer, as the next forward pass needs one) and progress while
 * the caller computes: by polling (swat_buckets_progress between blocks of
 * compute) or on a progress thread (needs MPI_THREAD_MULTIPLE).
 *
 * The schedules (comm.c) are point-to-point on a private communicator:
 * recursive halving / doubling when P is a power of two, rings otherwise,
 * each sending (P−1)/P of the bucket per rank. The sums are deterministic:
 * with recursive halving every element is summed over the ranks in one fixed
 * tree whatever the bucket plan (so the bits do not depend on the buckets or
 * on when they are started); the ring fixes the order per slice. A bucket's
 * parameters travel as swat_real or as bfloat16 (the wire): bf16 goes into
 * the operand copy of the parameters (a swat_bf16 array, or swat_real values
 * already rounded to bfloat16, whose upper 16 bits are sent), in place. */
typedef enum { SWAT_WIRE_REAL = 0, SWAT_WIRE_BF16 = 1 } swat_wire;

typedef struct swat_bucket {
    size_t lo, hi;  /* flat range */
    swat_wire wire; /* of its parameters (its gradients travel as grad_wire) */
} swat_bucket;

typedef struct swat_buckets_opts {
    int thread;          /* 1: a progress thread drives the transfers (MPI_THREAD_MULTIPLE) */
    double poll_us;      /* the thread's sleep between polls while transfers are in flight */
    swat_wire grad_wire; /* gradients on the wire: REAL, or BF16 (partial sums rounded, fp32 sums) */
    int rounded;         /* the bf16 parameter buffer holds swat_real values rounded to
                          * bfloat16 (emulated bf16), not swat_bf16 */
} swat_buckets_opts;

typedef struct swat_buckets swat_buckets;

/* This rank's slice [lo, hi) of bucket b in a world of P ranks. */
void swat_bucket_slice(const swat_bucket *b, int world, int rank, size_t *lo, size_t *hi);

/* Collective over the world. Copies the plan (n buckets, ordered, disjoint).
 * With opts->thread it starts the progress thread (asserts MPI_THREAD_MULTIPLE). */
swat_buckets *swat_buckets_create(swat_comm *c, const swat_bucket *b, int n,
                                  const swat_buckets_opts *opts);
void swat_buckets_free(swat_buckets *z); /* no transfer may be in flight */

/* Starts the reduce-scatter of bucket j of grads [flat]: when it completes,
 * this rank's slice of grads holds the sum over the world of every rank's
 * bucket; the rest of the bucket is overwritten with partial sums. Every rank
 * starts the buckets in the same order. */
void swat_buckets_reduce_start(swat_buckets *z, int j, swat_real *grads);

/* Starts the all-gather of bucket j: buf is the flat parameter buffer
 * (swat_real) for wire REAL, or the flat bf16 operand copy for wire BF16,
 * this rank's slice already in place there; when it completes, every slice
 * is. The wire is the bucket's unless `wire` overrides it (≥ 0). */
void swat_buckets_gather_start(swat_buckets *z, int j, void *buf, int wire);

/* 1 when bucket j has no transfer in flight. */
int swat_buckets_done(swat_buckets *z, int j);
/* Blocks until bucket j's transfer is complete (time counted as waiting). */
void swat_buckets_wait(swat_buckets *z, int j);
/* Moves every transfer in flight as far as it can go without blocking (the
 * polling mode's call between blocks of compute; a no-op with a thread). */
void swat_buckets_progress(swat_buckets *z);
/* Bytes this rank sends in bucket j's reduce-scatter or all-gather (wire). */
double swat_buckets_bytes(const swat_buckets *z, int j, int gather, swat_wire wire);

#endif
