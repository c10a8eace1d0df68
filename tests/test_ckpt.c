/* SPDX-License-Identifier: MIT */
/* test_ckpt.c: HDF5 checkpoints (ckpt.c, rundir.c; docs/checkpoint-format.md)
 * on 1, 2 and 4 ranks.
 *
 * What is checked: a bit-exact round trip of parameters and both moments;
 * resharding (a file written by an uneven split of the flat index, with
 * partial rows and an empty rank, read back by equal blocks, by the whole
 * range on every rank and by arbitrary ranges, with nothing written outside
 * the range asked for); `keep`; atomic publish (no .tmp left, a .tmp, a
 * truncated file, a garbage file and a foreign file are skipped by
 * find_latest); refusal of a different model, a missing optimizer, a missing
 * dataset, a wrong shape or dtype; failures of a save seen on every rank with
 * nothing under a final name; read_config; the root attributes (read here
 * through HDF5 directly, not through ckpt.c); the crc32 of every dataset
 * (against zlib here, and a flipped bit in a tensor's data, a moment or a
 * /train scalar refused with the dataset named, on tiled and on overlapping
 * reads; no attribute = unchecked; a float64 dataset's checksum; a malformed
 * attribute; a resume falling back past damaged files); and the layout as
 * h5py sees it (tests/check_ckpt_h5py.py, which recomputes every crc32).
 *
 * The test includes hdf5.h only to damage files and to inspect them
 * independently of the code under test.
 *
 * MPI and cmocka (as in test_comm.c): every rank runs the same tests in the
 * same order; checks go through CHECK(), which records and prints instead of
 * leaving the test, and verdict() fails the test on every rank if it failed on
 * any, so no rank is left waiting in a collective. Serial work on files is
 * done by rank 0 between collective calls. Values compared are exact floats:
 * the file is float32 and the build is float, so equality is bitwise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <hdf5.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "swat/ckpt.h"
#include "swat/comm.h"
#include "swat/config.h"
#include "swat/model.h"
#include "swat/rundir.h"

static swat_comm *g_comm;
static int g_rank, g_world;
static char g_root[SWAT_PATH_LEN]; /* this run's scratch folder */

/* ---- checks that do not leave the test early ----------------------------------- */

static int g_bad;

static void check_fail(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check_fail(int line, const char *fmt, ...)
{
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (g_bad < 8) fprintf(stderr, "[rank %d] test_ckpt.c:%d: %s\n", g_rank, line, msg);
    g_bad++;
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) check_fail(__LINE__, __VA_ARGS__);                                            \
    } while (0)

/* A call that must succeed: prints its message otherwise. */
#define CHECK_OK(rc, err) CHECK((rc) == 0, "%s returned %d: %s", #rc, (int)(rc), err)

/* A call that must fail with a message containing `want`. */
#define CHECK_FAILS(rc, err, want)                                                                 \
    do {                                                                                           \
        int rc_ = (rc);                                                                            \
        CHECK(rc_ < 0, "%s returned %d, expected failure", #rc, rc_);                              \
        CHECK(rc_ >= 0 || strstr(err, want), "message '%s' does not contain '%s'", err, want);     \
    } while (0)

static void verdict(void)
{
    int any = swat_comm_any(g_comm, g_bad != 0);
    g_bad = 0;
    assert_false(any);
}

/* ---- fixtures ---------------------------------------------------------------------- */

enum { V = 97, L = 2, H = 2, F = 20, B = 8, T = 32 };

static void make_config(swat_config *cfg, int d, int tie)
{
    char err[SWAT_ERR_LEN], kv[128];
    swat_config_defaults(cfg);
    const char *fixed[] = {"model.vocab_size=97",  "model.num_hidden_layers=2",
                           "model.num_heads=2",    "model.intermediate_size=20",
                           "model.window_size=4",  "data.format=llmc",
                           "data.seq_len=32",      "data.batch_size=8",
                           "train.lr=0.00123",     "checkpoint.dir=/nowhere/run"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        assert_int_equal(swat_config_set(cfg, fixed[i], err), 0);
    snprintf(kv, sizeof kv, "model.hidden_size=%d", d);
    assert_int_equal(swat_config_set(cfg, kv, err), 0);
    snprintf(kv, sizeof kv, "model.tie_word_embeddings=%s", tie ? "true" : "false");
    assert_int_equal(swat_config_set(cfg, kv, err), 0);
    if (swat_config_finalize(cfg, SWAT_CONFIG_FOR_MODEL, err)) fail_msg("%s", err);
}

static swat_model *make_model(const swat_config *cfg)
{
    swat_model *m = swat_model_create(&cfg->model, (size_t)g_world);
    swat_model_init_params(m, 7);
    return m;
}

static swat_ckpt_state state_at(int64_t step)
{
    return (swat_ckpt_state){.step = step,
                             .samples_seen = step * B,
                             .tokens_seen = step * B * T,
                             .world_size = g_world,
                             .sp = 1};
}

/* Moment value of flat element e written by rank `owner` (0: m, 1: v); exact
 * in float, different for every owner, so a misplaced shard shows. */
static float moment(size_t e, int owner, int which)
{
    float x = (float)((owner + 1) * 8192 + (int)(e % 8191));
    return which ? -0.25f * x : 0.5f * x;
}

/* A path of at most SWAT_PATH_LEN bytes (out holds that many); a longer one
 * fails the test. */
static void pathf(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pathf(char *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, SWAT_PATH_LEN, fmt, ap);
    va_end(ap);
    CHECK(n >= 0 && n < SWAT_PATH_LEN, "path too long: %s", out);
}

/* A fresh folder under this run's scratch folder (rank 0 makes it). */
static void new_dir(char *out, const char *name)
{
    pathf(out, "%s/%s", g_root, name);
    if (g_rank == 0) CHECK(mkdir(out, 0777) == 0, "mkdir %s", out);
    swat_comm_barrier(g_comm);
}

static void ckpt_path(char *out, const char *dir, int64_t step)
{
    pathf(out, "%s/ckpt-%08lld.h5", dir, (long long)step);
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static void write_text(const char *path, const char *text, int times)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "cannot create %s", path);
    if (!f) return;
    for (int i = 0; i < times; i++) fputs(text, f);
    fclose(f);
}

static void copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    CHECK(a && b, "copy %s to %s", from, to);
    char buf[65536];
    size_t n;
    while (a && b && (n = fread(buf, 1, sizeof buf, a)) > 0) fwrite(buf, 1, n, b);
    if (a) fclose(a);
    if (b) fclose(b);
}

static long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

/* 1 if any name in dir ends with ".tmp". */
static int has_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *de;
    int found = 0;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n >= 4 && strcmp(de->d_name + n - 4, ".tmp") == 0) found = 1;
    }
    closedir(d);
    return found;
}

/* ---- HDF5 helpers for inspecting and damaging files (rank 0, serial) ------------- */

static int h5_attr_i64(hid_t fid, const char *name, int64_t *out)
{
    hid_t a = H5Aopen(fid, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t t = H5Aget_type(a);
    int ok = H5Tequal(t, H5T_STD_I64LE) > 0 && H5Aread(a, H5T_NATIVE_INT64, out) >= 0;
    H5Tclose(t);
    H5Aclose(a);
    return ok ? 0 : -1;
}

/* A string attribute as written by ckpt.c (fixed length, NUL-terminated), or
 * a variable-length one; malloc'ed. */
static char *h5_attr_str(hid_t fid, const char *name)
{
    hid_t a = H5Aopen(fid, name, H5P_DEFAULT);
    if (a < 0) return NULL;
    hid_t t = H5Aget_type(a);
    char *s = NULL;
    if (H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) > 0) {
        char *vl = NULL;
        if (H5Aread(a, t, &vl) >= 0 && vl) {
            s = strdup(vl);
            H5free_memory(vl);
        }
    } else if (H5Tget_class(t) == H5T_STRING) {
        size_t n = H5Tget_size(t);
        s = calloc(n + 1, 1);
        if (H5Aread(a, t, s) < 0) {
            free(s);
            s = NULL;
        }
    }
    H5Tclose(t);
    H5Aclose(a);
    return s;
}

