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
#include "swat/tokenizer.h"

#include "swat/faults.h"

#include <hdf5.h>
#include <mpi.h>
#include <omp.h>
#include <zlib.h>

#include <ctype.h>
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

/* Called first by every entry point. H5dont_atexit, before HDF5's first
 * initialisation: an MPI_Abort that exits the process (MPICH's does, through
 * exit()) must not run HDF5's exit handler, which closes the open files
 * collectively (an MPI_Barrier after the abort: "Internal error", status 1
 * instead of ours, or a wait for peers that are not coming). Parallel HDF5
 * still shuts down at MPI_Finalize. Its own error printing is off. */
static void h5_quiet(void)
{
    static int once;
    if (!once) {
        H5dont_atexit();
        once = 1;
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

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

/* The MPI_Info of "name=value,…" (the config checked the names and values;
 * spaces around them are dropped); MPI_INFO_NULL for "". */
static MPI_Info hints_info(const char *hints)
{
    MPI_Info info = MPI_INFO_NULL;
    char item[256];
    for (const char *p = hints; *p;) {
        size_t len = strcspn(p, ",");
        snprintf(item, sizeof item, "%.*s", (int)len, p);
        char *eq = strchr(item, '='), *name = item, *value = eq ? eq + 1 : NULL;
        if (value) {
            *eq = '\0';
            for (char *e = eq; e > name && isspace((unsigned char)e[-1]); e--) e[-1] = '\0';
            while (isspace((unsigned char)*name)) name++;
            while (isspace((unsigned char)*value)) value++;
            for (size_t k = strlen(value); k > 0 && isspace((unsigned char)value[k - 1]); k--)
                value[k - 1] = '\0';
            if (info == MPI_INFO_NULL && MPI_Info_create(&info) != MPI_SUCCESS)
                swat_die(1, "MPI_Info_create failed");
            if (MPI_Info_set(info, name, value) != MPI_SUCCESS)
                swat_die(1, "MPI_Info_set(%s, %s) failed", name, value);
        }
        p += len + (p[len] == ',');
    }
    return info;
}

/* Rank 0, once per process: the hints given and what MPI-IO reports for them
 * on the open file (an implementation drops what it does not use, e.g.
 * striping on a file system without stripes). */
static void report_hints(hid_t fid, hid_t fapl, const char *hints)
{
    static int said;
    MPI_File *fh = NULL;
    MPI_Info used = MPI_INFO_NULL;
    if (said || !hints[0] || H5Fget_vfd_handle(fid, fapl, (void **)&fh) < 0 || !fh ||
        MPI_File_get_info(*fh, &used) != MPI_SUCCESS)
        return;
    said = 1;
    char line[SWAT_ERR_LEN] = "", value[MPI_MAX_INFO_VAL + 1];
    size_t n = 0;
    MPI_Info given = hints_info(hints);
    int keys = 0;
    MPI_Info_get_nkeys(given, &keys);
    for (int i = 0; i < keys && n < sizeof line; i++) {
        char key[MPI_MAX_INFO_KEY + 1];
        int flag = 0;
        MPI_Info_get_nthkey(given, i, key);
        MPI_Info_get(used, key, MPI_MAX_INFO_VAL, value, &flag);
        n += (size_t)snprintf(line + n, sizeof line - n, "%s%s=%s", i ? ", " : "", key,
                              flag ? value : "(not reported)");
    }
    swat_info("checkpoint MPI-IO hints %s: MPI-IO reports %s", hints, line);
    MPI_Info_free(&given);
    MPI_Info_free(&used);
}

/* MPI-IO over the world with the given hints, collective metadata, aligned
 * large objects. */
static hid_t make_fapl(swat_comm *c, const char *file, const char *hints, char *err)
{
    MPI_Comm world = *(const MPI_Comm *)swat_comm_mpi_world(c);
    hid_t fapl = -1;
    MPI_Info info = hints_info(hints);
    H5_TRY(fapl = H5Pcreate(H5P_FILE_ACCESS), "%s: file access properties", file);
    /* HDF5 keeps its own duplicate of the info */
    H5_TRY(H5Pset_fapl_mpio(fapl, world, info), "%s: MPI-IO driver", file);
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
    if (info != MPI_INFO_NULL) MPI_Info_free(&info);
    return fapl;
done:
    if (info != MPI_INFO_NULL) MPI_Info_free(&info);
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

/* ---- checksums -------------------------------------------------------------------- */

/* Every dataset carries the attribute crc32: zlib's CRC-32 of its raw data as
 * stored (C order, little-endian), which is Python's zlib.crc32(a.tobytes())
 * of the array h5py reads. Each rank checksums the piece of a dataset it
 * writes or reads; the pieces of consecutive ranks are joined with
 * crc32_combine in one ordered all-reduce for all datasets
 * (swat_comm_allreduce_ordered), so no rank touches more than its shard. A
 * load whose ranges do not tile a dataset in rank order (every rank reading
 * everything, say) checks that dataset by a second, canonical read. */
typedef struct crc_piece {
    uint64_t lo, hi; /* the byte range [lo, hi) of the dataset's raw data */
    uint64_t crc;    /* CRC-32 of those bytes */
    uint64_t broken; /* pieces that do not meet in rank order were merged */
} crc_piece;

#define CRC_PART_MIN ((size_t)4 << 20) /* bytes per thread, at least */
#define CRC_MAX_PARTS 256

static void crc_merge(const void *left, void *right, int k)
{
    for (int i = 0; i < k; i++) {
        crc_piece a, b, out;
        /* MPI's buffers carry no alignment promise for a byte-based record */
        memcpy(&a, (const char *)left + (size_t)i * sizeof a, sizeof a);
        memcpy(&b, (char *)right + (size_t)i * sizeof b, sizeof b);
        if (a.lo == a.hi) {
            out = b;
        } else if (b.lo == b.hi) {
            out = a;
        } else if (a.hi == b.lo) {
            out = (crc_piece){a.lo, b.hi,
                              crc32_combine((uLong)a.crc, (uLong)b.crc, (z_off_t)(b.hi - b.lo)), 0};
        } else {
            out = a;
            out.broken = 1;
        }
        out.broken |= a.broken | b.broken;
        memcpy((char *)right + (size_t)i * sizeof out, &out, sizeof out);
    }
}

/* 1 if the merged piece is the whole dataset of `bytes` bytes. */
static int crc_whole(const crc_piece *p, uint64_t bytes)
{
    return !p->broken && p->lo == 0 && p->hi == bytes;
}

/* zlib's CRC-32 of n bytes, continued from crc. Large buffers are cut into
 * one contiguous part per thread of the rank and the parts' CRCs joined in
 * order, so the value does not depend on the thread count. */
static uint32_t crc_bytes(uint32_t crc, const void *buf, size_t n)
{
    const unsigned char *p = buf;
    size_t parts = n / CRC_PART_MIN, threads = (size_t)omp_get_max_threads();
    if (parts > threads) parts = threads;
    if (parts > CRC_MAX_PARTS) parts = CRC_MAX_PARTS;
    if (parts <= 1) return (uint32_t)crc32_z(crc, p, n);
    uLong part[CRC_MAX_PARTS];
#pragma omp parallel for num_threads((int)parts) schedule(static, 1)
    for (size_t i = 0; i < parts; i++)
        part[i] = crc32_z(0, p + n * i / parts, n * (i + 1) / parts - n * i / parts);
    uLong c = crc;
    for (size_t i = 0; i < parts; i++)
        c = crc32_combine(c, part[i], (z_off_t)(n * (i + 1) / parts - n * i / parts));
    return (uint32_t)c;
}

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 1;
}

/* CRC-32 of n values held in memory as native floats (msize 4) or doubles
 * (8), as the file stores them: little-endian, fsize bytes each. Exact when
 * the conversion loses nothing: fsize >= msize, or values read from a file
 * of fsize bytes. */
static uint32_t crc_values(uint32_t crc, const void *x, size_t n, size_t msize, size_t fsize)
{
    if (msize == fsize && host_is_little_endian()) return crc_bytes(crc, x, n * msize);
    enum { BLOCK = 1024 };
    unsigned char le[BLOCK * 8];
    const unsigned char *in = x;
    for (size_t i = 0; i < n; i += BLOCK) {
        size_t k = n - i < BLOCK ? n - i : BLOCK;
        for (size_t j = 0; j < k; j++) {
            double v;
            if (msize == 4) {
                float f;
                memcpy(&f, in + (i + j) * 4, 4);
                v = f;
            } else {
                memcpy(&v, in + (i + j) * 8, 8);
            }
            uint64_t bits = 0;
            if (fsize == 4) {
                float f = (float)v;
                uint32_t b32;
                memcpy(&b32, &f, 4);
                bits = b32;
            } else {
                memcpy(&bits, &v, 8);
            }
            for (size_t byte = 0; byte < fsize; byte++)
                le[j * fsize + byte] = (unsigned char)(bits >> (8 * byte));
        }
        crc = (uint32_t)crc32_z(crc, le, k * fsize);
    }
    return crc;
}

static int attr_write_crc(hid_t dset, const char *file, const char *name, uint32_t crc, char *err)
{
    hid_t space = -1, attr = -1;
    int rc = -1;
    H5_TRY(space = H5Screate(H5S_SCALAR), "%s: crc32 of dataset %s", file, name);
    H5_TRY(attr = H5Acreate2(dset, "crc32", H5T_STD_U32LE, space, H5P_DEFAULT, H5P_DEFAULT),
           "%s: creating the crc32 of dataset %s", file, name);
    H5_TRY(H5Awrite(attr, H5T_NATIVE_UINT32, &crc), "%s: writing the crc32 of dataset %s", file,
           name);
    rc = 0;
done:
    if (attr >= 0) H5Aclose(attr);
    if (space >= 0) H5Sclose(space);
    return rc;
}

/* The crc32 attribute of a dataset, if it has one: *has = 0 when absent. */
static int attr_read_crc(hid_t dset, const char *file, const char *name, int *has,
                         uint32_t *crc, char *err)
{
    htri_t exists;
    *has = 0;
    H5_TRY(exists = H5Aexists(dset, "crc32"), "%s: dataset %s: attribute crc32", file, name);
    if (!exists) return 0;
    char label[SWAT_PATH_LEN + SWAT_TENSOR_NAME_LEN + 48];
    snprintf(label, sizeof label, "%s: dataset %s", file, name);
    int64_t v;
    if (attr_read_i64(dset, label, "crc32", &v, err)) return -1;
    if (v < 0 || v > (int64_t)UINT32_MAX)
        return swat_errf(err, "%s: dataset %s: attribute crc32 = %lld is not a CRC-32 (0 … 2^32 − 1)",
                         file, name, (long long)v);
    *has = 1;
    *crc = (uint32_t)v;
    return 0;
done:
    return -1;
}

/* ---- datasets ---------------------------------------------------------------------- */

/* One dataset of a checkpoint, in the order the save and the load walk them. */
typedef struct ckpt_dataset {
    char name[SWAT_TENSOR_NAME_LEN + 32];
    const swat_tensor *t; /* NULL: an integer scalar of /train */
    int kind;             /* 0 params, 1 exp_avg, 2 exp_avg_sq, 3 /train scalar */
    int present;          /* load: the file holds it (a /train scalar may be absent) */
    int has_crc;          /* load: it carries a crc32 … */
    uint32_t stored;      /* … of this value */
    uint64_t bytes;       /* size of its raw data in the file */
} ckpt_dataset;

static const char *const train_scalars[3] = {"/train/step", "/train/samples_seen",
                                             "/train/tokens_seen"};

/* The datasets of a checkpoint of `model`: the parameters, the two moments
 * when `moments`, then the /train scalars. Malloc'ed; *n gets the count. */
static ckpt_dataset *dataset_table(const swat_model *model, int moments, int *n)
{
    static const char *const prefix[3] = {"", "/optimizer/exp_avg", "/optimizer/exp_avg_sq"};
    int kinds = moments ? 3 : 1;
    *n = kinds * model->ntensors + 3;
    ckpt_dataset *ds = swat_calloc(sizeof *ds * (size_t)*n);
    for (int kind = 0, k = 0; kind < kinds; kind++)
        for (int i = 0; i < model->ntensors; i++, k++) {
            ds[k].t = &model->tensors[i];
            ds[k].kind = kind;
            ds[k].bytes = (uint64_t)ds[k].t->numel * 4; /* float32 in files swat writes */
            snprintf(ds[k].name, sizeof ds[k].name, "%s/%s", prefix[kind], ds[k].t->name);
        }
    for (int j = 0; j < 3; j++) {
        ckpt_dataset *d = &ds[*n - 3 + j];
        d->kind = 3;
        d->bytes = 8;
        snprintf(d->name, sizeof d->name, "%s", train_scalars[j]);
    }
    return ds;
}

/* Creates dataset `name` with t's shape (collective) and writes this rank's
 * part, tensor elements [a, b) from src (src[0] is element a); *piece gets
 * the part's checksum. */
static int write_tensor(hid_t fid, const char *file, const char *name, const swat_tensor *t,
                        const swat_real *src, size_t a, size_t b, const write_plists *pl,
                        crc_piece *piece, char *err)
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
    *piece = (crc_piece){(uint64_t)a * 4, (uint64_t)b * 4,
                         b > a ? crc_values(0, src, b - a, sizeof(swat_real), 4) : 0, 0};
    rc = 0;
done:
    if (dset >= 0) H5Dclose(dset);
    if (mspace >= 0) H5Sclose(mspace);
    if (fspace >= 0) H5Sclose(fspace);
    return rc;
}

/* An int64 scalar dataset (collective); rank `writer` writes the value. */
static int write_scalar(hid_t fid, const char *file, const char *name, int64_t value, int writer,
                        const write_plists *pl, crc_piece *piece, char *err)
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
    *piece = (crc_piece){0, 0, 0, 0};
    if (writer) {
        unsigned char le[8];
        for (int i = 0; i < 8; i++) le[i] = (unsigned char)((uint64_t)value >> (8 * i));
        *piece = (crc_piece){0, 8, (uint32_t)crc32_z(0, le, 8), 0};
    }
    rc = 0;
done:
    if (dset >= 0) H5Dclose(dset);
    if (mspace >= 0) H5Sclose(mspace);
    if (space >= 0) H5Sclose(space);
    return rc;
}

