/* SPDX-License-Identifier: MIT */
/* ckpt.c: the checkpoint file format in HDF5 (docs/checkpoint-format.md):
 * one file written and read collectively; the only file of swat that
 * includes hdf5.h. Where files go and which one a run resumes from is
 * rundir.c's.
 *
 * Why it is shaped so:
 *   - One table, one walk: every tensor of the model table is one float32
 *     dataset of its documented shape, contiguous, so a rank's shard of the
 *     flat buffer is a contiguous byte range of each dataset it touches. In a
 *     2-D row-major dataset that range is at most three hyperslabs (partial
 *     first row, full rows, partial last row); no rank gathers the model, and
 *     a file reads back on any other split of the flat index (resharding is
 *     free).
 *   - Parallel HDF5 needs every rank to make the same metadata calls (create,
 *     attributes) and to enter every collective transfer. A failure on one
 *     rank must therefore never let it skip a call the others make: each phase
 *     ends with swat_comm_agree (one all-reduce), and on a failure every rank
 *     jumps to the same cleanup label together, carrying the lowest failing
 *     rank's message. Nothing here aborts the job for an I/O error.
 *   - HDF5's own error printing is off; the innermost entry of its error stack
 *     ("truncated file: eof = …", "file signature not found") is captured at
 *     the failing call, before any cleanup call clears the stack, and appended
 *     to a one-line message that names the file and the dataset or attribute.
 *   - Speed: contiguous datasets allocated early with no fill value (the
 *     shards overwrite every byte), collective transfers, large datasets
 *     aligned to 1 MiB and metadata aggregated in 1 MiB blocks written
 *     collectively, so a save is a few hundred large writes.
 *   - Loading makes the same collective HDF5 calls but asks for independent
 *     MPI-IO underneath: Open MPI 4.1's OMPIO returns zeros from a collective
 *     read where ranks' ranges partly overlap (resharding does that; see
 *     test_reshard), and a contiguous range per rank gains nothing from
 *     two-phase aggregation. */
#include "swat/ckpt.h"

#include "swat/faults.h"

#include <hdf5.h>
#include <mpi.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CKPT_FORMAT "swat-checkpoint"
#define CKPT_VERSION 1
#define CKPT_MAX_STRING ((size_t)1 << 20)       /* longer string attributes are refused */
#define CKPT_ALIGN_THRESHOLD ((hsize_t)1 << 18) /* objects from 256 KiB up … */
#define CKPT_ALIGN ((hsize_t)1 << 20)           /* … start on a 1 MiB boundary */
#define CKPT_META_BLOCK ((hsize_t)1 << 20)

/* ---- errors ------------------------------------------------------------------ */

static void h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

typedef struct reason_ctx {
    char *buf;
    size_t len;
    int found;
} reason_ctx;

static herr_t reason_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    reason_ctx *r = data;
    (void)n;
    if (!r->found && e->desc && e->desc[0]) {
        snprintf(r->buf, r->len, "%s", e->desc);
        r->found = 1;
    }
    return 0;
}

/* The most specific message on HDF5's error stack (walked from where the error
 * was detected), then clears the stack. */
static void h5_reason(char *buf, size_t len)
{
    reason_ctx r = {buf, len, 0};
    buf[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, reason_cb, &r);
    H5Eclear2(H5E_DEFAULT);
}

/* err = "<what>: <HDF5's reason>"; returns -1. */
static int __attribute__((format(printf, 2, 3))) h5_fail(char *err, const char *fmt, ...)
{
    char why[200], what[SWAT_ERR_LEN];
    h5_reason(why, sizeof why);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (why[0]) return swat_errf(err, "%s: %s", what, why);
    return swat_errf(err, "%s", what);
}

/* An HDF5 call that failed (negative result) fills err with HDF5's reason at
 * once, before a cleanup call clears the error stack, and jumps to `done`. */
#define H5_TRY(call, ...)                                                                          \
    do {                                                                                           \
        if ((call) < 0) {                                                                          \
            h5_fail(err, __VA_ARGS__);                                                             \
            goto done;                                                                             \
        }                                                                                          \
    } while (0)

/* ---- property lists ---------------------------------------------------------- */

static hid_t real_memtype(void)
{
    return sizeof(swat_real) == sizeof(float) ? H5T_NATIVE_FLOAT : H5T_NATIVE_DOUBLE;
}

/* Serial read-only opening: try file locks, but go on where the file system
 * has them disabled (common on Lustre), since these opens only read. */
