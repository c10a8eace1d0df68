/* SPDX-License-Identifier: MIT */
/* swat-refdump CONFIG.ini OUT.h5 [--set section.key=value]…
 *
 * Test tool (llm.c test_gpt2.c style): trains train.steps = K updates exactly
 * as swat-train does, on any layout (mpirun -n N), and writes what an
 * independent PyTorch reference needs to check it (tests/reference/):
 *   attribute config            resolved config, INI text
 *   /init/<param path>          parameters before the first update (float32)
 *   /batch/inputs, /batch/targets  int32 [K][B][T], the global batches
 *   /loss, /grad_norm, /lr      float64 [K]
 *   /grad/<param path>          gradient of update 1 (mean loss, before clipping)
 *   /final/<param path>         parameters after K updates
 * Only rank 0 writes (serial HDF5): this is a test fixture, not a checkpoint. */
#include "swat/cli.h"
#include "swat/comm.h"
#include "swat/config.h"
#include "swat/gemm.h"
#include "swat/train.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(herr_t rc, const char *what)
{
    if (rc < 0) swat_die(1, "refdump: HDF5 failed: %s", what);
}

static void write_dataset(hid_t file, const char *name, hid_t memtype, hid_t filetype, int ndim,
                          const hsize_t *dims, const void *data)
{
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    check(H5Pset_create_intermediate_group(lcpl, 1), "lcpl");
    hid_t space = H5Screate_simple(ndim, dims, NULL);
    hid_t ds = H5Dcreate2(file, name, filetype, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    if (ds < 0) swat_die(1, "refdump: cannot create %s", name);
    check(H5Dwrite(ds, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), name);
    H5Dclose(ds);
    H5Sclose(space);
    H5Pclose(lcpl);
}

static void write_params(hid_t file, const char *prefix, const swat_model *m, const swat_real *buf)
{
    hid_t memtype = sizeof(swat_real) == 4 ? H5T_NATIVE_FLOAT : H5T_NATIVE_DOUBLE;
    for (int i = 0; i < m->ntensors; i++) {
        const swat_tensor *t = &m->tensors[i];
        char name[256];
        snprintf(name, sizeof name, "/%s/%s", prefix, t->name);
        hsize_t dims[2] = {(hsize_t)t->shape[0], (hsize_t)t->shape[1]};
        write_dataset(file, name, memtype, H5T_IEEE_F32LE, t->ndim, dims, buf + t->offset);
    }
}

enum { OPT_SET = 256 };
static const swat_cli_option options[] = {
    SWAT_CLI_OPTION_SET(OPT_SET),
    {0},
};
static const swat_cli_program program = {
    "swat-refdump", "CONFIG.ini OUT.h5 [--set SECTION.KEY=VALUE]...",
    "Test tool: trains train.steps updates as swat-train does and writes what the PyTorch "
    "reference of tests/reference/ needs to check them.",
    NULL, options, 2,
};

int main(int argc, char **argv)
{
    int world = swat_comm_init(&argc, &argv);
    int rank = swat_comm_world_rank();
    char err[SWAT_ERR_LEN];
    swat_config cfg;
    const char *pos[2] = {NULL, NULL}, **sets = swat_malloc(sizeof *sets * (size_t)argc), *val;
    int npos = 0, nsets = 0, key;
    swat_cli cli;
    swat_cli_init(&cli, &program, argc, argv, rank != 0);
    while ((key = swat_cli_next(&cli, &val, err)) > 0) {
        if (key == OPT_SET) sets[nsets++] = val;
        else pos[npos++] = val;
    }
    if (key == SWAT_CLI_EXIT) {
        swat_comm_finalize();
        return 0;
    }
    if (key == 0 && npos < 2) key = swat_cli_usage_errf(&cli, err, "missing CONFIG.ini or OUT.h5");
    if (key < 0) swat_die(2, "%s", err);
    if (swat_cli_load_config(&cfg, pos[0], sets, nsets, SWAT_CONFIG_FOR_TRAINING, err) ||
        swat_config_check_layout(&cfg, world, err))
        swat_die(2, "%s", err);
    swat_free(sets);
    const char *out_path = pos[1];
    swat_gemm_set_threads(1);
    swat_comm *comm = swat_comm_create((int)cfg.parallel.sp);
    swat_trainer tr;
    if (swat_trainer_init(&tr, &cfg, comm, err)) swat_die(2, "%s", err);

    swat_model *m = tr.model;
    int64_t K = cfg.train.steps, B = tr.B, T = tr.T;
    hid_t file = -1;
    if (rank == 0) {
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        file = H5Fcreate(out_path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        if (file < 0) swat_die(2, "refdump: cannot create %s", out_path);
        char *ini = swat_config_to_string(&cfg);
        hid_t type = H5Tcopy(H5T_C_S1);
        H5Tset_size(type, strlen(ini) + 1);
        hid_t space = H5Screate(H5S_SCALAR);
        hid_t attr = H5Acreate2(file, "config", type, space, H5P_DEFAULT, H5P_DEFAULT);
        check(H5Awrite(attr, type, ini), "config attribute");
        H5Aclose(attr);
        H5Sclose(space);
        H5Tclose(type);
        free(ini);
        write_params(file, "init", m, m->params);
    }

    int32_t *inputs = swat_malloc(sizeof(int32_t) * (size_t)(K * B * (T + 1)));
    int32_t *targets = swat_malloc(sizeof(int32_t) * (size_t)(K * B * T));
    double *loss = swat_malloc(sizeof(double) * (size_t)K);
    double *gnorm = swat_malloc(sizeof(double) * (size_t)K);
    double *lr = swat_malloc(sizeof(double) * (size_t)K);
    swat_real *grad = swat_calloc(sizeof(swat_real) * m->nparams_pad);
    for (int64_t k = 1; k <= K; k++) {
        /* the global batch, read independently of the layout */
        for (int64_t j = 0; j < B; j++) {
            int64_t idx = swat_sampler_index(&tr.sampler, k, j);
            int32_t *row = inputs + ((k - 1) * B + j) * (T + 1);
            if (swat_data_read(tr.train_ds, idx * T, T + 1, row, err)) swat_die(2, "%s", err);
            memcpy(targets + ((k - 1) * B + j) * T, row + 1, sizeof(int32_t) * (size_t)T);
        }
        swat_update_stats st;
        swat_trainer_update(&tr, &st);
        loss[k - 1] = st.loss;
        gnorm[k - 1] = st.grad_norm;
        lr[k - 1] = st.lr;
        /* the reduced gradient lives in the ranks' slices: gather it for the dump */
        if (k == 1) swat_trainer_gather_grads(&tr, grad);
    }
    /* after bf16-wire all-gathers only the owned slices of the parameters are current */
    swat_trainer_sync_params(&tr);
    if (rank == 0) {
        /* inputs were read with their extra target token: store [K][B][T] */
        int32_t *in = swat_malloc(sizeof(int32_t) * (size_t)(K * B * T));
        for (int64_t r = 0; r < K * B; r++)
            memcpy(in + r * T, inputs + r * (T + 1), sizeof(int32_t) * (size_t)T);
        hsize_t d3[3] = {(hsize_t)K, (hsize_t)B, (hsize_t)T}, d1[1] = {(hsize_t)K};
        write_dataset(file, "/batch/inputs", H5T_NATIVE_INT32, H5T_STD_I32LE, 3, d3, in);
        write_dataset(file, "/batch/targets", H5T_NATIVE_INT32, H5T_STD_I32LE, 3, d3, targets);
        write_dataset(file, "/loss", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, d1, loss);
        write_dataset(file, "/grad_norm", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, d1, gnorm);
        write_dataset(file, "/lr", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, d1, lr);
        write_params(file, "grad", m, grad);
        write_params(file, "final", m, m->params);
        check(H5Fclose(file), "close");
        swat_free(in);
        printf("refdump: %lld updates, losses", (long long)K);
        for (int64_t k = 0; k < K; k++) printf(" %.6f", loss[k]);
        printf(" -> %s\n", out_path);
    }
    swat_free(inputs);
    swat_free(targets);
    swat_free(loss);
    swat_free(gnorm);
    swat_free(lr);
    swat_free(grad);
    swat_trainer_free(&tr);
    swat_comm_free(comm);
    swat_comm_finalize();
    return 0;
}
