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

/* MPI_Init (thread level FUNNELED), MPI_ERRORS_RETURN on the world, the
 * abort hook of common.h, and swat_log_set_rank. Returns the world size. */
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
} swat_comm_stats;
void swat_comm_stats_reset(swat_comm *c);
swat_comm_stats swat_comm_stats_get(const swat_comm *c);

#endif