static hid_t open_serial(const char *path)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return -1;
    hid_t fid = -1;
    if (H5Pset_file_locking(fapl, 1, 1) >= 0) fid = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    /* closing the list would clear the error stack the caller reports */
    hid_t saved = H5Eget_current_stack();
    H5Pclose(fapl);
    if (saved >= 0) H5Eset_current_stack(saved);
    return fid;
}

/* MPI-IO over the world, collective metadata, aligned large objects. */
static hid_t make_fapl(swat_comm *c, const char *file, char *err)
{
    MPI_Comm world = *(const MPI_Comm *)swat_comm_mpi_world(c);
    hid_t fapl = -1;
    H5_TRY(fapl = H5Pcreate(H5P_FILE_ACCESS), "%s: file access properties", file);
    H5_TRY(H5Pset_fapl_mpio(fapl, world, MPI_INFO_NULL), "%s: MPI-IO driver", file);
    H5_TRY(H5Pset_all_coll_metadata_ops(fapl, 1), "%s: file access properties", file);
    H5_TRY(H5Pset_coll_metadata_write(fapl, 1), "%s: file access properties", file);
    H5_TRY(H5Pset_alignment(fapl, CKPT_ALIGN_THRESHOLD, CKPT_ALIGN), "%s: file access properties",
           file);
    H5_TRY(H5Pset_meta_block_size(fapl, CKPT_META_BLOCK), "%s: file access properties", file);
    /* Files written in the 1.8 format or later carry a checksum on every
     * piece of metadata (superblock v2, object headers v2, B-trees v2, heaps),
     * which libhdf5 verifies as it reads: a bit flipped in a checkpoint's
     * metadata is refused as a checksum error instead of being parsed (and
     * libhdf5 1.10 does crash on some malformed metadata, docs/hardening.md).
     * Readers from HDF5 1.8 on (h5py, h5dump) read it; ignored on open. */
    H5_TRY(H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST),
           "%s: file access properties", file);
    return fapl;
done:
    if (fapl >= 0) H5Pclose(fapl);
    return -1;
}

typedef struct write_plists {
    hid_t lcpl; /* creates the intermediate groups of a dataset path */
    hid_t dcpl; /* contiguous, allocated at creation, never filled */
    hid_t dxpl; /* collective transfers */
} write_plists;

static void plists_close(write_plists *pl)
{
    if (pl->lcpl >= 0) H5Pclose(pl->lcpl);
    if (pl->dcpl >= 0) H5Pclose(pl->dcpl);
    if (pl->dxpl >= 0) H5Pclose(pl->dxpl);
    pl->lcpl = pl->dcpl = pl->dxpl = -1;
}

static int plists_open(write_plists *pl, char *err)
{
    pl->lcpl = pl->dcpl = pl->dxpl = -1;
    H5_TRY(pl->lcpl = H5Pcreate(H5P_LINK_CREATE), "link property list");
    H5_TRY(H5Pset_create_intermediate_group(pl->lcpl, 1), "link property list");
    H5_TRY(pl->dcpl = H5Pcreate(H5P_DATASET_CREATE), "dataset property list");
    H5_TRY(H5Pset_layout(pl->dcpl, H5D_CONTIGUOUS), "dataset property list");
    H5_TRY(H5Pset_alloc_time(pl->dcpl, H5D_ALLOC_TIME_EARLY), "dataset property list");
    H5_TRY(H5Pset_fill_time(pl->dcpl, H5D_FILL_TIME_NEVER), "dataset property list");
    H5_TRY(pl->dxpl = H5Pcreate(H5P_DATASET_XFER), "transfer property list");
    H5_TRY(H5Pset_dxpl_mpio(pl->dxpl, H5FD_MPIO_COLLECTIVE), "transfer property list");
    return 0;
done:
    plists_close(pl);
    return -1;
}

/* ---- selections ---------------------------------------------------------------- */

/* The part [a, b) of tensor t (tensor-local element indices) that the flat
 * range [lo, hi) covers; 0 when they do not meet. */
static int intersect(const swat_tensor *t, size_t lo, size_t hi, size_t *a, size_t *b)
{
    size_t s = lo > t->offset ? lo : t->offset;
    size_t e = hi < t->offset + t->numel ? hi : t->offset + t->numel;
    *a = *b = 0;
    if (s >= e) return 0;
    *a = s - t->offset;
    *b = e - t->offset;
    return 1;
}

