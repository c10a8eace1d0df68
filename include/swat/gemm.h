/* SPDX-License-Identifier: MIT */
/* gemm.h: the one matrix-product entry point of swat.
 *
 *   C[M][N] = alpha · op(A) · op(B) + beta · C          (all row-major)
 *
 * op(A) is [M][K]: with transa = 0, A is stored [M][K] with row stride lda;
 * with transa = 1, A is stored [K][M] with row stride lda (op(A) = Aᵀ).
 * Likewise op(B) is [K][N]: transb = 0 → B stored [K][N]; 1 → B stored [N][K].
 * C is always swat_real. Transposes and strides are passed to the engine,
 * never copied: BLIS takes row and column strides, oneDNN memory descriptors
 * with strides.
 *
 * Precision. The inputs of a product are stored as one of three operand
 * types, fixed per model by the precision of the run:
 *   fp32              REAL:    swat_real as computed; BLIS sgemm (dgemm in
 *                              the double test build);
 *   bf16, native      BF16:    bfloat16 storage (half the bytes); oneDNN
 *                              matmul with bf16 inputs and fp32 accumulation
 *                              and output (AMX or AVX512-BF16 kernels);
 *   bf16, emulated    ROUNDED: swat_real values already rounded to bfloat16;
 *                              BLIS. bf16×bf16 products are exact in fp32, so
 *                              this is the same arithmetic as BF16 up to the
 *                              order of the additions (bf16.h).
 * The model writes its operands in that type when it produces them, so no
 * product converts its inputs. The emulated type serves CPUs without
 * bfloat16 instructions, builds without oneDNN (SWAT_ONEDNN=OFF) and the
 * double-precision test build, where it is the reference for bf16.
 *
 * Threads: a call made outside an OpenMP parallel region uses the rank's
 * thread count (swat_gemm_set_threads); a call made inside one runs on the
 * calling thread only, so kernels that parallelise over heads or blocks do not
 * fight BLIS (or oneDNN, on the same OpenMP runtime) for the cores. */
#ifndef SWAT_GEMM_H
#define SWAT_GEMM_H

#include "swat/bf16.h"
#include "swat/common.h"

/* [train] precision: what the inputs of every matrix product are rounded to. */
typedef enum { SWAT_PREC_FP32 = 0, SWAT_PREC_BF16 = 1 } swat_precision;

typedef enum {
    SWAT_OPERAND_REAL = 0,    /* swat_real as computed */
    SWAT_OPERAND_ROUNDED = 1, /* swat_real rounded to bfloat16 (emulated bf16) */
    SWAT_OPERAND_BF16 = 2,    /* swat_bf16 (oneDNN) */
} swat_operand;

/* C = alpha·op(A)·op(B) + beta·C on swat_real operands (BLIS). */
void swat_gemm(int transa, int transb, int64_t M, int64_t N, int64_t K, swat_real alpha,
               const swat_real *A, int64_t lda, const swat_real *B, int64_t ldb, swat_real beta,
               swat_real *C, int64_t ldc);

/* The same on operands of type t (A and B both of that type). beta is 0 or 1. */
void swat_gemm_op(swat_operand t, int transa, int transb, int64_t M, int64_t N, int64_t K,
                  swat_real alpha, const void *A, int64_t lda, const void *B, int64_t ldb,
                  swat_real beta, swat_real *C, int64_t ldc);

/* The operand type of a precision on this machine: fp32 → REAL; bf16 → BF16
 * when the build has oneDNN and oneDNN reports bfloat16 instructions
 * (AVX512-BF16 or AMX-BF16; ONEDNN_MAX_CPU_ISA lowers what it reports),
 * else ROUNDED. why (≥ 200 bytes, may be NULL) gets the engine in words, and
 * *missing is set to 1 when bf16 runs emulated on this CPU or build. */
swat_operand swat_gemm_operand(swat_precision p, char *why, size_t n, int *missing);

/* Bytes of one element of an operand type. */
static inline size_t swat_operand_size(swat_operand t)
{
    return t == SWAT_OPERAND_BF16 ? sizeof(swat_bf16) : sizeof(swat_real);
}

/* Element i of an operand array, as a pointer (for offsets into operand buffers). */
static inline void *swat_operand_at(swat_operand t, const void *base, int64_t i)
{
    return (char *)(uintptr_t)base + (size_t)i * swat_operand_size(t);
}

/* dst[i] = v in operand type t (rounded for the bf16 types). Loops that call
 * it with a loop-invariant t are unswitched by the compiler. */