static void h5_put_str(hid_t loc, const char *name, const char *value, int vlen)
{
    hid_t t = H5Tcopy(H5T_C_S1), s = H5Screate(H5S_SCALAR);
    if (vlen)
        H5Tset_size(t, H5T_VARIABLE);
    else {
        H5Tset_size(t, strlen(value) ? strlen(value) : 1);
        H5Tset_strpad(t, H5T_STR_NULLPAD); /* as h5py writes numpy bytes */
    }
    H5Tset_cset(t, H5T_CSET_UTF8);
    if (H5Aexists(loc, name) > 0) H5Adelete(loc, name);
    hid_t a = H5Acreate2(loc, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(a >= 0 && H5Awrite(a, t, vlen ? (const void *)&value : (const void *)value) >= 0,
          "writing attribute %s", name);
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
}

static void h5_put_int(hid_t loc, const char *name, int64_t v, hid_t filetype)
{
    hid_t s = H5Screate(H5S_SCALAR);
    if (H5Aexists(loc, name) > 0) H5Adelete(loc, name);
    hid_t a = H5Acreate2(loc, name, filetype, s, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(a >= 0 && H5Awrite(a, H5T_NATIVE_INT64, &v) >= 0, "writing attribute %s", name);
    H5Aclose(a);
    H5Sclose(s);
}

/* A small HDF5 file that is not a usable checkpoint: only root attributes. */
static void write_fixture(const char *path, const char *format, int64_t version,
                          const char *config, int vlen)
{
    /* the newest format stores attributes over 64 KiB (the huge config) */
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    CHECK(f >= 0, "cannot create %s", path);
    if (f < 0) return;
    h5_put_str(f, "format", format, vlen);
    h5_put_int(f, "format_version", version, H5T_STD_I32LE);
    if (config) h5_put_str(f, "config", config, vlen);
    H5Fclose(f);
}

/* Replaces dataset `name` of a checkpoint by one of another shape or type. */
static void replace_dataset(const char *path, const char *name, hid_t type, hsize_t n)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    CHECK(f >= 0, "cannot open %s", path);
    if (f < 0) return;
    CHECK(H5Ldelete(f, name, H5P_DEFAULT) >= 0, "deleting %s", name);
    if (type >= 0) {
        hid_t s = H5Screate_simple(1, &n, NULL);
        double *buf = calloc(n, sizeof *buf);
        for (hsize_t i = 0; i < n; i++) buf[i] = 0.5 + (double)i;
        hid_t d = H5Dcreate2(f, name, type, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        CHECK(d >= 0 && H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0,
              "writing %s", name);
        H5Dclose(d);
        H5Sclose(s);
        free(buf);
    }
    H5Fclose(f);
}

/* The uint32 attribute crc32 of dataset `name`. */
static int h5_attr_u32(hid_t fid, const char *name, uint32_t *out)
{
    hid_t d = H5Dopen2(fid, name, H5P_DEFAULT);
    if (d < 0) return -1;
    hid_t a = H5Aopen(d, "crc32", H5P_DEFAULT);
    hid_t t = a >= 0 ? H5Aget_type(a) : -1;
    int ok = t >= 0 && H5Tequal(t, H5T_STD_U32LE) > 0 && H5Aread(a, H5T_NATIVE_UINT32, out) >= 0;
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    H5Dclose(d);
    return ok ? 0 : -1;
}

/* Flips bit `bit` of byte `byte` of dataset `name`'s raw data in the file,
 * as a disk or a network would (the dataset is contiguous: one offset). */
static void flip_bit(const char *path, const char *name, size_t byte, int bit)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = f >= 0 ? H5Dopen2(f, name, H5P_DEFAULT) : -1;
    haddr_t off = d >= 0 ? H5Dget_offset(d) : HADDR_UNDEF;
    if (d >= 0) H5Dclose(d);
    if (f >= 0) H5Fclose(f);
    CHECK(off != HADDR_UNDEF, "%s: no offset of %s", path, name);
    int fd = open(path, O_RDWR);
    unsigned char c = 0;
    CHECK(fd >= 0 && pread(fd, &c, 1, (off_t)(off + byte)) == 1, "reading %s", path);
    c ^= (unsigned char)(1u << bit);
    CHECK(fd >= 0 && pwrite(fd, &c, 1, (off_t)(off + byte)) == 1, "writing %s", path);
    if (fd >= 0) close(fd);
}

/* Replaces (or, with `what` = NULL, deletes) the crc32 attribute of a
 * dataset: "string" writes a string, else the integer `value` as int64 (what
 * h5py makes of a Python int). */
static void set_crc_attr(const char *path, const char *name, const char *what, int64_t value)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    CHECK(d >= 0, "%s: %s", path, name);
    if (H5Aexists(d, "crc32") > 0) H5Adelete(d, "crc32");
    if (what && strcmp(what, "string") == 0)
        h5_put_str(d, "crc32", "deadbeef", 0);
    else if (what)
        h5_put_int(d, "crc32", value, H5T_STD_I64LE);
    H5Dclose(d);
    H5Fclose(f);
}

/* ---- tests --------------------------------------------------------------------------- */

static void test_shard(void **state)
{
    (void)state;
    for (int world = 1; world <= 8; world++) {
        size_t n = (size_t)world * 13, prev = 0, lo, hi;
        for (int r = 0; r < world; r++) {
            swat_ckpt_shard(n, world, r, &lo, &hi);
            CHECK(lo == prev && hi - lo == 13, "world %d rank %d: [%zu, %zu)", world, r, lo, hi);
            prev = hi;
        }
        CHECK(prev == n, "world %d: shards end at %zu of %zu", world, prev, n);
    }
    verdict();
}