/* Selects the elements [a, b) of t's row-major file space: a partial first
 * row, a block of full rows and a partial last row, OR-ed; none when empty. */
static herr_t select_range(hid_t space, const swat_tensor *t, size_t a, size_t b)
{
    if (a >= b) return H5Sselect_none(space);
    if (t->ndim == 1) {
        hsize_t start = a, count = b - a;
        return H5Sselect_hyperslab(space, H5S_SELECT_SET, &start, NULL, &count, NULL);
    }
    hsize_t c = (hsize_t)t->shape[1];
    hsize_t ra = a / c, ca = a % c, rb = b / c, cb = b % c; /* b is one past the last */
    if (ra == rb) {
        hsize_t start[2] = {ra, ca}, count[2] = {1, cb - ca};
        return H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, count, NULL);
    }
    H5S_seloper_t op = H5S_SELECT_SET;
    if (ca > 0) {
        hsize_t start[2] = {ra, ca}, count[2] = {1, c - ca};
        if (H5Sselect_hyperslab(space, op, start, NULL, count, NULL) < 0) return -1;
        op = H5S_SELECT_OR;
        ra++;
    }
    if (rb > ra) {
        hsize_t start[2] = {ra, 0}, count[2] = {rb - ra, c};
        if (H5Sselect_hyperslab(space, op, start, NULL, count, NULL) < 0) return -1;
        op = H5S_SELECT_OR;
    }
    if (cb > 0) {
        hsize_t start[2] = {rb, 0}, count[2] = {1, cb};
        if (H5Sselect_hyperslab(space, op, start, NULL, count, NULL) < 0) return -1;
    }
    return 0;
}

/* A 1-D memory space of the n elements a rank transfers (none when n = 0). */
static hid_t memory_space(size_t n)
{
    hsize_t dim = n > 0 ? n : 1;
    hid_t s = H5Screate_simple(1, &dim, NULL);
    if (s >= 0 && n == 0 && H5Sselect_none(s) < 0) {
        H5Sclose(s);
        return -1;
    }
    return s;
}

/* ---- attributes ------------------------------------------------------------------ */

static int attr_write_str(hid_t loc, const char *file, const char *name, const char *value,
                          char *err)
{
    hid_t type = -1, space = -1, attr = -1;
    int rc = -1;
    H5_TRY(type = H5Tcopy(H5T_C_S1), "%s: attribute %s", file, name);
    H5_TRY(H5Tset_size(type, strlen(value) + 1), "%s: attribute %s", file, name);
    H5_TRY(H5Tset_strpad(type, H5T_STR_NULLTERM), "%s: attribute %s", file, name);
    H5_TRY(H5Tset_cset(type, H5T_CSET_UTF8), "%s: attribute %s", file, name);
    H5_TRY(space = H5Screate(H5S_SCALAR), "%s: attribute %s", file, name);
    H5_TRY(attr = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT),
           "%s: creating attribute %s", file, name);
    H5_TRY(H5Awrite(attr, type, value), "%s: writing attribute %s", file, name);
    rc = 0;
done:
    if (attr >= 0) H5Aclose(attr);
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    return rc;
}

static int attr_write_i64(hid_t loc, const char *file, const char *name, int64_t value, char *err)
{
    hid_t space = -1, attr = -1;
    int rc = -1;
    H5_TRY(space = H5Screate(H5S_SCALAR), "%s: attribute %s", file, name);
    H5_TRY(attr = H5Acreate2(loc, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT),
           "%s: creating attribute %s", file, name);
    H5_TRY(H5Awrite(attr, H5T_NATIVE_INT64, &value), "%s: writing attribute %s", file, name);
    rc = 0;
done:
    if (attr >= 0) H5Aclose(attr);
    if (space >= 0) H5Sclose(space);
    return rc;
}

/* Opens attribute `name` of loc and checks it holds one value of class cls. */
static hid_t attr_open(hid_t loc, const char *file, const char *name, H5T_class_t cls,
                       hid_t *type_out, char *err)
{
    hid_t attr = -1, space = -1, type = -1;
    htri_t exists;
    H5_TRY(exists = H5Aexists(loc, name), "%s: attribute %s", file, name);
    if (!exists) {
        swat_errf(err, "%s: no attribute %s (not a swat checkpoint?)", file, name);
        goto done;
    }
    H5_TRY(attr = H5Aopen(loc, name, H5P_DEFAULT), "%s: opening attribute %s", file, name);
    H5_TRY(type = H5Aget_type(attr), "%s: attribute %s", file, name);
    H5_TRY(space = H5Aget_space(attr), "%s: attribute %s", file, name);
    if (H5Tget_class(type) != cls) {
        swat_errf(err, "%s: attribute %s is not %s", file, name,
                  cls == H5T_STRING ? "a string" : "an integer");
        goto done;
    }
    if (H5Sget_simple_extent_npoints(space) != 1) {
        swat_errf(err, "%s: attribute %s holds %lld values, not one", file, name,
                  (long long)H5Sget_simple_extent_npoints(space));
        goto done;
    }
    H5Sclose(space);
    *type_out = type;
    return attr;
done:
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    if (attr >= 0) H5Aclose(attr);
    return -1;
}

