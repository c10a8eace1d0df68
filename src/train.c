/* SPDX-License-Identifier: MIT */
/* train.c: the pieces of one training run (see train.h).
 *
 * Which samples an update uses depends only on (step, slot), never on the
 * layout: data group r takes slots [r·B/dp, (r+1)·B/dp) of the global batch,
 * micro-batch a of it slots a·mb …, and inside a sample the rank of sp-rank c
 * reads tokens [c·Tc, c·Tc + Tc] (the chunk and the one target after it).
 * Every rank divides its loss by B·T, so the gradients summed over the world
 * are those of the global mean loss and need no rescaling. */
#include "swat/train.h"

#include "swat/ckpt.h"
#include "swat/faults.h"
#include "swat/gemm.h"
#include "swat/optim.h"
#include "swat/rundir.h"
#include "swat/tokenizer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* [data] tokenizer: a SentencePiece model whose pieces fit the vocabulary;
 * its bytes go into every checkpoint. */
static int load_tokenizer(swat_trainer *tr, char *err)
{
    const char *path = tr->cfg.data.tokenizer;
    swat_tok *tok;
    if (swat_tok_load_file(&tok, path, err)) return -1;
    int64_t pieces = swat_tok_size(tok), V = tr->cfg.model.vocab_size;
    size_t n;
    const void *bytes = swat_tok_model_bytes(tok, &n);
    int rc = 0;
    if (pieces > V)
        rc = swat_errf(err, "[data] tokenizer = %s has %lld pieces, more than [model] vocab_size = "
                            "%lld: use vocab_size >= %lld",
                       path, (long long)pieces, (long long)V, (long long)pieces);
    else {
        tr->tokenizer = swat_malloc(n);
        memcpy(tr->tokenizer, bytes, n);
        tr->tokenizer_bytes = n;
    }
    swat_tok_free(tok);
    return rc;
}

static int open_data(swat_trainer *tr, char *err)
{
    const swat_data_config *d = &tr->cfg.data;
    if (d->tokenizer[0] && load_tokenizer(tr, err)) return -1;
    if (swat_data_open(&tr->train_ds, d->train, d->format, tr->cfg.model.vocab_size, err))
        return -1;
    int64_t n = swat_data_num_samples(tr->train_ds, tr->T);
    if (n == 0)
        return swat_errf(err, "[data] train = %s: %lld tokens hold no sample of seq_len + 1 = %lld tokens",
                         d->train, (long long)swat_data_num_tokens(tr->train_ds),
                         (long long)tr->T + 1);
    swat_sampler_init(&tr->sampler, n, tr->B, (uint64_t)tr->cfg.train.seed, d->shuffle);
    if (d->val[0]) {
        if (swat_data_open(&tr->val_ds, d->val, d->format, tr->cfg.model.vocab_size, err)) return -1;
        if (swat_data_num_samples(tr->val_ds, tr->T) == 0)
            return swat_errf(err, "[data] val = %s: %lld tokens hold no sample of seq_len + 1 = %lld tokens",
                             d->val, (long long)swat_data_num_tokens(tr->val_ds),
                             (long long)tr->T + 1);
    }
    return 0;
}

/* Resume from the newest usable checkpoint, else init_from, else the seed. */
static int load_state(swat_trainer *tr, char *err)
{
    swat_model *m = tr->model;
    char path[SWAT_PATH_LEN];
    swat_ckpt_state st;
    int found = swat_rundir_resume(tr->comm, tr->cfg.checkpoint.dir, m, m->params, tr->m, tr->v,
                                   tr->lo, tr->hi, &st, path, sizeof path, err);
    if (found < 0) return -1;
    if (found == 0) {
        tr->step = st.step;
        snprintf(tr->resumed_from, sizeof tr->resumed_from, "%s", path);
        swat_info("resuming from %s at step %lld (saved by %lld ranks, sp %lld)", path,
                  (long long)st.step, (long long)st.world_size, (long long)st.sp);
        if (st.samples_seen != st.step * tr->B)
            swat_warn("batch_size changed since the checkpoint (%lld samples in %lld steps): the "
                      "sample order continues from step %lld with the new batch",
                      (long long)st.samples_seen, (long long)st.step, (long long)st.step);
    } else if (tr->cfg.train.init_from[0]) {
        if (swat_ckpt_load(tr->comm, tr->cfg.train.init_from, m, m->params, NULL, NULL, tr->lo,
                           tr->hi, NULL, err))
            return -1;
        swat_info("initialised from %s (optimizer fresh, step 0)", tr->cfg.train.init_from);
    } else {
        swat_model_init_params(m, (uint64_t)tr->cfg.train.seed);
        return 0;
    }
    if (tr->world > 1) swat_comm_allgather(tr->comm, m->params, tr->hi - tr->lo);
    swat_model_params_changed(m);
    return 0;
}