static inline void swat_operand_put(swat_operand t, void *dst, int64_t i, swat_real v)
{
    if (t == SWAT_OPERAND_BF16)
        ((swat_bf16 *)dst)[i] = swat_bf16_from_float((float)v);
    else if (t == SWAT_OPERAND_ROUNDED)
        ((swat_real *)dst)[i] = swat_bf16_round(v);
    else
        ((swat_real *)dst)[i] = v;
}

/* dst [rows][ldd] (type t) = src [rows][lds] (swat_real), rounded for the
 * bf16 types. */
void swat_operand_store(swat_operand t, void *dst, int64_t ldd, const swat_real *src, int64_t lds,
                        int64_t rows, int64_t cols);

/* dst [rows][ldd] (swat_real) = src [rows][lds] (type t), exactly. */
void swat_operand_load(swat_operand t, swat_real *dst, int64_t ldd, const void *src, int64_t lds,
                       int64_t rows, int64_t cols);

/* Sustained GFLOP/s of this rank's products on operands of type t, square
 * operands of size n, about `seconds` of work: the MFU peak of a precision. */
double swat_gemm_peak_gflops_op(swat_operand t, int n, double seconds);

/* Chooses BLIS's kernel set before BLIS's first call (idempotent; called by
 * every function here): unless BLIS_ARCH_TYPE is set, the AVX-512 `skx` set
 * on CPUs with AVX-512 F/DQ/BW/VL, which BLIS 0.9 leaves on AVX2 kernels
 * when it does not know the model; otherwise BLIS's own choice. */
void swat_gemm_setup(void);

/* "skx (why)" — the kernel set in use and how it was chosen, into buf. */
const char *swat_gemm_kernels(char *buf, size_t n);

/* Threads per rank. One policy for every program: a count the user set
 * ([parallel] threads, a program's --threads) is kept; otherwise
 * SLURM_CPUS_PER_TASK, else OMP_NUM_THREADS, else the automatic share (the
 * node's CPUs over its ranks), lowered where needed so that the node's ranks
 * times the threads fit the CPUs those ranks may use and no rank has more
 * threads than CPUs it is bound to. When the count chosen still, or the
 * count asked for, exceeds them, `warning` holds one line that starts with
 * "oversubscribed:" and gives the numbers, what was done and the fix. */
typedef enum {
    SWAT_THREADS_SET = 0,   /* set by the user: kept */
    SWAT_THREADS_SLURM = 1, /* SLURM_CPUS_PER_TASK */
    SWAT_THREADS_OMP = 2,   /* OMP_NUM_THREADS */
    SWAT_THREADS_AUTO = 3   /* the node's CPUs shared among its ranks */
} swat_threads_origin;

typedef struct swat_thread_plan {
    int threads; /* what the rank runs with */
    int asked;   /* the count before fitting */
    swat_threads_origin origin;
    int node_ranks, node_cpus, rank_cpus;
    char warning[SWAT_ERR_LEN]; /* "" when nothing is oversubscribed */
} swat_thread_plan;

/* The policy as a pure function (no MPI, no side effect; reads the two
 * environment variables): set = the user's count or 0, set_by names it in
 * the warning ("[parallel] threads"); node_ranks = ranks on this node,
 * node_cpus = CPUs they may use together, rank_cpus = CPUs this rank may
 * use (0 = unknown). */
void swat_gemm_plan_threads(swat_thread_plan *p, int set, const char *set_by, int node_ranks,
                            int node_cpus, int rank_cpus);

/* The plan for this rank (its own affinity mask as rank_cpus), applied with
 * swat_gemm_set_threads; returns the threads and copies the warning line
 * (SWAT_ERR_LEN bytes) for rank 0 to print. */
int swat_gemm_setup_threads(int set, const char *set_by, int node_ranks, int node_cpus,
                            char *warning);

/* The automatic count of a process alone on its CPUs (benchmarks without
 * MPI): SLURM_CPUS_PER_TASK, OMP_NUM_THREADS or its affinity mask's CPUs,
 * at most those CPUs. */
int swat_gemm_auto_threads(void);

/* Sets the threads of this rank (BLIS and the OpenMP loops of the kernels). */
void swat_gemm_set_threads(int nthreads);
int swat_gemm_threads(void);

/* Measures the sgemm rate of this rank with its threads on square operands
 * of size n (about `seconds` of work) and returns GFLOP/s: the fp32 peak. */
double swat_gemm_peak_gflops(int n, double seconds);

/* FLOP count counters (2·M·N·K per call, added up per thread when enabled):
 * lets the benchmark report what share of the work BLIS did. */
void swat_gemm_count_reset(void);
double swat_gemm_count_flops(void);

#endif