static int attr_read_i64(hid_t loc, const char *file, const char *name, int64_t *out, char *err)
{
    hid_t type = -1, attr = attr_open(loc, file, name, H5T_INTEGER, &type, err);
    int rc = -1;
    if (attr < 0) return -1;
    H5_TRY(H5Aread(attr, H5T_NATIVE_INT64, out), "%s: reading attribute %s", file, name);
    rc = 0;
done:
    H5Tclose(type);
    H5Aclose(attr);
    return rc;
}

/* Reads a string attribute, fixed- or variable-length, into a malloc'ed
 * NUL-terminated string of at most CKPT_MAX_STRING bytes. */
static int attr_read_str(hid_t loc, const char *file, const char *name, char **out, char *err)
{
    hid_t ftype = -1, mtype = -1, attr = attr_open(loc, file, name, H5T_STRING, &ftype, err);
    char *vl = NULL, *s = NULL;
    htri_t var;
    int rc = -1;
    *out = NULL;
    if (attr < 0) return -1;
    H5_TRY(var = H5Tis_variable_str(ftype), "%s: attribute %s", file, name);
    H5_TRY(mtype = H5Tcopy(H5T_C_S1), "%s: attribute %s", file, name);
    /* no conversion: same character set, and same padding for fixed length */
    H5_TRY(H5Tset_cset(mtype, H5Tget_cset(ftype)), "%s: attribute %s", file, name);
    if (var) {
        H5_TRY(H5Tset_size(mtype, H5T_VARIABLE), "%s: attribute %s", file, name);
        H5_TRY(H5Aread(attr, mtype, &vl), "%s: reading attribute %s", file, name);
        size_t n = vl ? strnlen(vl, CKPT_MAX_STRING + 1) : 0;
        if (n > CKPT_MAX_STRING) {
            swat_errf(err, "%s: attribute %s is longer than %zu bytes", file, name,
                      CKPT_MAX_STRING);
            goto done;
        }
        s = swat_malloc(n + 1);
        if (n) memcpy(s, vl, n);
        s[n] = '\0';
    } else {
        size_t n = H5Tget_size(ftype);
        if (n == 0 || n > CKPT_MAX_STRING) {
            swat_errf(err, "%s: attribute %s has %zu bytes (at most %zu accepted)", file,
                      name, n, CKPT_MAX_STRING);
            goto done;
        }
        H5T_str_t pad = H5Tget_strpad(ftype);
        H5_TRY(H5Tset_size(mtype, n), "%s: attribute %s", file, name);
        H5_TRY(H5Tset_strpad(mtype, pad), "%s: attribute %s", file, name);
        s = swat_malloc(n + 1);
        H5_TRY(H5Aread(attr, mtype, s), "%s: reading attribute %s", file, name);
        s[n] = '\0';
        if (pad == H5T_STR_SPACEPAD)
            for (size_t i = strlen(s); i > 0 && s[i - 1] == ' '; i--) s[i - 1] = '\0';
    }
    *out = s;
    s = NULL;
    rc = 0;
done:
    if (vl) H5free_memory(vl);
    swat_free(s);
    if (mtype >= 0) H5Tclose(mtype);
    H5Tclose(ftype);
    H5Aclose(attr);
    return rc;
}

/* Refuses a file without format = "swat-checkpoint" and format_version = 1. */
static int check_format(hid_t fid, const char *file, char *err)
{
    char *format = NULL;
    int64_t version = 0;
    int rc = -1;
    if (attr_read_str(fid, file, "format", &format, err)) goto done;
    if (strcmp(format, CKPT_FORMAT) != 0) {
        swat_errf(err, "%s: format is '%.40s', not '%s'", file, format, CKPT_FORMAT);
        goto done;
    }
    if (attr_read_i64(fid, file, "format_version", &version, err)) goto done;
    if (version != CKPT_VERSION) {
        swat_errf(err, "%s: format_version %lld is not supported (this build reads %d)",
                  file, (long long)version, CKPT_VERSION);
        goto done;
    }
    rc = 0;
done:
    swat_free(format);
    return rc;
}