/* Root attributes and dataset properties, read with HDF5 directly. */
static void inspect_file(const char *path, const swat_config *cfg, const swat_ckpt_state *st,
                         const swat_model *model, int tie, int moments)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0, "cannot open %s", path);
    if (f < 0) return;
    char *format = h5_attr_str(f, "format"), *config = h5_attr_str(f, "config");
    char *created = h5_attr_str(f, "created"), *want = swat_config_to_string(cfg);
    CHECK(format && strcmp(format, "swat-checkpoint") == 0, "format '%s'", format ? format : "");
    CHECK(config && strcmp(config, want) == 0, "config attribute differs from the config text");
    int iso = created && strlen(created) == 20;
    for (int i = 0; iso && i < 20; i++) {
        const char *shape = "dddd-dd-ddTdd:dd:ddZ";
        iso = shape[i] == 'd' ? created[i] >= '0' && created[i] <= '9' : created[i] == shape[i];
    }
    CHECK(iso && strncmp(created, "2025", 4) >= 0, "created '%s' is not ISO 8601 UTC",
          created ? created : "");
    struct {
        const char *name;
        int64_t want;
    } ints[] = {{"format_version", 1},          {"step", st->step},
                {"samples_seen", st->samples_seen}, {"tokens_seen", st->tokens_seen},
                {"world_size", g_world},        {"sp", 1}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        int64_t v = -1;
        CHECK(h5_attr_i64(f, ints[i].name, &v) == 0 && v == ints[i].want,
              "attribute %s = %lld, want %lld (int64)", ints[i].name, (long long)v,
              (long long)ints[i].want);
    }
    int64_t step = -1;
    hid_t d = H5Dopen2(f, "/train/step", H5P_DEFAULT);
    CHECK(d >= 0 && H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &step) >= 0 &&
              step == st->step,
          "/train/step = %lld", (long long)step);
    H5Dclose(d);

    d = H5Dopen2(f, "/model/layers/1/mlp/down_proj/weight", H5P_DEFAULT);
    hid_t t = H5Dget_type(d), s = H5Dget_space(d), p = H5Dget_create_plist(d);
    hsize_t dims[2] = {0, 0};
    CHECK(H5Sget_simple_extent_ndims(s) == 2 && H5Sget_simple_extent_dims(s, dims, NULL) == 2 &&
              dims[0] == (hsize_t)cfg->model.hidden_size && dims[1] == F,
          "down_proj shape [%llu, %llu]", (unsigned long long)dims[0],
          (unsigned long long)dims[1]);
    CHECK(H5Tequal(t, H5T_IEEE_F32LE) > 0, "down_proj is not float32 little-endian");
    CHECK(H5Pget_layout(p) == H5D_CONTIGUOUS, "down_proj is not contiguous");
    H5Pclose(p);
    H5Sclose(s);
    H5Tclose(t);
    H5Dclose(d);
    CHECK((H5Lexists(f, "/lm_head", H5P_DEFAULT) > 0) == !tie, "/lm_head present: %d, tied: %d",
          H5Lexists(f, "/lm_head", H5P_DEFAULT) > 0, tie);
    CHECK((H5Lexists(f, "/optimizer", H5P_DEFAULT) > 0) == moments, "/optimizer presence");
    /* every parameter dataset's crc32 is zlib's CRC-32 of the float32 values
     * this test holds (a little-endian machine: memory = file bytes) */
    const uint16_t one = 1;
    if (*(const unsigned char *)&one == 1 && model)
        for (int i = 0; i < model->ntensors; i++) {
            const swat_tensor *tt = &model->tensors[i];
            char name[SWAT_TENSOR_NAME_LEN + 8];
            snprintf(name, sizeof name, "/%s", tt->name);
            uint32_t stored = 0;
            uLong crc = crc32(0, (const Bytef *)(model->params + tt->offset),
                               (uInt)(tt->numel * sizeof(float)));
            CHECK(h5_attr_u32(f, name, &stored) == 0 && stored == (uint32_t)crc,
                  "%s: crc32 %08x, zlib %08lx", name, (unsigned)stored, crc);
        }
    free(format);
    free(config);
    free(created);
    free(want);
    H5Fclose(f);
}

static void roundtrip(int tie)
{
    char err[SWAT_ERR_LEN] = "", dir[SWAT_PATH_LEN], path[SWAT_PATH_LEN];
    swat_config cfg;
    make_config(&cfg, 12, tie);
    /* MPI-IO hints reach the write (and change nothing in the file) */
    if (!tie)
        assert_int_equal(swat_config_set(&cfg, "checkpoint.mpiio_hints=cb_nodes=1, "
                                               "romio_cb_write=enable,cb_buffer_size=65536",
                                         err),
                         0);
    swat_model *model = make_model(&cfg), *back = swat_model_create(&cfg.model, (size_t)g_world);
    size_t n = model->nparams, np = model->nparams_pad, lo, hi;
    swat_ckpt_shard(np, g_world, g_rank, &lo, &hi);
    size_t sh = hi - lo;
    float *m = malloc(sizeof *m * sh), *v = malloc(sizeof *v * sh);
    float *m2 = malloc(sizeof *m2 * sh), *v2 = malloc(sizeof *v2 * sh);
    for (size_t i = 0; i < sh; i++) {
        m[i] = moment(lo + i, g_rank, 0);
        v[i] = moment(lo + i, g_rank, 1);
        m2[i] = v2[i] = -7;
    }
    new_dir(dir, tie ? "roundtrip-tied" : "roundtrip-untied");
    swat_ckpt_state st = state_at(7), got = {0};
    CHECK_OK(swat_rundir_save(g_comm, dir, &cfg, model, model->params, m, v, lo, hi, &st, 3, err),
             err);
    ckpt_path(path, dir, 7);
    CHECK(exists(path), "%s missing", path);
    CHECK(!has_tmp(dir), "a .tmp file is left in %s", dir);

    /* the same layout, into a buffer of sentinels: only [lo, hi) may change */
    for (size_t i = 0; i < np; i++) back->params[i] = -7;
    CHECK_OK(swat_ckpt_load(g_comm, path, back, back->params, m2, v2, lo, hi, &got, err), err);
    for (size_t i = 0; i < np; i++) {
        float want = i >= lo && i < hi && i < n ? model->params[i] : -7.0f;
        if (memcmp(&back->params[i], &want, sizeof want) != 0) {
            CHECK(0, "param %zu = %g, want %g (shard [%zu, %zu), %zu params)", i,
                  back->params[i], want, lo, hi, n);
            break;
        }
    }
    for (size_t i = 0; i < sh; i++) {
        float wm = lo + i < n ? m[i] : -7.0f, wv = lo + i < n ? v[i] : -7.0f;
        if (memcmp(&m2[i], &wm, sizeof wm) || memcmp(&v2[i], &wv, sizeof wv)) {
            CHECK(0, "moment %zu: %g %g, want %g %g", lo + i, m2[i], v2[i], wm, wv);
            break;
        }
    }
    CHECK(got.step == 7 && got.samples_seen == 7 * B && got.tokens_seen == 7 * B * T &&
              got.world_size == g_world && got.sp == 1,
          "state %lld %lld %lld %lld %lld", (long long)got.step, (long long)got.samples_seen,
          (long long)got.tokens_seen, (long long)got.world_size, (long long)got.sp);

    /* every rank reads everything, without moments and state */
    for (size_t i = 0; i < np; i++) back->params[i] = -7;
    CHECK_OK(swat_ckpt_load(g_comm, path, back, back->params, NULL, NULL, 0, np, NULL, err), err);
    CHECK(memcmp(back->params, model->params, sizeof(float) * n) == 0, "full read differs");

    if (g_rank == 0) inspect_file(path, &cfg, &st, model, tie, 1);
    free(m);
    free(v);
    free(m2);
    free(v2);
    swat_model_free(model);
    swat_model_free(back);
    verdict();
}

static void test_roundtrip_untied(void **state)
{
    (void)state;
    roundtrip(0);
}

static void test_roundtrip_tied(void **state)
{
    (void)state;
    roundtrip(1);
}

/* Saves with an uneven split whose cuts fall inside rows (and, on 4 ranks, an
 * empty rank 1), then reads with other splits. */