/* Opens dataset d->name, checks it against t (1-D/2-D with t's shape, a float
 * class of 4 or 8 bytes) and reads its crc32 into d. Returns the dataset and
 * its file type in *type, or -1. */
static hid_t open_tensor(hid_t fid, const char *file, ckpt_dataset *d, const swat_tensor *t,
                         hid_t *type_out, char *err)
{
    const char *name = d->name;
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
    if (attr_read_crc(dset, file, name, &d->has_crc, &d->stored, err)) goto done;
    d->present = 1;
    d->bytes = (uint64_t)t->numel * size;
    H5Sclose(space);
    *type_out = type;
    return dset;
done:
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    if (dset >= 0) H5Dclose(dset);
    return -1;
}

/* Collective read of elements [a, b) of tensor dataset d into dst (dst[0] is
 * element a); *piece gets their checksum when d has a crc32. With
 * `check_only` the elements are read as stored for the checksum alone (dst
 * unused). */
static int read_tensor(hid_t fid, const char *file, ckpt_dataset *d, const swat_tensor *t,
                       swat_real *dst, size_t a, size_t b, int check_only, hid_t dxpl,
                       crc_piece *piece, char *err)
{
    const char *name = d->name;
    swat_real nothing;
    hid_t dset = -1, fspace = -1, mspace = -1, ftype = -1;
    unsigned char *raw = NULL;
    size_t n = b - a;
    int rc = -1;
    *piece = (crc_piece){0, 0, 0, 0};
    if ((dset = open_tensor(fid, file, d, t, &ftype, err)) < 0) goto done;
    H5_TRY(fspace = H5Dget_space(dset), "%s: dataset %s", file, name);
    H5_TRY(select_range(fspace, t, a, b), "%s: selecting in dataset %s", file, name);
    /* a rank that failed here would leave the others inside the collective */
    SWAT_ASSERT(H5Sget_select_npoints(fspace) == (hssize_t)n);
    H5_TRY(mspace = memory_space(n), "%s: memory space of %s", file, name);
    size_t fsize = H5Tget_size(ftype);
    if (!check_only && (!d->has_crc || fsize <= sizeof(swat_real))) {
        /* the common case: straight into place; the file's values convert
         * back exactly, so the checksum is taken from memory */
        H5_TRY(H5Dread(dset, real_memtype(), mspace, fspace, dxpl, n ? dst : &nothing),
               "%s: reading dataset %s", file, name);
        if (d->has_crc && n)
            *piece = (crc_piece){a * fsize, b * fsize,
                                 crc_values(0, dst, n, sizeof(swat_real), fsize), 0};
    } else {
        /* as stored (float64 into a float build, or the checksum alone):
         * the checksum of the raw bytes, then the conversion in place */
        raw = swat_malloc(n ? n * (fsize > sizeof(swat_real) ? fsize : sizeof(swat_real)) : 8);
        H5_TRY(H5Dread(dset, ftype, mspace, fspace, dxpl, raw), "%s: reading dataset %s", file,
               name);
        if (d->has_crc && n) *piece = (crc_piece){a * fsize, b * fsize, crc_bytes(0, raw, n * fsize), 0};
        if (!check_only && n) {
            H5_TRY(H5Tconvert(ftype, real_memtype(), n, raw, NULL, H5P_DEFAULT),
                   "%s: converting dataset %s", file, name);
            memcpy(dst, raw, n * sizeof(swat_real));
        }
    }
    rc = 0;
done:
    swat_free(raw);
    if (ftype >= 0) H5Tclose(ftype);
    if (mspace >= 0) H5Sclose(mspace);
    if (fspace >= 0) H5Sclose(fspace);
    if (dset >= 0) H5Dclose(dset);
    return rc;
}