/* The config attribute parsed over the defaults and finalized for a model. */
static int read_config_attr(hid_t fid, const char *file, swat_config *cfg, char *err)
{
    char *text = NULL;
    if (attr_read_str(fid, file, "config", &text, err)) return -1;
    char origin[SWAT_PATH_LEN + 8];
    snprintf(origin, sizeof origin, "%s:config", file);
    swat_config_defaults(cfg);
    int rc = swat_config_load_string(cfg, text, origin, err);
    if (rc == 0) rc = swat_config_finalize(cfg, SWAT_CONFIG_FOR_MODEL, err);
    swat_free(text);
    return rc ? -1 : 0;
}

/* ---- tensors --------------------------------------------------------------------- */

/* Creates dataset `name` with t's shape (collective) and writes this rank's
 * part, tensor elements [a, b) from src (src[0] is element a). */
static int write_tensor(hid_t fid, const char *file, const char *name, const swat_tensor *t,
                        const swat_real *src, size_t a, size_t b, const write_plists *pl,
                        char *err)
{
    static const swat_real nothing = 0;
    hid_t fspace = -1, mspace = -1, dset = -1;
    hsize_t dims[2] = {(hsize_t)t->shape[0], (hsize_t)t->shape[1]};
    int rc = -1;
    H5_TRY(fspace = H5Screate_simple(t->ndim, dims, NULL), "%s: dataspace of %s", file, name);
    H5_TRY(dset = H5Dcreate2(fid, name, H5T_IEEE_F32LE, fspace, pl->lcpl, pl->dcpl, H5P_DEFAULT),
           "%s: creating dataset %s", file, name);
    H5_TRY(select_range(fspace, t, a, b), "%s: selecting in dataset %s", file, name);
    /* a rank that failed here would leave the others inside the collective */
    SWAT_ASSERT(H5Sget_select_npoints(fspace) == (hssize_t)(b - a));
    H5_TRY(mspace = memory_space(b - a), "%s: memory space of %s", file, name);
    H5_TRY(H5Dwrite(dset, real_memtype(), mspace, fspace, pl->dxpl, b > a ? src : &nothing),
           "%s: writing dataset %s", file, name);
    rc = 0;
done:
    if (dset >= 0) H5Dclose(dset);
    if (mspace >= 0) H5Sclose(mspace);
    if (fspace >= 0) H5Sclose(fspace);
    return rc;
}

/* An int64 scalar dataset (collective); rank `writer` writes the value. */
static int write_scalar(hid_t fid, const char *file, const char *name, int64_t value, int writer,
                        const write_plists *pl, char *err)
{
    hid_t space = -1, mspace = -1, dset = -1;
    int rc = -1;
    H5_TRY(space = H5Screate(H5S_SCALAR), "%s: dataspace of %s", file, name);
    H5_TRY(mspace = H5Screate(H5S_SCALAR), "%s: dataspace of %s", file, name);
    H5_TRY(dset = H5Dcreate2(fid, name, H5T_STD_I64LE, space, pl->lcpl, pl->dcpl, H5P_DEFAULT),
           "%s: creating dataset %s", file, name);
    if (!writer) {
        H5_TRY(H5Sselect_none(space), "%s: selecting in dataset %s", file, name);
        H5_TRY(H5Sselect_none(mspace), "%s: selecting in dataset %s", file, name);
    }
    H5_TRY(H5Dwrite(dset, H5T_NATIVE_INT64, mspace, space, pl->dxpl, &value),
           "%s: writing dataset %s", file, name);
    rc = 0;
done:
    if (dset >= 0) H5Dclose(dset);
    if (mspace >= 0) H5Sclose(mspace);
    if (space >= 0) H5Sclose(space);
    return rc;
}

/* Opens dataset `name` and checks it against t: 1-D/2-D with t's shape, a
 * float class of 4 or 8 bytes. Returns the dataset or -1. */
