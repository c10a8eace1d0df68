/* SPDX-License-Identifier: MIT */
/* common.c: failure handling, command-line numbers, mkdir -p, the version,
 * aligned allocation, logging, clock. Kept free of MPI: comm.c installs the
 * MPI_Abort hook. */
#include "swat/common.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#ifndef SWAT_VERSION
#error "SWAT_VERSION is defined by CMake from the VERSION file"
#endif

static void (*abort_hook)(int code);
static int log_rank = 0, log_world = 1;
static swat_log_level log_level = SWAT_LOG_INFO;

void swat_set_abort_hook(void (*hook)(int code)) { abort_hook = hook; }

static _Noreturn void bring_down(int code)
{
    fflush(stdout);
    fflush(stderr);
    if (abort_hook) abort_hook(code);
    exit(code);
}

void swat_assert_fail(const char *file, int line, const char *expr)
{
    fprintf(stderr, "swat: %s:%d: assertion failed: %s\n", file, line, expr);
    bring_down(134);
}

void swat_die(int code, const char *fmt, ...)
{
    char msg[SWAT_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (log_world > 1)
        fprintf(stderr, "swat: [rank %d] %s\n", log_rank, msg);
    else
        fprintf(stderr, "swat: %s\n", msg);
    bring_down(code ? code : 1);
}

int swat_errf(char *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, SWAT_ERR_LEN, fmt, ap);
    va_end(ap);
    return -1;
}

int swat_arg_i64(const char *flag, const char *s, int64_t min, int64_t *out, char *err)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < min)
        return swat_errf(err, "%s %s: expected an integer ≥ %lld", flag, s, (long long)min);
    *out = v;
    return 0;
}

int swat_arg_f64(const char *flag, const char *s, double lo, int open_lo, double hi, double *out,
                 char *err)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || v < lo || (open_lo && v == lo) || v > hi)
        return swat_errf(err, "%s %s: expected a number in %s%g, %g]", flag, s, open_lo ? "(" : "[",
                         lo, hi);
    *out = v;
    return 0;
}

int swat_mkdir_p(const char *path, char *err)
{
    char p[SWAT_PATH_LEN];
    if (!path[0]) return swat_errf(err, "empty directory name");
    if (strlen(path) >= sizeof p) return swat_errf(err, "directory name too long: %.80s...", path);
    strcpy(p, path);
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0') continue;
        char keep = *s;
        *s = '\0';
        /* EEXIST covers a file in the way too: the stat below names it */
        if (mkdir(p, 0777) != 0 && errno != EEXIST)
            return swat_errf(err, "cannot create directory %s: %s", p, strerror(errno));
        *s = keep;
        if (!keep) break;
    }
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return swat_errf(err, "%s is not a directory", path);
    return 0;
}

const char *swat_version(void) { return SWAT_VERSION; }

/* Buffers of 4 MiB and more (parameters, gradients, optimizer state, the
 * activation arena) are 2 MiB-aligned and asked for transparent huge pages:
 * Debian's default THP mode is "madvise", and with 4 KiB pages the GEMMs and
 * the streaming passes over a long sequence's activations miss the TLB. */
#define HUGE_BYTES ((size_t)2 << 20)

void *swat_malloc(size_t bytes)
{
    void *p = NULL;
    size_t align = bytes >= 2 * HUGE_BYTES ? HUGE_BYTES : 64;
    size_t rounded = (bytes + align - 1) / align * align;
    if (rounded == 0) rounded = 64;
    if (posix_memalign(&p, align, rounded) != 0 || !p)
        swat_die(12, "out of memory allocating %zu bytes", bytes);
#ifdef MADV_HUGEPAGE
    if (align == HUGE_BYTES) (void)madvise(p, rounded, MADV_HUGEPAGE); /* a hint only */
#endif
    return p;
}

void *swat_calloc(size_t bytes)
{
    void *p = swat_malloc(bytes);
    memset(p, 0, bytes);
    return p;
}

void swat_free(void *p) { free(p); }

void swat_log_set_rank(int rank, int world)
{
    log_rank = rank;
    log_world = world;
}

void swat_log_set_level(swat_log_level level) { log_level = level; }

void swat_log(swat_log_level level, const char *fmt, ...)
{
    if (level < log_level) return;
    if (level <= SWAT_LOG_INFO && log_rank != 0) return;
    FILE *out = level <= SWAT_LOG_INFO ? stdout : stderr;
    /* The whole line in one write: stderr is unbuffered, and a launcher that
     * forwards stdout and stderr separately (MPICH's hydra) would otherwise
     * slip another line between the tag and the message. */
    char line[4096];
    int n = 0;
    if (level >= SWAT_LOG_WARN) {
        const char *tag = level == SWAT_LOG_WARN ? "warning" : "error";
        n = log_world > 1 ? snprintf(line, sizeof line, "swat: [rank %d] %s: ", log_rank, tag)
                          : snprintf(line, sizeof line, "swat: %s: ", tag);
    }
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2) len = sizeof line - 2; /* cut, still one line */
    line[len] = '\n';
    line[len + 1] = '\0';
    fputs(line, out);
    fflush(out);
}

double swat_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