/* ---- the tokenizer (/tokenizer/model) ------------------------------------------ */

#define CKPT_TOKENIZER "/tokenizer/model"
#define CKPT_TOKENIZER_TYPE "sentencepiece"
#define CKPT_MAX_TOKENIZER ((hsize_t)1 << 30) /* Llama-2's is 0.5 MB */

/* Creates /tokenizer/model (collective): the bytes of the .model file as
 * uint8 [n], attributes type = "sentencepiece" and crc32 (every rank holds
 * the bytes, so every rank computes the same checksum and writes the same
 * metadata); the writer rank writes the data. */
static int write_tokenizer(hid_t fid, const char *file, const void *bytes, size_t n, int writer,
                           const write_plists *pl, char *err)
{
    hid_t space = -1, mspace = -1, dset = -1;
    hsize_t dim = n;
    int rc = -1;
    H5_TRY(space = H5Screate_simple(1, &dim, NULL), "%s: dataspace of %s", file, CKPT_TOKENIZER);
    H5_TRY(mspace = H5Screate_simple(1, &dim, NULL), "%s: dataspace of %s", file, CKPT_TOKENIZER);
    H5_TRY(dset = H5Dcreate2(fid, CKPT_TOKENIZER, H5T_STD_U8LE, space, pl->lcpl, pl->dcpl,
                             H5P_DEFAULT),
           "%s: creating dataset %s", file, CKPT_TOKENIZER);
    if (!writer) {
        H5_TRY(H5Sselect_none(space), "%s: selecting in dataset %s", file, CKPT_TOKENIZER);
        H5_TRY(H5Sselect_none(mspace), "%s: selecting in dataset %s", file, CKPT_TOKENIZER);
    }
    H5_TRY(H5Dwrite(dset, H5T_NATIVE_UINT8, mspace, space, pl->dxpl, bytes),
           "%s: writing dataset %s", file, CKPT_TOKENIZER);
    if (attr_write_str(dset, file, "type", CKPT_TOKENIZER_TYPE, err)) goto done;
    if (attr_write_crc(dset, file, CKPT_TOKENIZER, crc_bytes(0, bytes, n), err)) goto done;
    rc = 0;
done:
    if (dset >= 0) H5Dclose(dset);
    if (mspace >= 0) H5Sclose(mspace);
    if (space >= 0) H5Sclose(space);
    return rc;
}