static hid_t open_tensor(hid_t fid, const char *file, const char *name, const swat_tensor *t,
                         char *err)
{
    hid_t dset = -1, space = -1, type = -1;
    H5_TRY(dset = H5Dopen2(fid, name, H5P_DEFAULT), "%s: missing dataset %s", file, name);
    H5_TRY(space = H5Dget_space(dset), "%s: dataset %s", file, name);
    H5_TRY(type = H5Dget_type(dset), "%s: dataset %s", file, name);
    int nd = H5Sget_simple_extent_ndims(space);
    hsize_t dims[H5S_MAX_RANK] = {0};
    if (nd > 0) H5Sget_simple_extent_dims(space, dims, NULL);
    if (nd != t->ndim || (hsize_t)t->shape[0] != dims[0] ||
        (nd == 2 && (hsize_t)t->shape[1] != dims[1])) {
        char need[48], got[56] = "[", *g = got + 1;
        if (t->ndim == 2)
            snprintf(need, sizeof need, "[%lld, %lld]", (long long)t->shape[0],
                     (long long)t->shape[1]);
        else
            snprintf(need, sizeof need, "[%lld]", (long long)t->shape[0]);
        int i = 0; /* up to 2 dimensions of 20 digits, then "…" */
        for (; i < nd && i < 2; i++)
            g += sprintf(g, "%s%llu", i ? ", " : "", (unsigned long long)dims[i]);
        sprintf(g, "%s]", i < nd ? ", …" : "");
        swat_errf(err, "%s: dataset %s has shape %s, the model needs %s", file, name, got,
                  need);
        goto done;
    }
    size_t size = H5Tget_size(type);
    if (H5Tget_class(type) != H5T_FLOAT || (size != 4 && size != 8)) {
        swat_errf(err, "%s: dataset %s is not float32 or float64", file, name);
        goto done;
    }
    H5Tclose(type);
    H5Sclose(space);
    return dset;
done:
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    if (dset >= 0) H5Dclose(dset);
    return -1;
}

/* Collective read of tensor elements [a, b) into dst (dst[0] is element a). */
static int read_tensor(hid_t fid, const char *file, const char *name, const swat_tensor *t,
                       swat_real *dst, size_t a, size_t b, hid_t dxpl, char *err)
{
    swat_real nothing;
    hid_t dset = -1, fspace = -1, mspace = -1;
    int rc = -1;
    if ((dset = open_tensor(fid, file, name, t, err)) < 0) goto done;
    H5_TRY(fspace = H5Dget_space(dset), "%s: dataset %s", file, name);
    H5_TRY(select_range(fspace, t, a, b), "%s: selecting in dataset %s", file, name);
    /* a rank that failed here would leave the others inside the collective */
    SWAT_ASSERT(H5Sget_select_npoints(fspace) == (hssize_t)(b - a));
    H5_TRY(mspace = memory_space(b - a), "%s: memory space of %s", file, name);
    H5_TRY(H5Dread(dset, real_memtype(), mspace, fspace, dxpl, b > a ? dst : &nothing),
           "%s: reading dataset %s", file, name);
    rc = 0;
done:
    if (mspace >= 0) H5Sclose(mspace);
    if (fspace >= 0) H5Sclose(fspace);
    if (dset >= 0) H5Dclose(dset);
    return rc;
}

/* Dataset path of tensor t in group `kind` (0 params, 1 exp_avg, 2 exp_avg_sq). */
static void dataset_path(char *buf, size_t len, int kind, const swat_tensor *t)
{
    static const char *const prefix[3] = {"", "/optimizer/exp_avg", "/optimizer/exp_avg_sq"};
    snprintf(buf, len, "%s/%s", prefix[kind], t->name);
}

/* ---- public ---------------------------------------------------------------------- */

void swat_ckpt_shard(size_t n_pad, int world, int rank, size_t *lo, size_t *hi)
{
    SWAT_ASSERT(world >= 1 && rank >= 0 && rank < world && n_pad % (size_t)world == 0);
    size_t shard = n_pad / (size_t)world;
    *lo = (size_t)rank * shard;
    *hi = *lo + shard;
}

