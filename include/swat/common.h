/* SPDX-License-Identifier: MIT */
/* common.h: the scalar type, failure handling and logging shared by every module.
 *
 * Two kinds of failure (as in ggml and BLIS):
 *   - a broken invariant is a bug: SWAT_ASSERT prints file:line and brings the
 *     whole job down (MPI_Abort when MPI is up, so no rank hangs);
 *   - a bad input or a failed I/O is the user's: the function returns non-zero
 *     and fills a caller-provided message buffer `err` (SWAT_ERR_LEN bytes) with
 *     one line naming the file, key or value; the program prints it once.
 *
 * The numeric core is written against `swat_real`, float by default. The test
 * suite compiles the same sources a second time with -DSWAT_DOUBLE so that
 * gradients can be checked against finite differences in double precision. */
#ifndef SWAT_COMMON_H
#define SWAT_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef SWAT_DOUBLE
typedef double swat_real;
#else
typedef float swat_real;
#endif

#define SWAT_ERR_LEN 512
#define SWAT_PATH_LEN 1024

/* Aborts the job after printing "file:line: assertion failed: expr". */
#define SWAT_ASSERT(cond)                                                      \
    do {                                                                       \
        if (!(cond)) swat_assert_fail(__FILE__, __LINE__, #cond);              \
    } while (0)

_Noreturn void swat_assert_fail(const char *file, int line, const char *expr);

/* Prints one line "swat: <message>" from this rank and aborts the whole job
 * (MPI_Abort(…, code) when MPI is initialised, exit(code) otherwise). For
 * errors only one rank can see (a read error in its data chunk). */
_Noreturn void swat_die(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Formats into err (SWAT_ERR_LEN bytes) and returns -1, so that
 * `return swat_errf(err, "…", …);` reads as one statement. */
int swat_errf(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Command-line numbers: the whole of s an integer >= min (a finite number in
 * [lo, hi], lo excluded when open_lo) into *out; else −1 and err names the
 * flag, the text and what was expected. */
int swat_arg_i64(const char *flag, const char *s, int64_t min, int64_t *out, char *err);
int swat_arg_f64(const char *flag, const char *s, double lo, int open_lo, double hi, double *out,
                 char *err);

/* mkdir -p: creates the directory path and its missing parents (mode 0777
 * less the umask). 0 when path is a directory afterwards; else −1 and err
 * names the part that could not be made and why. */
int swat_mkdir_p(const char *path, char *err);

/* The project's version, from the top-level VERSION file ("0.8.0"). */
const char *swat_version(void);

/* Allocation that never returns NULL: dies with the size on failure.
 * Memory is 64-byte aligned (AVX-512 lines, BLIS panels). */
void *swat_malloc(size_t bytes);
void *swat_calloc(size_t bytes);
void swat_free(void *p);

/* Logging: filtered by level before formatting. INFO goes to stdout from the
 * rank set by swat_log_set_rank(0) only; WARN/ERROR go to stderr from any rank
 * tagged "[rank N]" when more than one rank exists. */
typedef enum { SWAT_LOG_DEBUG, SWAT_LOG_INFO, SWAT_LOG_WARN, SWAT_LOG_ERROR } swat_log_level;

void swat_log_set_rank(int rank, int world);
void swat_log_set_level(swat_log_level level);
void swat_log(swat_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define swat_info(...) swat_log(SWAT_LOG_INFO, __VA_ARGS__)
#define swat_warn(...) swat_log(SWAT_LOG_WARN, __VA_ARGS__)

/* Wall-clock seconds from a monotonic clock. */
double swat_now(void);

/* Hook called by swat_die/swat_assert_fail before exit: comm.c installs
 * MPI_Abort here so that common.c needs no mpi.h. */
void swat_set_abort_hook(void (*hook)(int code));

#endif