int swat_ckpt_read_tokenizer(const char *path, void **bytes, size_t *n, char *err)
{
    h5_quiet();
    *bytes = NULL;
    *n = 0;
    hid_t fid = -1, dset = -1, space = -1, type = -1;
    unsigned char *buf = NULL;
    char *kind = NULL;
    int rc = -1;
    htri_t has;
    H5_TRY(fid = open_serial(path), "%s: cannot open", path);
    if (check_format(fid, path, err)) goto done;
    H5_TRY(has = H5Lexists(fid, "/tokenizer", H5P_DEFAULT), "%s: group /tokenizer", path);
    if (has) H5_TRY(has = H5Lexists(fid, CKPT_TOKENIZER, H5P_DEFAULT), "%s: %s", path, CKPT_TOKENIZER);
    if (!has) {
        rc = 1;
        goto done;
    }
    H5_TRY(dset = H5Dopen2(fid, CKPT_TOKENIZER, H5P_DEFAULT), "%s: dataset %s", path,
           CKPT_TOKENIZER);
    H5_TRY(space = H5Dget_space(dset), "%s: dataset %s", path, CKPT_TOKENIZER);
    H5_TRY(type = H5Dget_type(dset), "%s: dataset %s", path, CKPT_TOKENIZER);
    hsize_t dim = 0;
    if (H5Tget_class(type) != H5T_INTEGER || H5Tget_size(type) != 1 ||
        H5Sget_simple_extent_ndims(space) != 1) {
        swat_errf(err, "%s: dataset %s is not a 1-D array of bytes (uint8)", path, CKPT_TOKENIZER);
        goto done;
    }
    H5Sget_simple_extent_dims(space, &dim, NULL);
    if (dim == 0 || dim > CKPT_MAX_TOKENIZER) {
        swat_errf(err, "%s: dataset %s holds %llu bytes (expected 1 to %llu)", path,
                  CKPT_TOKENIZER, (unsigned long long)dim, (unsigned long long)CKPT_MAX_TOKENIZER);
        goto done;
    }
    if (attr_read_str(dset, path, "type", &kind, err)) goto done;
    if (strcmp(kind, CKPT_TOKENIZER_TYPE) != 0) {
        swat_errf(err, "%s: dataset %s has type '%.40s', this build reads '%s'", path,
                  CKPT_TOKENIZER, kind, CKPT_TOKENIZER_TYPE);
        goto done;
    }
    buf = swat_malloc((size_t)dim);
    H5_TRY(H5Dread(dset, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf),
           "%s: reading dataset %s", path, CKPT_TOKENIZER);
    int has_crc;
    uint32_t stored;
    if (attr_read_crc(dset, path, CKPT_TOKENIZER, &has_crc, &stored, err)) goto done;
    uint32_t crc = crc_bytes(0, buf, (size_t)dim);
    if (has_crc && crc != stored) {
        swat_errf(err, "%s: dataset %s: data does not match its crc32 (stored %08x, computed %08x)",
                  path, CKPT_TOKENIZER, (unsigned)stored, (unsigned)crc);
        goto done;
    }
    *bytes = buf;
    *n = (size_t)dim;
    buf = NULL;
    rc = 0;
done:
    swat_free(buf);
    swat_free(kind);
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    if (dset >= 0) H5Dclose(dset);
    if (fid >= 0) H5Fclose(fid);
    return rc;
}