int swat_ckpt_write(swat_comm *c, const char *path, const swat_config *cfg,
                    const swat_model *model, const swat_real *params, const swat_real *m,
                    const swat_real *v, size_t lo, size_t hi, const swat_ckpt_state *st, char *err)
{
    SWAT_ASSERT(lo <= hi && hi <= model->nparams_pad && st != NULL);
    SWAT_ASSERT((m == NULL) == (v == NULL));
    h5_quiet();
    int rank = swat_comm_rank(c, SWAT_SCOPE_WORLD);
    char created[32] = "";
    write_plists pl = {-1, -1, -1};
    hid_t fapl = -1, fid = -1;
    char *config_text = NULL;
    int failed = 0, rc = -1;
    err[0] = '\0';

    /* attributes are collective: every rank writes rank 0's clock */
    if (rank == 0) {
        time_t now = time(NULL);
        struct tm utc;
        gmtime_r(&now, &utc);
        strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &utc);
    }
    swat_comm_bcast(c, created, sizeof created, 0);
    config_text = swat_config_to_string(cfg);

    if ((fapl = make_fapl(c, path, err)) < 0) failed = -1;
    if (!failed) failed = plists_open(&pl, err);
    if (!failed && (fid = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl)) < 0)
        failed = h5_fail(err, "cannot create %s", path);
    if (swat_comm_agree(c, failed, err)) goto done;

    failed = attr_write_str(fid, path, "format", CKPT_FORMAT, err) ||
             attr_write_i64(fid, path, "format_version", CKPT_VERSION, err) ||
             attr_write_i64(fid, path, "step", st->step, err) ||
             attr_write_i64(fid, path, "samples_seen", st->samples_seen, err) ||
             attr_write_i64(fid, path, "tokens_seen", st->tokens_seen, err) ||
             attr_write_i64(fid, path, "world_size", st->world_size, err) ||
             attr_write_i64(fid, path, "sp", st->sp, err) ||
             attr_write_str(fid, path, "config", config_text, err) ||
             attr_write_str(fid, path, "created", created, err);
    if (swat_comm_agree(c, failed, err)) goto done;

    /* one collective write per dataset; the moments point at element lo */
    for (int kind = 0; kind < (m ? 3 : 1); kind++) {
        if (kind == 1) swat_fault_in_save(st->step, rank);
        const swat_real *base = kind == 0 ? params + lo : kind == 1 ? m : v;
        for (int i = 0; i < model->ntensors; i++) {
            const swat_tensor *t = &model->tensors[i];
            char name[SWAT_TENSOR_NAME_LEN + 32];
            size_t a, b;
            intersect(t, lo, hi, &a, &b);
            dataset_path(name, sizeof name, kind, t);
            const swat_real *src = b > a ? base + (t->offset + a - lo) : NULL;
            failed = write_tensor(fid, path, name, t, src, a, b, &pl, err);
            if (swat_comm_agree(c, failed, err)) goto done;
        }
    }
    failed = write_scalar(fid, path, "/train/step", st->step, rank == 0, &pl, err) ||
             write_scalar(fid, path, "/train/samples_seen", st->samples_seen, rank == 0, &pl, err) ||
             write_scalar(fid, path, "/train/tokens_seen", st->tokens_seen, rank == 0, &pl, err);
    if (swat_comm_agree(c, failed, err)) goto done;

    herr_t closed = H5Fclose(fid);
    fid = -1;
    if (closed < 0) failed = h5_fail(err, "closing %s", path);
    if (swat_comm_agree(c, failed, err)) goto done;
    rc = 0;
done:
    if (fid >= 0) {
        /* A failed save (disk full) must still close: HDF5 flushes its
         * metadata on close, and a file it cannot close crashes the library
         * at MPI_Finalize. Emptying the doomed file first gives the flush
         * room; the caller removes it anyway. */
        swat_comm_barrier(c);
        if (rank == 0 && truncate(path, 0) != 0)
            swat_warn("%s: cannot truncate: %s", path, strerror(errno));
        swat_comm_barrier(c);
        H5Fclose(fid); /* collective: every rank arrives here together */
    }
    plists_close(&pl);
    if (fapl >= 0) H5Pclose(fapl);
    free(config_text);
    return rc;
}

int swat_ckpt_probe(const char *path, char *err)
{
    h5_quiet();
    hid_t fid = open_serial(path);
    int bad = fid < 0 ? h5_fail(err, "%s: cannot open", path) : check_format(fid, path, err);
    if (fid >= 0) H5Fclose(fid);
    return bad ? -1 : 0;
}

int swat_ckpt_read_config(const char *path, swat_config *cfg, char *err)
{
    h5_quiet();
    int rc = -1;
    hid_t fid;
    H5_TRY(fid = open_serial(path), "%s: cannot open", path);
    rc = check_format(fid, path, err);
    if (rc == 0) rc = read_config_attr(fid, path, cfg, err);
    H5Fclose(fid);
done:
    return rc;
}

/* The counters of a resume, within what a run can reach: a hostile value
 * (negative, or a step·batch that overflows) never reaches the trainer. */
