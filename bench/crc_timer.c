/* SPDX-License-Identifier: MIT */
/* crc_timer.so — an LD_PRELOAD library that times zlib's crc32_z and
 * crc32_combine inside a real program (swat-bench --ckpt), to give the cost
 * of the checkpoint checksums against the whole save and load measured in
 * the same process.
 *
 * It is shaped as an interposer rather than a copy of the checksum code so
 * that what is timed is exactly what src/ckpt.c runs: the same buffers, the
 * same split over the rank's threads, the same zlib. The calls are booked to
 * a phase: "save" after the last H5Fcreate, "load" after the last H5Fopen
 * (src/ckpt.c creates a file to save and opens one to load; probes open
 * files too but checksum nothing). For each phase it counts bytes, the CPU
 * time summed over threads, and the wall time during which at least one
 * thread was checksumming (the union of the calls' intervals: with parts on
 * two threads at once, wall < sum). At exit it prints one line per phase on
 * stderr, tagged with the MPI rank from the launcher's environment:
 *
 *   crc_timer rank=R phase=save calls=N bytes=B cpu_s=C wall_s=W combine_s=X
 *
 * Build and use (bench/ckpt_crc.sh does both):
 *   cc -O2 -shared -fPIC bench/crc_timer.c -o crc_timer.so -ldl -lpthread
 *   LD_PRELOAD=./crc_timer.so swat-bench … --ckpt DIR */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef int64_t hid_t;   /* HDF5 >= 1.10 */
typedef unsigned long uLong;
typedef size_t z_size_t; /* zlib's, on the LP64 systems this runs on */
typedef int64_t z_off_t; /* with _FILE_OFFSET_BITS=64 / LP64 */

enum { NONE, SAVE, LOAD, NPHASE };
static const char *const phase_name[NPHASE] = {"other", "save", "load"};

static struct {
    uint64_t calls, bytes;
    double cpu, wall, combine;
} acc[NPHASE];
static int phase = NONE, active = 0;
static double busy_since;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void *next(const char *sym)
{
    void *f = dlsym(RTLD_NEXT, sym);
    if (!f) {
        fprintf(stderr, "crc_timer: %s not found\n", sym);
        abort();
    }
    return f;
}

uLong crc32_z(uLong crc, const unsigned char *buf, z_size_t len)
{
    static uLong (*real)(uLong, const unsigned char *, z_size_t);
    if (!real) real = (uLong(*)(uLong, const unsigned char *, z_size_t))next("crc32_z");
    pthread_mutex_lock(&mu);
    if (active++ == 0) busy_since = now();
    pthread_mutex_unlock(&mu);
    double t = now();
    uLong r = real(crc, buf, len);
    double t1 = now();
    pthread_mutex_lock(&mu);
    acc[phase].calls++;
    acc[phase].bytes += len;
    acc[phase].cpu += t1 - t;
    if (--active == 0) acc[phase].wall += t1 - busy_since;
    pthread_mutex_unlock(&mu);
    return r;
}

uLong crc32_combine(uLong a, uLong b, z_off_t len2)
{
    static uLong (*real)(uLong, uLong, z_off_t);
    if (!real) real = (uLong(*)(uLong, uLong, z_off_t))next("crc32_combine");
    double t = now();
    uLong r = real(a, b, len2);
    t = now() - t;
    pthread_mutex_lock(&mu);
    acc[phase].combine += t;
    pthread_mutex_unlock(&mu);
    return r;
}

hid_t H5Fcreate(const char *name, unsigned flags, hid_t fcpl, hid_t fapl)
{
    static hid_t (*real)(const char *, unsigned, hid_t, hid_t);
    if (!real) real = (hid_t(*)(const char *, unsigned, hid_t, hid_t))next("H5Fcreate");
    phase = SAVE;
    return real(name, flags, fcpl, fapl);
}

hid_t H5Fopen(const char *name, unsigned flags, hid_t fapl)
{
    static hid_t (*real)(const char *, unsigned, hid_t);
    if (!real) real = (hid_t(*)(const char *, unsigned, hid_t))next("H5Fopen");
    phase = LOAD;
    return real(name, flags, fapl);
}

__attribute__((destructor)) static void report(void)
{
    const char *rank = getenv("OMPI_COMM_WORLD_RANK");
    if (!rank) rank = getenv("PMI_RANK");
    if (!rank) rank = getenv("SLURM_PROCID");
    for (int p = SAVE; p < NPHASE; p++)
        fprintf(stderr,
                "crc_timer rank=%s phase=%s calls=%llu bytes=%llu cpu_s=%.4f wall_s=%.4f "
                "combine_s=%.6f\n",
                rank ? rank : "0", phase_name[p], (unsigned long long)acc[p].calls,
                (unsigned long long)acc[p].bytes, acc[p].cpu, acc[p].wall, acc[p].combine);
}