static void test_reshard(void **state)
{
    (void)state;
    char err[SWAT_ERR_LEN] = "", dir[SWAT_PATH_LEN], path[SWAT_PATH_LEN];
    swat_config cfg;
    make_config(&cfg, 12, 0);
    swat_model *model = make_model(&cfg), *back = swat_model_create(&cfg.model, (size_t)g_world);
    size_t n = model->nparams, np = model->nparams_pad;
    size_t cut[65];
    cut[0] = 0;
    cut[g_world] = np;
    for (int r = 1; r < g_world; r++) cut[r] = (size_t)r * np / (size_t)g_world + 7;
    if (g_world >= 4) cut[2] = cut[1];
    size_t slo = cut[g_rank], shi = cut[g_rank + 1], ssh = shi - slo;
    float *m = malloc(sizeof *m * (ssh + 1)), *v = malloc(sizeof *v * (ssh + 1));
    for (size_t i = 0; i < ssh; i++) {
        m[i] = moment(slo + i, g_rank, 0);
        v[i] = moment(slo + i, g_rank, 1);
    }
    new_dir(dir, "reshard");
    swat_ckpt_state st = state_at(3);
    CHECK_OK(swat_rundir_save(g_comm, dir, &cfg, model, model->params, m, v, slo, shi, &st, 3, err),
             err);
    ckpt_path(path, dir, 3);

    /* reads: equal blocks, the whole range, then ranges that differ by rank */
    float *m2 = malloc(sizeof *m2 * (np + 1)), *v2 = malloc(sizeof *v2 * (np + 1));
    /* rows of 20 (down_proj) and of 12 (lm_head): the selection's corner
     * cases, shifted by a row per rank */
    const swat_tensor *down = swat_model_find(model, "model/layers/0/mlp/down_proj/weight");
    const swat_tensor *head = swat_model_find(model, "lm_head/weight");
    size_t r0 = down->offset + (size_t)g_rank * F, r1 = head->offset + (size_t)g_rank * 12;
    const size_t edge[][2] = {
        {r0 + F - 1, r0 + 2 * F + 1}, /* last element of a row … first of the row after next */
        {r0 + 5, r0 + 6},             /* one element */
        {r0 + F, r0 + 2 * F},         /* exactly one row */
        {r0 + 3, r0 + F - 2},         /* inside one row */
        {r1 + 1, r1 + 3 * 12},        /* partial first row, full rows, no partial last */
        {r1 - 1, r1 + 12 + 1},        /* from the tensor before into a second row */
        {down->offset - 3, head->offset + 4}, /* many tensors, partial ends */
    };
    const int nedge = (int)(sizeof edge / sizeof edge[0]);
    for (int trial = 0; trial < 8 + nedge; trial++) {
        size_t lo, hi;
        if (trial == 0)
            swat_ckpt_shard(np, g_world, g_rank, &lo, &hi);
        else if (trial == 1)
            lo = 0, hi = np;
        else if (trial >= 8)
            lo = edge[trial - 8][0], hi = edge[trial - 8][1];
        else {
            lo = ((size_t)g_rank * 131 + (size_t)trial * 977) % n;
            hi = lo + ((size_t)(g_rank + 1) * (size_t)trial * 389) % (n - lo + 1);
        }
        for (size_t i = 0; i < np; i++) back->params[i] = -7;
        for (size_t i = 0; i <= hi - lo; i++) m2[i] = v2[i] = -7; /* one guard past the end */
        CHECK_OK(swat_ckpt_load(g_comm, path, back, back->params, m2, v2, lo, hi, NULL, err), err);
        int owner = 0, bad = 0;
        for (size_t e = 0; e < np && !bad; e++) {
            while (owner + 1 < g_world && e >= cut[owner + 1]) owner++;
            int in = e >= lo && e < hi && e < n;
            float wp = in ? model->params[e] : -7.0f;
            float wm = in ? moment(e, owner, 0) : -7.0f, wv = in ? moment(e, owner, 1) : -7.0f;
            if (memcmp(&back->params[e], &wp, sizeof wp)) {
                CHECK(0, "trial %d [%zu, %zu): param %zu = %g, want %g", trial, lo, hi, e,
                      back->params[e], wp);
                bad = 1;
            }
            if (e >= lo && e < hi && (memcmp(&m2[e - lo], &wm, sizeof wm) ||
                                      memcmp(&v2[e - lo], &wv, sizeof wv))) {
                CHECK(0, "trial %d [%zu, %zu): moment %zu = %g %g, want %g %g (owner %d)", trial,
                      lo, hi, e, m2[e - lo], v2[e - lo], wm, wv, owner);
                bad = 1;
            }
        }
        CHECK(m2[hi - lo] == -7.0f && v2[hi - lo] == -7.0f, "trial %d: moments written past %zu",
              trial, hi - lo);
    }
    free(m);
    free(v);
    free(m2);
    free(v2);
    swat_model_free(model);
    swat_model_free(back);
    verdict();
}

static void test_keep(void **state)
{
    (void)state;
    char err[SWAT_ERR_LEN] = "", dir[SWAT_PATH_LEN], path[SWAT_PATH_LEN + 32];
    swat_config cfg;
    make_config(&cfg, 12, 1);
    swat_model *model = make_model(&cfg);
    size_t lo, hi;
    swat_ckpt_shard(model->nparams_pad, g_world, g_rank, &lo, &hi);
    new_dir(dir, "keep");
    /* names that are not checkpoints are never removed */
    static const char *const strays[] = {"ckpt-1.h5", "ckpt-00000001.h5.bak", "ckpt-0000001.h5",
                                         "notes.txt"};
    if (g_rank == 0) {
        for (int i = 0; i < 4; i++) {
            pathf(path, "%s/%s", dir, strays[i]);
            write_text(path, "x", 1);
        }
        /* the temporary file of a save that died is cleaned up by the next */
        pathf(path, "%s/.ckpt-00000042.h5.tmp", dir);
        write_text(path, "torn", 1);
    }
    for (int64_t step = 1; step <= 5; step++) {
        swat_ckpt_state st = state_at(step);
        CHECK_OK(swat_rundir_save(g_comm, dir, &cfg, model, model->params, NULL, NULL, lo, hi, &st,
                                3, err),
                 err);
    }
    if (g_rank == 0) {
        for (int64_t step = 1; step <= 5; step++) {
            ckpt_path(path, dir, step);
            CHECK(exists(path) == (step >= 3), "step %lld: exists %d", (long long)step,
                  exists(path));
        }
        for (int i = 0; i < 4; i++) {
            pathf(path, "%s/%s", dir, strays[i]);
            CHECK(exists(path), "%s was removed", path);
        }
        CHECK(!has_tmp(dir), "a .tmp file is left in %s", dir);
    }
    /* a save older than the kept ones is not removed by its own pruning */
    swat_ckpt_state st = state_at(2);
    CHECK_OK(swat_rundir_save(g_comm, dir, &cfg, model, model->params, NULL, NULL, lo, hi, &st, 3,
                            err),
             err);
    ckpt_path(path, dir, 2);
    if (g_rank == 0) CHECK(exists(path), "the checkpoint just saved (step 2) was pruned");
    swat_model_free(model);
    verdict();
}

static void test_find_latest(void **state)
{
    (void)state;
    char err[SWAT_ERR_LEN] = "", dir[SWAT_PATH_LEN], other[SWAT_PATH_LEN];
    char path[SWAT_PATH_LEN], p2[SWAT_PATH_LEN], found[SWAT_PATH_LEN];
    swat_config cfg;
    make_config(&cfg, 12, 1);
    swat_model *model = make_model(&cfg);
    size_t lo, hi;
    swat_ckpt_shard(model->nparams_pad, g_world, g_rank, &lo, &hi);
    new_dir(dir, "latest");
    new_dir(other, "latest-unusable");
    if (g_rank == 0) {
        pathf(path, "%s/missing", dir);
        CHECK(swat_rundir_find_latest(path, found, sizeof found, err) == 1, "missing folder");
        CHECK(swat_rundir_find_latest(dir, found, sizeof found, err) == 1, "empty folder");
    }
    for (int64_t step = 1; step <= 3; step++) {
        swat_ckpt_state st = state_at(step);
        CHECK_OK(swat_rundir_save(g_comm, dir, &cfg, model, model->params, NULL, NULL, lo, hi, &st,
                                10, err),
                 err);
    }
    if (g_rank == 0) {
        ckpt_path(path, dir, 3);
        CHECK(swat_rundir_find_latest(dir, found, sizeof found, err) == 0 &&
                  strcmp(found, path) == 0,
              "newest: '%s', want %s", found, path);

        /* a complete file under a temporary name is not a checkpoint */
        pathf(p2, "%s/.ckpt-00000099.h5.tmp", dir);
        copy_file(path, p2);
        CHECK(swat_rundir_find_latest(dir, found, sizeof found, err) == 0 &&
                  strcmp(found, path) == 0,
              "with a .tmp: '%s', want %s", found, path);

        /* torn newest → the previous one */
        CHECK(truncate(path, file_size(path) / 2) == 0, "truncate %s", path);
        ckpt_path(p2, dir, 2);
        CHECK(swat_rundir_find_latest(dir, found, sizeof found, err) == 0 &&
                  strcmp(found, p2) == 0,
              "after truncation: '%s', want %s", found, p2);

        /* garbage, a foreign format and an unknown version are skipped too */
        ckpt_path(path, dir, 9);
        write_text(path, "not an HDF5 file\n", 100);
        ckpt_path(path, dir, 10);
        write_fixture(path, "something-else", 1, NULL, 0);
        ckpt_path(path, dir, 11);
        write_fixture(path, "swat-checkpoint", 2, NULL, 1);
        CHECK(swat_rundir_find_latest(dir, found, sizeof found, err) == 0 &&
                  strcmp(found, p2) == 0,
              "with garbage: '%s', want %s", found, p2);

        /* only unusable files: an error naming each */
        ckpt_path(path, dir, 2);
        ckpt_path(p2, other, 4);
        copy_file(path, p2);
        CHECK(truncate(p2, file_size(p2) / 2) == 0, "truncate %s", p2);
        ckpt_path(p2, other, 1);
        write_text(p2, "garbage", 3);
        int rc = swat_rundir_find_latest(other, found, sizeof found, err);
        CHECK(rc == -1, "only unusable files: %d", rc);
        CHECK(strstr(err, "no usable checkpoint") && strstr(err, "ckpt-00000004.h5") &&
                  strstr(err, "ckpt-00000001.h5"),
              "message: %s", err);
    }
    swat_model_free(model);
    verdict();
}

