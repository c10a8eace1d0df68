/* SPDX-License-Identifier: MIT */
/* gemm.h: the one matrix-product entry point of swat (a wrapper over BLIS
 * bli_sgemm / bli_dgemm, which take row and column strides, so row-major
 * operands and transposes need no copies).
 *
 *   C[M][N] = alpha · op(A) · op(B) + beta · C          (all row-major)
 *
 * op(A) is [M][K]: with transa = 0, A is stored [M][K] with row stride lda;
 * with transa = 1, A is stored [K][M] with row stride lda (op(A) = Aᵀ).
 * Likewise op(B) is [K][N]: transb = 0 → B stored [K][N]; 1 → B stored [N][K].
 *
 * Threads: a call made outside an OpenMP parallel region uses the rank's
 * thread count (swat_gemm_set_threads); a call made inside one runs on the
 * calling thread only, so kernels that parallelise over heads or blocks do not
 * fight BLIS for the cores. */
#ifndef SWAT_GEMM_H
#define SWAT_GEMM_H

#include "swat/common.h"

void swat_gemm(int transa, int transb, int64_t M, int64_t N, int64_t K, swat_real alpha,
               const swat_real *A, int64_t lda, const swat_real *B, int64_t ldb, swat_real beta,
               swat_real *C, int64_t ldc);

/* Chooses BLIS's kernel set before BLIS's first call (idempotent; called by
 * every function here): unless BLIS_ARCH_TYPE is set, the AVX-512 `skx` set
 * on CPUs with AVX-512 F/DQ/BW/VL, which BLIS 0.9 leaves on AVX2 kernels
 * when it does not know the model; otherwise BLIS's own choice. */
void swat_gemm_setup(void);

/* "skx (why)" — the kernel set in use and how it was chosen, into buf. */
const char *swat_gemm_kernels(char *buf, size_t n);

/* Threads for this rank when the config leaves them at 0 (auto): SLURM's
 * cpus-per-task, else OMP_NUM_THREADS, else the node's cores shared among
 * its MPI ranks (Open MPI's local size). */
int swat_gemm_auto_threads(void);

/* Sets the threads of this rank (BLIS and the OpenMP loops of the kernels). */
void swat_gemm_set_threads(int nthreads);
int swat_gemm_threads(void);

/* Measures the sgemm rate of this rank with its threads on square operands
 * of size n (about `seconds` of work) and returns GFLOP/s. The MFU peak. */
double swat_gemm_peak_gflops(int n, double seconds);

/* FLOP count counters (2·M·N·K per call, added up per thread when enabled):
 * lets the benchmark report what share of the work BLIS did. */
void swat_gemm_count_reset(void);
double swat_gemm_count_flops(void);

#endif