int swat_ckpt_tokenizer(const char *path, swat_tok **tok, char *err)
{
    *tok = NULL;
    void *bytes;
    size_t n;
    int rc = swat_ckpt_read_tokenizer(path, &bytes, &n, err);
    if (rc != 0) return rc < 0 ? -1 : 0;
    char origin[SWAT_PATH_LEN + 32];
    snprintf(origin, sizeof origin, "%s: %s", path, CKPT_TOKENIZER);
    rc = swat_tok_load_bytes(tok, bytes, n, origin, err);
    swat_free(bytes);
    return rc;
}

/* A /train scalar d, when the file has it (files made by other tools may
 * not): an integer holding one value. When it has a crc32, rank `reader`
 * reads its raw bytes (collective) for the checksum. */
static int read_scalar(hid_t fid, const char *file, ckpt_dataset *d, int reader, hid_t dxpl,
                       crc_piece *piece, char *err)
{
    const char *name = d->name;
    hid_t dset = -1, space = -1, type = -1, mspace = -1;
    htri_t group, exists = 0;
    unsigned char raw[16];
    int rc = -1;
    *piece = (crc_piece){0, 0, 0, 0};
    H5_TRY(group = H5Lexists(fid, "/train", H5P_DEFAULT), "%s: group /train", file);
    if (group) H5_TRY(exists = H5Lexists(fid, name, H5P_DEFAULT), "%s: dataset %s", file, name);
    if (!exists) return 0;
    H5_TRY(dset = H5Dopen2(fid, name, H5P_DEFAULT), "%s: dataset %s", file, name);
    H5_TRY(space = H5Dget_space(dset), "%s: dataset %s", file, name);
    H5_TRY(type = H5Dget_type(dset), "%s: dataset %s", file, name);
    size_t size = H5Tget_size(type);
    if (H5Tget_class(type) != H5T_INTEGER || size > sizeof raw ||
        H5Sget_simple_extent_npoints(space) != 1) {
        swat_errf(err, "%s: dataset %s is not one integer", file, name);
        goto done;
    }
    if (attr_read_crc(dset, file, name, &d->has_crc, &d->stored, err)) goto done;
    d->present = 1;
    d->bytes = size;
    if (d->has_crc) {
        H5_TRY(mspace = H5Scopy(space), "%s: dataset %s", file, name);
        if (!reader) {
            H5_TRY(H5Sselect_none(space), "%s: selecting in dataset %s", file, name);
            H5_TRY(H5Sselect_none(mspace), "%s: selecting in dataset %s", file, name);
        }
        H5_TRY(H5Dread(dset, type, mspace, space, dxpl, raw), "%s: reading dataset %s", file,
               name);
        if (reader) *piece = (crc_piece){0, size, (uint32_t)crc32_z(0, raw, size), 0};
    }
    rc = 0;
done:
    if (mspace >= 0) H5Sclose(mspace);
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    if (dset >= 0) H5Dclose(dset);
    return rc;
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
    ckpt_dataset *ds = NULL;
    crc_piece *pieces = NULL;
    int nds = 0, failed = 0, rc = -1;
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

    if ((fapl = make_fapl(c, path, cfg->checkpoint.mpiio_hints, err)) < 0) failed = -1;
    if (!failed) failed = plists_open(&pl, err);
    if (!failed && (fid = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl)) < 0)
        failed = h5_fail(err, "cannot create %s", path);
    if (swat_comm_agree(c, failed, err)) goto done;
    if (rank == 0) report_hints(fid, fapl, cfg->checkpoint.mpiio_hints);

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

    /* one collective write per dataset, each rank checksumming its part;
     * the moments point at element lo */
    ds = dataset_table(model, m != NULL, &nds);
    pieces = swat_calloc(sizeof *pieces * (size_t)nds);
    const int64_t scalars[3] = {st->step, st->samples_seen, st->tokens_seen};
    for (int i = 0; i < nds; i++) {
        const ckpt_dataset *d = &ds[i];
        if (d->kind == 1 && d->t == &model->tensors[0]) swat_fault_in_save(st->step, rank);
        if (d->kind == 3) {
            failed = write_scalar(fid, path, d->name, scalars[i - (nds - 3)], rank == 0, &pl,
                                  &pieces[i], err);
        } else {
            const swat_real *base = d->kind == 0 ? params + lo : d->kind == 1 ? m : v;
            size_t a, b;
            intersect(d->t, lo, hi, &a, &b);
            const swat_real *src = b > a ? base + (d->t->offset + a - lo) : NULL;
            failed = write_tensor(fid, path, d->name, d->t, src, a, b, &pl, &pieces[i], err);
        }
        if (swat_comm_agree(c, failed, err)) goto done;
    }
    /* every rank learns every dataset's checksum, then attaches it (metadata
     * writes are collective: all ranks write the same values) */
    swat_comm_allreduce_ordered(c, pieces, nds, sizeof *pieces, crc_merge);
    for (int i = 0; i < nds && !failed; i++) {
        /* the shards [lo, hi) of the ranks tile the flat buffer in rank order */
        SWAT_ASSERT(crc_whole(&pieces[i], ds[i].bytes));
        hid_t dset = H5Dopen2(fid, ds[i].name, H5P_DEFAULT);
        if (dset < 0) failed = h5_fail(err, "%s: dataset %s", path, ds[i].name);
        else failed = attr_write_crc(dset, path, ds[i].name, (uint32_t)pieces[i].crc, err);
        if (dset >= 0) H5Dclose(dset);
    }
    if (!failed && st->tokenizer)
        failed = write_tokenizer(fid, path, st->tokenizer, st->tokenizer_bytes, rank == 0, &pl, err);
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
    swat_free(ds);
    swat_free(pieces);
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