static void test_model_mismatch(void **state)
{
    (void)state;
    char err[SWAT_ERR_LEN] = "", dir[SWAT_PATH_LEN], path[SWAT_PATH_LEN];
    swat_config cfg, wider, tied;
    make_config(&cfg, 12, 0);
    make_config(&wider, 16, 0);
    make_config(&tied, 12, 1);
    swat_model *model = make_model(&cfg);
    swat_model *mw = swat_model_create(&wider.model, (size_t)g_world);
    swat_model *mt = swat_model_create(&tied.model, (size_t)g_world);
    size_t lo, hi;
    swat_ckpt_shard(model->nparams_pad, g_world, g_rank, &lo, &hi);
    new_dir(dir, "mismatch");
    swat_ckpt_state st = state_at(1);
    CHECK_OK(swat_rundir_save(g_comm, dir, &cfg, model, model->params, NULL, NULL, lo, hi, &st, 3,
                            err),
             err);
    ckpt_path(path, dir, 1);

    swat_ckpt_shard(mw->nparams_pad, g_world, g_rank, &lo, &hi);
    err[0] = '\0';
    CHECK_FAILS(swat_ckpt_load(g_comm, path, mw, mw->params, NULL, NULL, lo, hi, NULL, err), err,
                "hidden_size");
    CHECK(strstr(err, "differs from the config"), "message: %s", err);
    swat_ckpt_shard(mt->nparams_pad, g_world, g_rank, &lo, &hi);
    err[0] = '\0';
    CHECK_FAILS(swat_ckpt_load(g_comm, path, mt, mt->params, NULL, NULL, lo, hi, NULL, err), err,
                "tie_word_embeddings");
    swat_model_free(model);
    swat_model_free(mw);
    swat_model_free(mt);
    verdict();
}

/* A checkpoint without moments, a missing dataset, a wrong shape or dtype are
 * refused with a message naming the dataset; a float64 dataset is read. */
static void test_bad_datasets(void **state)
{
    (void)state;
    char err[SWAT_ERR_LEN] = "", dir[SWAT_PATH_LEN], path[SWAT_PATH_LEN];
    swat_config cfg;
    make_config(&cfg, 12, 0);
    swat_model *model = make_model(&cfg), *back = swat_model_create(&cfg.model, (size_t)g_world);
    size_t lo, hi;
    swat_ckpt_shard(model->nparams_pad, g_world, g_rank, &lo, &hi);
    float *m = calloc(hi - lo + 1, sizeof *m), *v = calloc(hi - lo + 1, sizeof *v);
    new_dir(dir, "bad");
    for (int64_t step = 1; step <= 5; step++) {
        swat_ckpt_state st = state_at(step);
        CHECK_OK(swat_rundir_save(g_comm, dir, &cfg, model, model->params, step == 1 ? NULL : m,
                                step == 1 ? NULL : v, lo, hi, &st, 10, err),
                 err);
    }
    const swat_tensor *norm = swat_model_find(model, "model/norm/weight");
    if (g_rank == 0) {
        ckpt_path(path, dir, 2);
        replace_dataset(path, "/model/layers/1/mlp/up_proj/weight", -1, 0);
        ckpt_path(path, dir, 3);
        replace_dataset(path, "/model/norm/weight", H5T_IEEE_F32LE, 13);
        ckpt_path(path, dir, 4);
        replace_dataset(path, "/model/norm/weight", H5T_STD_I32LE, 12);
        ckpt_path(path, dir, 5);
        replace_dataset(path, "/model/norm/weight", H5T_IEEE_F64LE, 12);
    }
    swat_comm_barrier(g_comm);

    ckpt_path(path, dir, 1);
    CHECK_FAILS(swat_ckpt_load(g_comm, path, back, back->params, m, v, lo, hi, NULL, err), err,
                "/optimizer/exp_avg/model/embeddings/weight");
    CHECK_OK(swat_ckpt_load(g_comm, path, back, back->params, NULL, NULL, lo, hi, NULL, err), err);
    ckpt_path(path, dir, 2);
    CHECK_FAILS(swat_ckpt_load(g_comm, path, back, back->params, NULL, NULL, lo, hi, NULL, err),
                err, "missing dataset /model/layers/1/mlp/up_proj/weight");
    ckpt_path(path, dir, 3);
    CHECK_FAILS(swat_ckpt_load(g_comm, path, back, back->params, NULL, NULL, lo, hi, NULL, err),
                err, "/model/norm/weight has shape [13], the model needs [12]");
    ckpt_path(path, dir, 4);
    CHECK_FAILS(swat_ckpt_load(g_comm, path, back, back->params, NULL, NULL, lo, hi, NULL, err),
                err, "/model/norm/weight is not float");

    ckpt_path(path, dir, 5);
    for (size_t i = 0; i < model->nparams_pad; i++) back->params[i] = -7;
    CHECK_OK(swat_ckpt_load(g_comm, path, back, back->params, NULL, NULL, 0, model->nparams_pad,
                            NULL, err),
             err);
    for (size_t i = 0; i < norm->numel; i++)
        CHECK(back->params[norm->offset + i] == 0.5f + (float)i, "float64 norm[%zu] = %g", i,
              back->params[norm->offset + i]);
    CHECK(memcmp(back->params, model->params, sizeof(float) * norm->offset) == 0,
          "tensors before the norm differ");
    free(m);
    free(v);
    swat_model_free(model);
    swat_model_free(back);
    verdict();
}