static int check_state(const swat_ckpt_state *s, const char *file, char *err)
{
    const int64_t big = (int64_t)1 << 62;
    if (s->step < 0 || s->step > SWAT_CKPT_MAX_STEP)
        return swat_errf(err, "%s: attribute step = %lld is outside [0, %lld]", file,
                         (long long)s->step, (long long)SWAT_CKPT_MAX_STEP);
    if (s->samples_seen < 0 || s->samples_seen > big || s->tokens_seen < 0 || s->tokens_seen > big)
        return swat_errf(err, "%s: attributes samples_seen = %lld, tokens_seen = %lld: not in [0, 2^62]",
                         file, (long long)s->samples_seen, (long long)s->tokens_seen);
    if (s->world_size < 1 || s->world_size > (1 << 24) || s->sp < 1 || s->world_size % s->sp)
        return swat_errf(err, "%s: attributes world_size = %lld, sp = %lld: not a layout (sp must "
                         "divide world_size, 1 <= world_size <= 2^24)",
                         file, (long long)s->world_size, (long long)s->sp);
    return 0;
}

int swat_ckpt_load(swat_comm *c, const char *path, const swat_model *model, swat_real *params,
                   swat_real *m, swat_real *v, size_t lo, size_t hi, swat_ckpt_state *st,
                   char *err)
{
    SWAT_ASSERT(lo <= hi && hi <= model->nparams_pad);
    SWAT_ASSERT((m == NULL) == (v == NULL));
    h5_quiet();
    hid_t fapl = -1, fid = -1, dxpl = -1;
    swat_config *file_cfg = swat_malloc(sizeof *file_cfg);
    swat_ckpt_state s = {0};
    int failed = 0, rc = -1;
    err[0] = '\0';

    if ((fapl = make_fapl(c, path, err)) < 0) failed = -1;
    if (!failed && (dxpl = H5Pcreate(H5P_DATASET_XFER)) < 0)
        failed = h5_fail(err, "%s: transfer property list", path);
    /* collective at the HDF5 level, independent reads below it (see the top) */
    if (!failed && (H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE) < 0 ||
                    H5Pset_dxpl_mpio_collective_opt(dxpl, H5FD_MPIO_INDIVIDUAL_IO) < 0))
        failed = h5_fail(err, "%s: transfer property list", path);
    if (!failed && (fid = H5Fopen(path, H5F_ACC_RDONLY, fapl)) < 0)
        failed = h5_fail(err, "%s: cannot open", path);
    if (swat_comm_agree(c, failed, err)) goto done;

    failed = check_format(fid, path, err) || read_config_attr(fid, path, file_cfg, err) ||
             attr_read_i64(fid, path, "step", &s.step, err) ||
             attr_read_i64(fid, path, "samples_seen", &s.samples_seen, err) ||
             attr_read_i64(fid, path, "tokens_seen", &s.tokens_seen, err) ||
             attr_read_i64(fid, path, "world_size", &s.world_size, err) ||
             attr_read_i64(fid, path, "sp", &s.sp, err) || check_state(&s, path, err);
    if (!failed) {
        char why[SWAT_ERR_LEN];
        if (!swat_config_same_model(&file_cfg->model, &model->cfg, why))
            failed = swat_errf(err,
                               "checkpoint model differs from the config: %.300s "
                               "(checkpoint vs config; %s)",
                               why, path);
    }
    if (swat_comm_agree(c, failed, err)) goto done;

    for (int kind = 0; kind < (m ? 3 : 1); kind++) {
        swat_real *base = kind == 0 ? params + lo : kind == 1 ? m : v;
        for (int i = 0; i < model->ntensors; i++) {
            const swat_tensor *t = &model->tensors[i];
            char name[SWAT_TENSOR_NAME_LEN + 32];
            size_t a, b;
            intersect(t, lo, hi, &a, &b);
            dataset_path(name, sizeof name, kind, t);
            swat_real *dst = b > a ? base + (t->offset + a - lo) : NULL;
            failed = read_tensor(fid, path, name, t, dst, a, b, dxpl, err);
            if (swat_comm_agree(c, failed, err)) goto done;
        }
    }
    if (st) *st = s;
    rc = 0;
done:
    if (fid >= 0) H5Fclose(fid);
    if (dxpl >= 0) H5Pclose(dxpl);
    if (fapl >= 0) H5Pclose(fapl);
    swat_free(file_cfg);
    return rc;
}
