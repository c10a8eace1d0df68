/* SPDX-License-Identifier: MIT */
/* fuzz_ckpt.c: libFuzzer harness for the checkpoint reader (ckpt.c).
 *
 * The input is written as DIR/ckpt-00000001.h5 and given to
 * swat_ckpt_read_config, swat_rundir_find_latest and the collective
 * swat_ckpt_load on one MPI rank (MPI is initialised once, in
 * LLVMFuzzerInitialize), into the tiny model of the seed checkpoint
 * (fuzz/corpus/ckpt/, made by fuzz/make_seeds.sh) and, when the file's own
 * config is small, into a model built from that config. Refusals are fine;
 * crashes, hangs and a refusal without a message are findings. HDF5 is not
 * instrumented: a crash inside libhdf5 on a file that is not valid HDF5 is
 * HDF5's, and is reported as such (fuzz/run_fuzz.sh sorts the crashes).
 *
 * Speed (~250 inputs/s instead of ~5; fuzz/README.md): the file goes to
 * /dev/shm when there is one; HDF5 keeps freed blocks on its free lists
 * (H5set_free_list_limits) instead of returning its 0.5 MiB metadata cache
 * to ASan's allocator at every close, which costs an mmap, page faults and a
 * munmap per open; MPI's start-up allocations are exempt from leak checking
 * (__lsan_disable), so that run_fuzz.sh can use fast stack unwinding; and the
 * file's own model is skipped when it equals the seed's (the same calls
 * again). None of this changes which swat code runs on an input. */
#include "fuzz.h"
#include "swat/ckpt.h"
#include "swat/comm.h"
#include "swat/config.h"
#include "swat/model.h"
#include "swat/rundir.h"

#include <hdf5.h>
#include <sanitizer/lsan_interface.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256], path[300];
static swat_comm *comm;
static swat_model *seed_model;

/* The model of the seed checkpoint (fuzz/make_seeds.sh writes the same). */
static void seed_model_config(swat_config *cfg)
{
    char err[SWAT_ERR_LEN];
    swat_config_defaults(cfg);
    const char *ini = "[model]\nvocab_size = 16\nhidden_size = 8\nnum_hidden_layers = 1\n"
                      "num_heads = 2\nwindow_size = 4\nintermediate_size = 16\n";
    if (swat_config_load_string(cfg, ini, "seed", err) ||
        swat_config_finalize(cfg, SWAT_CONFIG_FOR_MODEL, err)) {
        fprintf(stderr, "fuzz_ckpt: %s\n", err);
        abort();
    }
}

static void remove_dir(void)
{
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    /* MPI must not see libFuzzer's flags; it gets an empty command line */
    (void)argc, (void)argv;
    int ac = 0;
    char **av = NULL;
    /* what Open MPI allocates for good at start-up is not a leak of any input */
    __lsan_disable();
    swat_comm_init(&ac, &av);
    comm = swat_comm_create(1);
    __lsan_enable();
    /* HDF5-internal recycling only (limits in bytes: global, per list) */
    H5set_free_list_limits(64 << 20, 16 << 20, 64 << 20, 16 << 20, 64 << 20, 16 << 20);
    swat_log_set_level(SWAT_LOG_ERROR); /* find_latest warns for every bad file */
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !tmp[0]) tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof dir, "%s/swat-fuzz-ckpt-XXXXXX", tmp);
    if (!mkdtemp(dir)) abort();
    snprintf(path, sizeof path, "%s/ckpt-00000001.h5", dir);
    atexit(remove_dir);
    swat_config cfg;
    seed_model_config(&cfg);
    seed_model = swat_model_create(&cfg.model, 1);
    return 0;
}

static void check_err(const char *err)
{
    if (!err[0] || !memchr(err, 0, SWAT_ERR_LEN)) abort();
}

static void load_into(swat_model *m)
{
    char err[SWAT_ERR_LEN];
    size_t lo, hi;
    swat_ckpt_shard(m->nparams_pad, 1, 0, &lo, &hi);
    size_t n = hi - lo;
    swat_real *mom = swat_malloc(sizeof(swat_real) * (n ? n : 1));
    swat_real *vel = swat_malloc(sizeof(swat_real) * (n ? n : 1));
    swat_ckpt_state st;
    if (swat_ckpt_load(comm, path, m, m->params, NULL, NULL, lo, hi, NULL, err)) check_err(err);
    if (swat_ckpt_load(comm, path, m, m->params, mom, vel, lo, hi, &st, err)) check_err(err);
    swat_free(mom);
    swat_free(vel);
}

/* Parameter count of a config, to skip models too big to build per input. */
static double model_size(const swat_model_config *m)
{
    double d = (double)m->hidden_size, f = (double)m->intermediate_size;
    return (double)m->vocab_size * d * 2 +
           (double)m->num_hidden_layers * (4 * d * d + 3 * d * f + 2 * d) + d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[SWAT_ERR_LEN], found[SWAT_PATH_LEN];
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f)) abort();

    swat_config cfg;
    swat_config_defaults(&cfg);
    int have_cfg = swat_ckpt_read_config(path, &cfg, err) == 0;
    if (!have_cfg) check_err(err);
    int rc = swat_rundir_find_latest(dir, found, sizeof found, err);
    if (rc < 0) check_err(err);
    if (rc == 0 && strcmp(found, path)) abort();

    load_into(seed_model);
    /* the file's own model, unless it is the seed's (most inputs): loading into
     * an equal model repeats the same calls on the same file */
    if (have_cfg && swat_config_finalize(&cfg, SWAT_CONFIG_FOR_MODEL, err) == 0 &&
        !swat_config_same_model(&cfg.model, &seed_model->cfg, NULL) &&
        model_size(&cfg.model) < 1e6 && cfg.model.window_size < 4096) {
        swat_model *m = swat_model_create(&cfg.model, 1);
        load_into(m);
        swat_model_free(m);
    }
    unlink(path);
    return 0;
}