static void test_read_config(void **state)
{
    (void)state;
    char err[SWAT_ERR_LEN] = "", dir[SWAT_PATH_LEN], path[SWAT_PATH_LEN], p2[SWAT_PATH_LEN];
    swat_config cfg, got;
    make_config(&cfg, 12, 0);
    swat_model *model = make_model(&cfg), *back = swat_model_create(&cfg.model, (size_t)g_world);
    size_t lo, hi;
    swat_ckpt_shard(model->nparams_pad, g_world, g_rank, &lo, &hi);
    new_dir(dir, "config");
    swat_ckpt_state st = state_at(2);
    CHECK_OK(swat_rundir_save(g_comm, dir, &cfg, model, model->params, NULL, NULL, lo, hi, &st, 3,
                            err),
             err);
    ckpt_path(path, dir, 2);
    ckpt_path(p2, dir, 3);
    if (g_rank == 0) {
        CHECK_OK(swat_ckpt_read_config(path, &got, err), err);
        char *a = swat_config_to_string(&cfg), *b = swat_config_to_string(&got);
        CHECK(strcmp(a, b) == 0, "config read back differs:\n%s\n---\n%s", a, b);
        CHECK(swat_config_same_model(&cfg.model, &got.model, err), "model: %s", err);
        free(a);
        free(b);

        /* h5py-style attributes: variable-length strings, an int32 version */
        copy_file(path, p2);
        hid_t f = H5Fopen(p2, H5F_ACC_RDWR, H5P_DEFAULT);
        char *text = swat_config_to_string(&cfg);
        h5_put_str(f, "format", "swat-checkpoint", 1);
        h5_put_str(f, "config", text, 1);
        h5_put_int(f, "format_version", 1, H5T_STD_I32LE);
        H5Fclose(f);
        free(text);
        CHECK_OK(swat_ckpt_read_config(p2, &got, err), err);
        CHECK(swat_config_same_model(&cfg.model, &got.model, err), "vlen model: %s", err);

        pathf(p2, "%s/garbage.h5", dir);
        write_text(p2, "garbage", 1);
        CHECK_FAILS(swat_ckpt_read_config(p2, &got, err), err, "garbage.h5");
        pathf(p2, "%s/foreign.h5", dir);
        write_fixture(p2, "other", 1, "[model]\n", 0);
        CHECK_FAILS(swat_ckpt_read_config(p2, &got, err), err, "format");
        pathf(p2, "%s/unknown-key.h5", dir);
        write_fixture(p2, "swat-checkpoint", 1, "[model]\nbogus_key = 1\n", 0);
        CHECK_FAILS(swat_ckpt_read_config(p2, &got, err), err, "bogus_key");
        pathf(p2, "%s/no-config.h5", dir);
        write_fixture(p2, "swat-checkpoint", 1, NULL, 0);
        CHECK_FAILS(swat_ckpt_read_config(p2, &got, err), err, "config");
        /* a 2 MiB config is refused before it is parsed */
        size_t big = (size_t)2 << 20;
        char *huge = malloc(big + 1);
        memset(huge, '#', big);
        huge[big] = '\0';
        pathf(p2, "%s/huge.h5", dir);
        write_fixture(p2, "swat-checkpoint", 1, huge, 0);
        CHECK_FAILS(swat_ckpt_read_config(p2, &got, err), err, "config");
        CHECK(strstr(err, "bytes") != NULL, "message: %s", err);
        free(huge);
    }
    swat_comm_barrier(g_comm);
    /* the collective load reads the h5py-style attributes too */
    ckpt_path(p2, dir, 3);
    CHECK_OK(swat_ckpt_load(g_comm, p2, back, back->params, NULL, NULL, lo, hi, NULL, err), err);
    CHECK(memcmp(back->params + lo, model->params + lo, sizeof(float) * (hi - lo)) == 0,
          "vlen file: params differ");
    swat_model_free(model);
    swat_model_free(back);
    verdict();
}

/* A failing save fails on every rank and leaves nothing under a final name. */
static void test_save_errors(void **state)
{
    (void)state;
    char err[SWAT_ERR_LEN] = "", dir[SWAT_PATH_LEN], path[SWAT_PATH_LEN], p2[SWAT_PATH_LEN];
    swat_config cfg;
    make_config(&cfg, 12, 1);
    swat_model *model = make_model(&cfg);
    size_t lo, hi;
    swat_ckpt_shard(model->nparams_pad, g_world, g_rank, &lo, &hi);
    new_dir(dir, "errors");
    pathf(path, "%s/a-file", dir);
    if (g_rank == 0) write_text(path, "x", 1);
    swat_comm_barrier(g_comm);

    swat_ckpt_state st = state_at(5);
    pathf(p2, "%s/a-file/run", dir);
    err[0] = '\0';
    CHECK_FAILS(swat_rundir_save(g_comm, p2, &cfg, model, model->params, NULL, NULL, lo, hi, &st, 3,
                               err),
                err, "a-file/run");

    /* the final name is taken by a folder: the rename fails */
    ckpt_path(path, dir, 5);
    if (g_rank == 0) CHECK(mkdir(path, 0777) == 0, "mkdir %s", path);
    swat_comm_barrier(g_comm);
    err[0] = '\0';
    CHECK_FAILS(swat_rundir_save(g_comm, dir, &cfg, model, model->params, NULL, NULL, lo, hi, &st, 3,
                               err),
                err, "rename");
    swat_comm_barrier(g_comm);
    if (g_rank == 0) CHECK(!has_tmp(dir), "a .tmp file is left in %s", dir);

    /* the temporary name is taken by a folder: the create fails */
    st = state_at(6);
    pathf(p2, "%s/.ckpt-00000006.h5.tmp", dir);
    if (g_rank == 0) CHECK(mkdir(p2, 0777) == 0, "mkdir %s", p2);
    swat_comm_barrier(g_comm);
    err[0] = '\0';
    CHECK_FAILS(swat_rundir_save(g_comm, dir, &cfg, model, model->params, NULL, NULL, lo, hi, &st, 3,
                               err),
                err, ".ckpt-00000006.h5.tmp");
    ckpt_path(path, dir, 6);
    CHECK(!exists(path), "%s exists after a failed save", path);

    st = state_at(100000000);
    err[0] = '\0';
    CHECK_FAILS(swat_rundir_save(g_comm, dir, &cfg, model, model->params, NULL, NULL, lo, hi, &st, 3,
                               err),
                err, "8-digit");
    swat_model_free(model);
    verdict();
}

/* A bit flipped in the data of a tensor, a moment or a /train scalar is
 * refused with the dataset named (SWAT_CKPT_CORRUPT), whether the ranks'
 * ranges tile the tensors or overlap; data not read is not judged; without
 * the attribute a dataset loads unchecked; a malformed attribute is bad
 * input (−1); a float64 dataset is checked on its own bytes. */