int swat_trainer_init(swat_trainer *tr, const swat_config *cfg, swat_comm *comm, char *err)
{
    memset(tr, 0, sizeof *tr);
    tr->cfg = *cfg;
    tr->comm = comm;
    tr->world = swat_comm_size(comm, SWAT_SCOPE_WORLD);
    tr->rank = swat_comm_rank(comm, SWAT_SCOPE_WORLD);
    tr->sp = swat_comm_size(comm, SWAT_SCOPE_SP);
    tr->sp_rank = swat_comm_rank(comm, SWAT_SCOPE_SP);
    tr->dp = swat_comm_size(comm, SWAT_SCOPE_DP);
    tr->dp_rank = swat_comm_rank(comm, SWAT_SCOPE_DP);
    tr->T = cfg->data.seq_len;
    tr->B = cfg->data.batch_size;
    tr->Tc = tr->T / tr->sp;
    int64_t per_dp = tr->B / tr->dp;
    tr->mb = cfg->train.micro_batch > 0 ? cfg->train.micro_batch : per_dp;
    tr->accum = per_dp / tr->mb;
    SWAT_ASSERT(tr->Tc * tr->sp == tr->T && tr->accum * tr->mb == per_dp);

    if (swat_comm_agree(comm, open_data(tr, err), err)) return -1;

    tr->model = swat_model_create(&cfg->model, (size_t)tr->world);
    swat_plan plan = {.mb = tr->mb, .Tc = tr->Tc, .recompute = cfg->train.recompute,
                      .precision = (swat_precision)cfg->train.precision};
    swat_model_plan(tr->model, &plan);
    int emulated = 0;
    swat_operand op = swat_gemm_operand(plan.precision, tr->engine, sizeof tr->engine, &emulated);
    tr->engine_tag = op == SWAT_OPERAND_REAL ? "fp32" : op == SWAT_OPERAND_BF16 ? "bf16" : "bf16-emul";
    /* one line for the job (rank 0's view: ranks of one job run on alike nodes) */
    if (emulated && tr->rank == 0) swat_log(SWAT_LOG_WARN, "precision = bf16: %s", tr->engine);
    swat_ckpt_shard(tr->model->nparams_pad, tr->world, tr->rank, &tr->lo, &tr->hi);
    size_t shard = tr->hi - tr->lo;
    tr->m = swat_calloc(sizeof(swat_real) * shard);
    tr->v = swat_calloc(sizeof(swat_real) * shard);
    tr->gshard = tr->world > 1 ? swat_calloc(sizeof(swat_real) * shard) : tr->model->grads;
    tr->tokens = swat_malloc(sizeof(int32_t) * (size_t)(tr->mb * tr->Tc + 1));
    tr->targets = swat_malloc(sizeof(int32_t) * (size_t)(tr->mb * tr->Tc + 1));
    tr->row_loss = swat_malloc(sizeof(double) * (size_t)(tr->mb * tr->Tc));

    if (load_state(tr, err)) return -1;
    /* the MFU peak: every rank measures its own products at once, as it
     * trains, in the precision they run in */
    double peak = cfg->train.peak_gflops > 0 ? cfg->train.peak_gflops
                                             : swat_gemm_peak_gflops_op(op, 1024, 0.3);
    swat_comm_allreduce_double(comm, SWAT_SCOPE_WORLD, &peak, 1);
    tr->peak_gflops = peak;
    tr->flops_per_token = swat_model_flops_per_token(tr->model, tr->T);
    return 0;
}

void swat_trainer_free(swat_trainer *tr)
{
    if (tr->gshard != (tr->model ? tr->model->grads : NULL)) swat_free(tr->gshard);
    swat_model_free(tr->model);
    swat_data_close(tr->train_ds);
    swat_data_close(tr->val_ds);
    swat_sampler_free(&tr->sampler);
    swat_free(tr->m);
    swat_free(tr->v);
    swat_free(tr->tokens);
    swat_free(tr->targets);
    swat_free(tr->row_loss);
    swat_free(tr->tokenizer);
    memset(tr, 0, sizeof *tr);
}

void swat_trainer_load_sample(swat_trainer *tr, swat_dataset *ds, int64_t index, int64_t slot)
{
    char err[SWAT_ERR_LEN];
    int64_t Tc = tr->Tc;
    int32_t *buf = tr->tokens + slot * Tc;
    /* Tc + 1 tokens land in the inputs row (one spare element at the end of
     * the buffer covers the last row); targets are the same shifted by one */
    if (swat_data_read(ds, index * tr->T + tr->sp_rank * Tc, Tc + 1, buf, err))
        swat_die(2, "%s", err);
    memcpy(tr->targets + slot * Tc, buf + 1, sizeof(int32_t) * (size_t)Tc);
}