/* Collective. The datasets with a crc32 whose pieces did not tile them in
 * rank order (ranges that overlap, or leave parts unread) are read again by
 * equal blocks, as stored, for the checksum alone; their pieces are replaced.
 * Every rank takes the same decisions: the pieces are the same everywhere. */
static int recheck_untiled(swat_comm *c, hid_t fid, const char *file, ckpt_dataset *ds,
                           crc_piece *pieces, int nds, hid_t dxpl, char *err)
{
    int world = swat_comm_size(c, SWAT_SCOPE_WORLD), rank = swat_comm_rank(c, SWAT_SCOPE_WORLD);
    int *which = swat_malloc(sizeof *which * (size_t)nds), n = 0, failed = 0;
    for (int i = 0; i < nds; i++)
        if (ds[i].has_crc && !crc_whole(&pieces[i], ds[i].bytes)) which[n++] = i;
    /* only tensors can be untiled: a /train scalar is read whole by rank 0 */
    crc_piece *again = swat_calloc(sizeof *again * (size_t)(n ? n : 1));
    for (int j = 0; j < n && !failed; j++) {
        ckpt_dataset *d = &ds[which[j]];
        SWAT_ASSERT(d->t != NULL);
        size_t numel = d->t->numel;
        size_t a = numel * (size_t)rank / (size_t)world, b = numel * (size_t)(rank + 1) / (size_t)world;
        failed = read_tensor(fid, file, d, d->t, NULL, a, b, 1, dxpl, &again[j], err);
        failed = swat_comm_agree(c, failed, err);
    }
    if (!failed && n > 0) {
        swat_comm_allreduce_ordered(c, again, n, sizeof *again, crc_merge);
        for (int j = 0; j < n; j++) {
            SWAT_ASSERT(crc_whole(&again[j], ds[which[j]].bytes));
            pieces[which[j]] = again[j];
        }
    }
    swat_free(which);
    swat_free(again);
    return failed ? -1 : 0;
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
    ckpt_dataset *ds = NULL;
    crc_piece *pieces = NULL;
    int rank = swat_comm_rank(c, SWAT_SCOPE_WORLD);
    int nds = 0, failed = 0, rc = -1;
    err[0] = '\0';

    /* no hints: reads are independent I/O (above), which the collective
     * buffering hints do not touch, and striping is fixed at creation */
    if ((fapl = make_fapl(c, path, "", err)) < 0) failed = -1;
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

    /* every tensor read by its shards (checksumming them), then the /train
     * scalars (rank 0), then one ordered all-reduce joins the checksums */
    ds = dataset_table(model, m != NULL, &nds);
    pieces = swat_calloc(sizeof *pieces * (size_t)nds);
    for (int i = 0; i < nds; i++) {
        ckpt_dataset *d = &ds[i];
        if (d->kind == 3) {
            failed = read_scalar(fid, path, d, rank == 0, dxpl, &pieces[i], err);
        } else {
            swat_real *base = d->kind == 0 ? params + lo : d->kind == 1 ? m : v;
            size_t a, b;
            intersect(d->t, lo, hi, &a, &b);
            swat_real *dst = b > a ? base + (d->t->offset + a - lo) : NULL;
            failed = read_tensor(fid, path, d, d->t, dst, a, b, 0, dxpl, &pieces[i], err);
        }
        if (swat_comm_agree(c, failed, err)) goto done;
    }
    swat_comm_allreduce_ordered(c, pieces, nds, sizeof *pieces, crc_merge);
    failed = recheck_untiled(c, fid, path, ds, pieces, nds, dxpl, err);
    if (swat_comm_agree(c, failed, err)) goto done;
    for (int i = 0; i < nds; i++) {
        const ckpt_dataset *d = &ds[i];
        if (!d->has_crc || (uint32_t)pieces[i].crc == d->stored) continue;
        swat_errf(err, "%s: dataset %s: data does not match its crc32 (stored %08x, computed %08x)",
                  path, d->name, (unsigned)d->stored, (unsigned)pieces[i].crc);
        rc = SWAT_CKPT_CORRUPT;
        goto done;
    }
    if (st) *st = s;
    rc = 0;
done:
    if (fid >= 0) H5Fclose(fid);
    if (dxpl >= 0) H5Pclose(dxpl);
    if (fapl >= 0) H5Pclose(fapl);
    swat_free(file_cfg);
    swat_free(ds);
    swat_free(pieces);
    return rc;
}