static void test_crc(void **state)
{
    (void)state;
    char err[SWAT_ERR_LEN] = "", dir[SWAT_PATH_LEN], path[SWAT_PATH_LEN], p2[SWAT_PATH_LEN];
    swat_config cfg;
    make_config(&cfg, 12, 0);
    swat_model *model = make_model(&cfg), *back = swat_model_create(&cfg.model, (size_t)g_world);
    size_t n = model->nparams, np = model->nparams_pad, lo, hi;
    swat_ckpt_shard(np, g_world, g_rank, &lo, &hi);
    float *m = calloc(np + 1, sizeof *m), *v = calloc(np + 1, sizeof *v);
    for (size_t i = 0; i < hi - lo; i++) m[i] = v[i] = moment(lo + i, g_rank, 0);
    new_dir(dir, "crc");
    swat_ckpt_state st = state_at(4);
    CHECK_OK(swat_rundir_save(g_comm, dir, &cfg, model, model->params, m, v, lo, hi, &st, 3, err),
             err);
    ckpt_path(path, dir, 4);
    const char *vp = "/model/layers/1/attn/v_proj/weight";
    const swat_tensor *vt = swat_model_find(model, vp + 1);
    const char *cases[] = {"flip-param", "flip-moment", "flip-train", "no-attr", "string-attr",
                           "range-attr", "float64"};
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) {
        pathf(p2, "%s/%s.h5", dir, cases[k]);
        if (g_rank == 0) copy_file(path, p2);
    }
    if (g_rank == 0) {
        /* one bit in the middle of v_proj (bit 3 of a mantissa byte) */
        pathf(p2, "%s/flip-param.h5", dir);
        flip_bit(p2, vp, vt->numel * 2 + 1, 3);
        pathf(p2, "%s/flip-moment.h5", dir);
        flip_bit(p2, "/optimizer/exp_avg_sq/model/norm/weight", 5, 0);
        pathf(p2, "%s/flip-train.h5", dir);
        flip_bit(p2, "/train/samples_seen", 0, 6);
        pathf(p2, "%s/no-attr.h5", dir);
        flip_bit(p2, vp, vt->numel * 2 + 1, 3);
        set_crc_attr(p2, vp, NULL, 0);
        pathf(p2, "%s/string-attr.h5", dir);
        set_crc_attr(p2, vp, "string", 0);
        pathf(p2, "%s/range-attr.h5", dir);
        set_crc_attr(p2, vp, "int", (int64_t)1 << 33);
        /* float64 with the crc32 of its own 8-byte values, as h5py would make it */
        pathf(p2, "%s/float64.h5", dir);
        replace_dataset(p2, "/model/norm/weight", H5T_IEEE_F64LE, 12);
        double want[12];
        for (int i = 0; i < 12; i++) want[i] = 0.5 + (double)i;
        set_crc_attr(p2, "/model/norm/weight", "int",
                     (int64_t)crc32(0, (const Bytef *)want, sizeof want));
    }
    swat_comm_barrier(g_comm);

    /* the intact file, tiled and overlapping (every rank reads everything) */
    CHECK_OK(swat_ckpt_load(g_comm, path, back, back->params, m, v, lo, hi, NULL, err), err);
    CHECK_OK(swat_ckpt_load(g_comm, path, back, back->params, NULL, NULL, 0, np, NULL, err), err);
    /* a flipped parameter bit, both ways */
    pathf(p2, "%s/flip-param.h5", dir);
    err[0] = '\0';
    int rc = swat_ckpt_load(g_comm, p2, back, back->params, NULL, NULL, lo, hi, NULL, err);
    CHECK(rc == SWAT_CKPT_CORRUPT && strstr(err, vp) && strstr(err, "crc32") &&
              strstr(err, "flip-param.h5"),
          "flipped parameter (tiled): %d %s", rc, err);
    err[0] = '\0';
    rc = swat_ckpt_load(g_comm, p2, back, back->params, NULL, NULL, 0, np, NULL, err);
    CHECK(rc == SWAT_CKPT_CORRUPT && strstr(err, vp), "flipped parameter (overlapping): %d %s", rc,
          err);
    /* a range that leaves v_proj to rank 0 alone, from the middle on: the
     * other part is checked by the canonical read */
    size_t mid = vt->offset + vt->numel / 2;
    err[0] = '\0';
    rc = swat_ckpt_load(g_comm, p2, back, back->params, NULL, NULL, g_rank == 0 ? mid : np,
                        np, NULL, err);
    CHECK(rc == SWAT_CKPT_CORRUPT && strstr(err, vp), "flipped parameter (partial read): %d %s",
          rc, err);
    /* a flipped moment: found when the moments are read, not otherwise */
    pathf(p2, "%s/flip-moment.h5", dir);
    CHECK_OK(swat_ckpt_load(g_comm, p2, back, back->params, NULL, NULL, lo, hi, NULL, err), err);
    err[0] = '\0';
    rc = swat_ckpt_load(g_comm, p2, back, back->params, m, v, lo, hi, NULL, err);
    CHECK(rc == SWAT_CKPT_CORRUPT && strstr(err, "/optimizer/exp_avg_sq/model/norm/weight"),
          "flipped moment: %d %s", rc, err);
    pathf(p2, "%s/flip-train.h5", dir);
    err[0] = '\0';
    rc = swat_ckpt_load(g_comm, p2, back, back->params, NULL, NULL, lo, hi, NULL, err);
    CHECK(rc == SWAT_CKPT_CORRUPT && strstr(err, "/train/samples_seen"), "flipped /train: %d %s",
          rc, err);
    /* no attribute: read unchecked, and the flipped value arrives */
    pathf(p2, "%s/no-attr.h5", dir);
    CHECK_OK(swat_ckpt_load(g_comm, p2, back, back->params, NULL, NULL, 0, np, NULL, err), err);
    size_t differ = 0;
    for (size_t i = 0; i < n; i++) differ += memcmp(&back->params[i], &model->params[i], 4) != 0;
    CHECK(differ == 1, "%zu parameters differ after a one-bit flip read unchecked", differ);
    /* malformed attributes are refused as such */
    pathf(p2, "%s/string-attr.h5", dir);
    err[0] = '\0';
    rc = swat_ckpt_load(g_comm, p2, back, back->params, NULL, NULL, lo, hi, NULL, err);
    CHECK(rc == -1 && strstr(err, "crc32 is not an integer") && strstr(err, vp),
          "string crc32: %d %s", rc, err);
    pathf(p2, "%s/range-attr.h5", dir);
    err[0] = '\0';
    rc = swat_ckpt_load(g_comm, p2, back, back->params, NULL, NULL, lo, hi, NULL, err);
    CHECK(rc == -1 && strstr(err, "8589934592 is not a CRC-32"), "crc32 out of range: %d %s", rc,
          err);
    /* float64: checked on its 8-byte values, then converted */
    pathf(p2, "%s/float64.h5", dir);
    CHECK_OK(swat_ckpt_load(g_comm, p2, back, back->params, NULL, NULL, 0, np, NULL, err), err);
    const swat_tensor *norm = swat_model_find(model, "model/norm/weight");
    CHECK(back->params[norm->offset + 11] == 11.5f, "float64 norm[11] = %g",
          back->params[norm->offset + 11]);
    if (g_rank == 0) set_crc_attr(p2, "/model/norm/weight", "int", 12345);
    swat_comm_barrier(g_comm);
    err[0] = '\0';
    rc = swat_ckpt_load(g_comm, p2, back, back->params, NULL, NULL, lo, hi, NULL, err);
    CHECK(rc == SWAT_CKPT_CORRUPT && strstr(err, "/model/norm/weight") && strstr(err, "00003039"),
          "float64 with a wrong crc32: %d %s", rc, err);
    free(m);
    free(v);
    swat_model_free(model);
    swat_model_free(back);
    verdict();
}

/* swat_rundir_resume walks back past damaged checkpoints to the newest whose
 * data checks out; if none does, it says so for each; a model mismatch is
 * not skipped over. */