void swat_trainer_update(swat_trainer *tr, swat_update_stats *st)
{
    swat_model *m = tr->model;
    int64_t k = tr->step + 1, per_dp = tr->B / tr->dp;
    double t0 = swat_now(), t;
    double scale = 1.0 / ((double)tr->B * (double)tr->T);
    st->data_s = st->model_s = st->reduce_s = st->optim_s = 0;

    memset(m->grads, 0, sizeof(swat_real) * m->nparams_pad);
    double red[2] = {0, 0}; /* loss sum, squared gradient norm */
    for (int64_t a = 0; a < tr->accum; a++) {
        /* the read of a row overwrites the next row's first token, so read in order
         * and take the target row right after each read */
        t = swat_now();
        for (int64_t s = 0; s < tr->mb; s++) {
            int64_t slot = tr->dp_rank * per_dp + a * tr->mb + s;
            swat_trainer_load_sample(tr, tr->train_ds, swat_sampler_index(&tr->sampler, k, slot), s);
        }
        st->data_s += swat_now() - t;
        t = swat_now();
        red[0] += swat_model_step(m, tr->comm, tr->tokens, tr->targets, tr->sp_rank * tr->Tc,
                                  scale, 1, NULL);
        st->model_s += swat_now() - t;
    }
    if (swat_fault_nonfinite_update(k, tr->rank)) m->grads[0] = NAN; /* tests only (faults.h) */
    t = swat_now();
    size_t shard = tr->hi - tr->lo;
    if (tr->world > 1) swat_comm_reduce_scatter(tr->comm, m->grads, tr->gshard, shard);
    red[1] = swat_sq_norm(tr->gshard, shard);
    swat_comm_allreduce_double(tr->comm, SWAT_SCOPE_WORLD, red, 2);
    st->reduce_s += swat_now() - t;

    st->loss = red[0] * scale;
    st->grad_norm = sqrt(red[1]);
    st->lr = swat_lr_at(&tr->cfg.train, k);
    st->nonfinite = !isfinite(st->loss) || !isfinite(st->grad_norm);
    if (!st->nonfinite) {
        double gscale = swat_clip_factor(st->grad_norm, tr->cfg.train.grad_clip);
        t = swat_now();
        swat_adamw_step(&tr->cfg.train, m, tr->lo, tr->hi, m->params + tr->lo, tr->gshard, tr->m,
                        tr->v, k, st->lr, gscale);
        st->optim_s += swat_now() - t;
        t = swat_now();
        if (tr->world > 1) swat_comm_allgather(tr->comm, m->params, shard);
        st->reduce_s += swat_now() - t;
        swat_model_params_changed(m);
    }
    /* a skipped update still consumes its samples; under the stop policy the
     * caller ends the run without saving */
    if (!st->nonfinite || tr->cfg.train.on_nonfinite == SWAT_NONFINITE_SKIP) tr->step = k;
    st->seconds = swat_now() - t0;
}

double swat_trainer_evaluate(swat_trainer *tr, swat_dataset *ds, int64_t max_samples,
                             int64_t *tokens)
{
    int64_t n = swat_data_num_samples(ds, tr->T);
    if (max_samples > 0 && max_samples < n) n = max_samples;
    int64_t per_round = tr->dp * tr->mb, rounds = (n + per_round - 1) / per_round;
    double total = 0;
    for (int64_t r = 0; r < rounds; r++) {
        /* every rank runs every round (the halo exchange pairs them);
         * slots past n repeat sample 0 and are not counted */
        for (int64_t s = 0; s < tr->mb; s++) {
            int64_t idx = r * per_round + tr->dp_rank * tr->mb + s;
            swat_trainer_load_sample(tr, ds, idx < n ? idx : 0, s);
        }
        swat_model_step(tr->model, tr->comm, tr->tokens, tr->targets, tr->sp_rank * tr->Tc, 1.0, 0,
                        tr->row_loss);
        for (int64_t s = 0; s < tr->mb; s++) {
            if (r * per_round + tr->dp_rank * tr->mb + s >= n) break;
            for (int64_t t = 0; t < tr->Tc; t++) total += tr->row_loss[s * tr->Tc + t];
        }
    }
    swat_comm_allreduce_double(tr->comm, SWAT_SCOPE_WORLD, &total, 1);
    *tokens = n * tr->T;
    return n > 0 ? total / (double)(n * tr->T) : NAN;
}

int swat_trainer_save(swat_trainer *tr, char *err)
{
    swat_ckpt_state st = {.step = tr->step,
                          .samples_seen = tr->step * tr->B,
                          .tokens_seen = tr->step * tr->B * tr->T,
                          .world_size = tr->world,
                          .sp = tr->sp,
                          .tokenizer = tr->tokenizer,
                          .tokenizer_bytes = tr->tokenizer_bytes};
    return swat_rundir_save(tr->comm, tr->cfg.checkpoint.dir, &tr->cfg, tr->model,
                          tr->model->params, tr->m, tr->v, tr->lo, tr->hi, &st,
                          (int)tr->cfg.checkpoint.keep, err);
}