static void test_resume_fallback(void **state)
{
    (void)state;
    char err[SWAT_ERR_LEN] = "", dir[SWAT_PATH_LEN], path[SWAT_PATH_LEN], got[SWAT_PATH_LEN];
    swat_config cfg, wider;
    make_config(&cfg, 12, 1);
    make_config(&wider, 16, 1);
    swat_model *model = make_model(&cfg), *back = swat_model_create(&cfg.model, (size_t)g_world);
    swat_model *mw = swat_model_create(&wider.model, (size_t)g_world);
    size_t lo, hi, wlo, whi;
    swat_ckpt_shard(model->nparams_pad, g_world, g_rank, &lo, &hi);
    swat_ckpt_shard(mw->nparams_pad, g_world, g_rank, &wlo, &whi);
    float *m = calloc(hi - lo + 1, sizeof *m), *v = calloc(hi - lo + 1, sizeof *v);
    new_dir(dir, "fallback");
    CHECK(swat_rundir_resume(g_comm, dir, back, back->params, m, v, lo, hi, NULL, got, sizeof got,
                             err) == 1,
          "empty directory: %s", err);
    for (int64_t step = 1; step <= 3; step++) {
        swat_ckpt_state st = state_at(step);
        CHECK_OK(swat_rundir_save(g_comm, dir, &cfg, model, model->params, m, v, lo, hi, &st, 5,
                                  err),
                 err);
    }
    swat_ckpt_state st = {0};
    const char *wq = "/model/layers/0/attn/q_proj/weight";
    for (int damaged = 3; damaged >= 0; damaged--) {
        if (g_rank == 0 && damaged >= 1) {
            ckpt_path(path, dir, damaged);
            flip_bit(path, damaged == 2 ? "/optimizer/exp_avg/model/norm/weight" : wq, 7, 1);
        }
        swat_comm_barrier(g_comm);
        err[0] = '\0';
        int rc = swat_rundir_resume(g_comm, dir, back, back->params, m, v, lo, hi, &st, got,
                                    sizeof got, err);
        if (damaged > 1) {
            ckpt_path(path, dir, damaged - 1);
            CHECK(rc == 0 && strcmp(got, path) == 0 && st.step == damaged - 1,
                  "newest %d damaged: rc %d, resumed from '%s' (step %lld): %s", damaged, rc, got,
                  (long long)st.step, err);
        } else if (damaged == 1) {
            CHECK(rc == -1 && strstr(err, "no usable checkpoint") &&
                      strstr(err, "ckpt-00000001.h5 (dataset /model/layers/0") &&
                      strstr(err, "ckpt-00000002.h5 (dataset /optimizer/exp_avg/") &&
                      strstr(err, "ckpt-00000003.h5"),
                  "all damaged: rc %d: %s", rc, err);
        } else {
            /* a good checkpoint of another model on top: refused, not skipped */
            swat_ckpt_state s4 = state_at(4);
            CHECK_OK(swat_rundir_save(g_comm, dir, &wider, mw, mw->params, NULL, NULL, wlo, whi,
                                      &s4, 5, err),
                     err);
            err[0] = '\0';
            rc = swat_rundir_resume(g_comm, dir, back, back->params, m, v, lo, hi, &st, got,
                                    sizeof got, err);
            CHECK(rc == -1 && strstr(err, "hidden_size"), "other model: rc %d: %s", rc, err);
        }
    }
    free(m);
    free(v);
    swat_model_free(model);
    swat_model_free(back);
    swat_model_free(mw);
    verdict();
}

/* The interpreter of the Python checks: SWAT_PYTHON, which ctest sets to one
 * that configure found with h5py; python3 when run by hand. */
static const char *python(void)
{
    const char *py = getenv("SWAT_PYTHON");
    return py && *py ? py : "python3";
}

static int run_checker(const char *path, const char *flags)
{
    char cmd[3 * SWAT_PATH_LEN];
    snprintf(cmd, sizeof cmd, "'%s' %s/tests/check_ckpt_h5py.py '%s' %s", python(),
             SWAT_SOURCE_DIR, path, flags);
    int rc = system(cmd);
    return rc == -1 ? -1 : WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

/* The layout as an independent reader (h5py) sees it. */
static void test_h5py(void **state)
{
    (void)state;
    /* Under ctest SWAT_PYTHON has h5py (configure checked it): a missing
     * h5py is then a failure, not a reason to skip. */
    int have = 0, must = getenv("SWAT_PYTHON") != NULL;
    if (g_rank == 0) {
        char cmd[SWAT_PATH_LEN + 64];
        snprintf(cmd, sizeof cmd, "'%s' -c 'import h5py' >/dev/null 2>&1", python());
        have = system(cmd) == 0;
        if (!have) fprintf(stderr, "test_h5py: %s cannot import h5py: skipped (set SWAT_PYTHON)\n", python());
    }
    swat_comm_bcast(g_comm, &have, sizeof have, 0);
    if (!have && must) fail_msg("SWAT_PYTHON=%s cannot import h5py", python());
    if (!have) skip();

    char err[SWAT_ERR_LEN] = "", dir[SWAT_PATH_LEN], path[SWAT_PATH_LEN];
    new_dir(dir, "h5py");
    for (int tie = 0; tie <= 1; tie++) {
        swat_config cfg;
        make_config(&cfg, 12, tie);
        swat_model *model = make_model(&cfg);
        size_t lo, hi;
        swat_ckpt_shard(model->nparams_pad, g_world, g_rank, &lo, &hi);
        float *m = calloc(hi - lo + 1, sizeof *m), *v = calloc(hi - lo + 1, sizeof *v);
        swat_ckpt_state st = state_at(tie + 1);
        CHECK_OK(swat_rundir_save(g_comm, dir, &cfg, model, model->params, tie ? NULL : m,
                                tie ? NULL : v, lo, hi, &st, 10, err),
                 err);
        ckpt_path(path, dir, tie + 1);
        if (g_rank == 0) {
            char flags[64];
            snprintf(flags, sizeof flags, "--step %d --world-size %d%s", tie + 1, g_world,
                     tie ? "" : " --optimizer");
            CHECK(run_checker(path, flags) == 0, "check_ckpt_h5py.py %s %s failed", path, flags);
            if (tie) {
                /* the checker can fail: moments asked for but absent, a bit of
                 * data flipped, a dataset gone */
                CHECK(run_checker(path, "--optimizer 2>/dev/null") != 0,
                      "checker accepted a file without moments");
                char p2[SWAT_PATH_LEN];
                pathf(p2, "%s/flipped.h5", dir);
                copy_file(path, p2);
                flip_bit(p2, "/model/layers/1/mlp/up_proj/weight", 17, 5);
                CHECK(run_checker(p2, "2>/dev/null") != 0,
                      "checker accepted a flipped bit in up_proj's data");
                replace_dataset(path, "/model/layers/0/attn/k_proj/weight", -1, 0);
                CHECK(run_checker(path, "2>/dev/null") != 0,
                      "checker accepted a file without k_proj");
            }
        }
        free(m);
        free(v);
        swat_model_free(model);
    }
    verdict();
}

int main(int argc, char **argv)
{
    g_world = swat_comm_init(&argc, &argv);
    g_comm = swat_comm_create(1);
    g_rank = swat_comm_rank(g_comm, SWAT_SCOPE_WORLD);
    if (g_world > 64) {
        if (g_rank == 0) fprintf(stderr, "test_ckpt: written for at most 64 ranks\n");
        swat_comm_finalize();
        return 1;
    }
    if (g_rank == 0) {
        char cmd[SWAT_PATH_LEN + 32];
        snprintf(g_root, sizeof g_root, "%s/test_ckpt.d/np%d-%ld", SWAT_BINARY_DIR, g_world,
                 (long)getpid());
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", g_root);
        if (system(cmd) != 0) fprintf(stderr, "test_ckpt: cannot create %s\n", g_root);
    } else {
        cmocka_set_message_output(CM_OUTPUT_TAP);
        if (!freopen("/dev/null", "w", stdout)) perror("freopen");
    }
    swat_comm_bcast(g_comm, g_root, sizeof g_root, 0);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shard),          cmocka_unit_test(test_roundtrip_untied),
        cmocka_unit_test(test_roundtrip_tied), cmocka_unit_test(test_reshard),
        cmocka_unit_test(test_keep),           cmocka_unit_test(test_find_latest),
        cmocka_unit_test(test_model_mismatch), cmocka_unit_test(test_bad_datasets),
        cmocka_unit_test(test_read_config),    cmocka_unit_test(test_save_errors),
        cmocka_unit_test(test_crc),            cmocka_unit_test(test_resume_fallback),
        cmocka_unit_test(test_h5py),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    int64_t total = swat_comm_max_i64(g_comm, failed);
    if (g_rank == 0) {
        if (total) {
            fprintf(stderr, "test_ckpt: %lld test(s) failed; files kept in %s\n",
                    (long long)total, g_root);
        } else {
            char cmd[SWAT_PATH_LEN + 32];
            snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
            if (system(cmd) != 0) fprintf(stderr, "test_ckpt: cannot remove %s\n", g_root);
        }
    }
    swat_comm_free(g_comm);
    swat_comm_finalize();
    return total ? 1 : 0;
}
