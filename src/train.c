/* SPDX-License-Identifier: MIT */
/* train.c: the pieces of one training run (see train.h).
 *
 * Which samples an update uses depends only on (step, slot), never on the
 * layout: data group r takes slots [r·B/dp, (r+1)·B/dp) of the global batch,
 * micro-batch a of it slots a·mb …, and inside a sample the rank of sp-rank c
 * reads tokens [c·Tc, c·Tc + Tc] (the chunk and the one target after it).
 * Every rank divides its loss by B·T, so the gradients summed over the world
 * are those of the global mean loss and need no rescaling.
 *
 * The bucketed update (comm.h, swat_buckets). The bucket plan follows the
 * model's units (embedding, layers, final norm): buckets of about bucket_mb
 * MiB that never straddle a change of wire (with param_wire = bf16 the
 * RMSNorm weights and the embedding travel fp32, the other matrices bf16)
 * and merge whole small units. The model's hooks drive it:
 *   - backward of the LAST micro-batch: when every unit a bucket touches is
 *     done (grads_done), its reduce-scatter starts, so the collectives run
 *     once per update whatever the micro-batch count, and only finished
 *     gradients leave; earlier passes just accumulate;
 *   - after the passes: wait for the reduce-scatters still in flight (the
 *     tail: the embedding and layer 0, done last), the global norm over the
 *     owned slices (one all-reduce), the clip factor, AdamW on the slices;
 *     then every bucket's all-gather starts, in forward order;
 *   - forward of the next update: before a unit is read (params_needed) its
 *     buckets are waited for and, for fp32-wire buckets of a bf16 run, their
 *     operand copy is made; a bf16-wire bucket arrives in the operand copy
 *     itself (the owner writes its slice there first).
 * The non-finite check and the clip need every bucket, which is why AdamW
 * cannot start before the last reduce-scatter ends.
 *
 * Stale parameters. After a bf16-wire all-gather the fp32 parameters of a
 * bf16 bucket are current only in this rank's slice (the model is told:
 * swat_model_params_partial). Nothing reads the rest: the products read the
 * operand copy, the embedding lookup and the RMSNorms read fp32 buckets,
 * AdamW its slices, and a save writes the checkpoint shard after moving the
 * owners' values into it (swat_trainer_save). swat_trainer_sync_params makes
 * the whole buffer current for tools that read it. */
#include "swat/train.h"

#include "swat/ckpt.h"
#include "swat/comm.h"
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

/* ---- who updates what -------------------------------------------------------------
 *
 * Without buckets a rank updates its checkpoint shard [lo, hi) itself; with
 * buckets one slice of every bucket. The moments live packed in slice order;
 * a checkpoint stores the contiguous shards, so saving and resuming move
 * pieces between the two layouts (swat_comm_exchange). */

/* The gradient of owned slice i after the reduction. */
static swat_real *owned_grad(const swat_trainer *tr, int i)
{
    return tr->zero ? tr->model->grads + tr->own[i].lo : tr->gshard;
}

static int own_is_shard(const swat_trainer *tr)
{
    return tr->nown == 1 && tr->own[0].lo == tr->lo && tr->own[0].hi == tr->hi;
}

/* Pieces that carry the state of the owned slices to the checkpoint shards
 * (every shard has hi − lo elements): on the owner's side at the slice's
 * packed offset (moff…) or its flat offset, on the shard's side at offset
 * − lo or flat. Both sides walk the buckets in order, so the pieces of
 * every pair of ranks pair up. Counts when the arrays are NULL. */
static void shard_pieces(const swat_trainer *tr, int flat, swat_piece *own_side, int *nown,
                         swat_piece *shard_side, int *nshard)
{
    int P = tr->world, nb = tr->zero ? tr->nbk : 1, no = 0, ns = 0;
    size_t S = tr->hi - tr->lo;
    for (int i = 0; i < tr->nown; i++) {
        const swat_owned *w = &tr->own[i];
        for (size_t a = w->lo; a < w->hi;) {
            size_t q = a / S, b = (q + 1) * S < w->hi ? (q + 1) * S : w->hi;
            if (own_side) own_side[no] = (swat_piece){(int)q, flat ? a : w->moff + (a - w->lo), b - a};
            no++;
            a = b;
        }
    }
    for (int r = 0; r < P; r++)
        for (int j = 0; j < nb; j++) {
            size_t a = (size_t)r * S, b = a + S;
            if (tr->zero) swat_bucket_slice(&tr->bk[j], P, r, &a, &b);
            if (a < tr->lo) a = tr->lo;
            if (b > tr->hi) b = tr->hi;
            if (a >= b) continue;
            if (shard_side) shard_side[ns] = (swat_piece){r, flat ? a : a - tr->lo, b - a};
            ns++;
        }
    *nown = no;
    *nshard = ns;
}

/* Moves state between the owned slices and the checkpoint shard:
 * to_shard = 1: owned (packed at own, or flat) → shard (shard + i − lo, or
 * flat); 0 the other way. Collective. */
static void move_state(swat_trainer *tr, int to_shard, int flat, swat_real *own, swat_real *shard)
{
    int no, ns;
    shard_pieces(tr, flat, NULL, &no, NULL, &ns);
    swat_piece *po = swat_malloc(sizeof *po * (size_t)(no + 1));
    swat_piece *ps = swat_malloc(sizeof *ps * (size_t)(ns + 1));
    shard_pieces(tr, flat, po, &no, ps, &ns);
    if (to_shard)
        swat_comm_exchange(tr->comm, own, po, no, shard, ps, ns, sizeof(swat_real));
    else
        swat_comm_exchange(tr->comm, shard, ps, ns, own, po, no, sizeof(swat_real));
    swat_free(po);
    swat_free(ps);
}

/* ---- the bucket plan ------------------------------------------------------------------ */

const char *swat_param_wire_label(const swat_parallel_config *pc)
{
    if (pc->param_wire != SWAT_WIRE_BF16) return "fp32";
    return pc->embed_wire == SWAT_WIRE_BF16 ? "bf16, the embedding too" : "bf16";
}

/* A tensor's parameters on the all-gather's wire: bf16 only for matrices
 * that only products read (the embedding only with embed_wire = bf16, when
 * its lookup reads the bf16 operand copy too). */
static swat_wire tensor_wire(const swat_trainer *tr, int t)
{
    const swat_tensor *x = &tr->model->tensors[t];
    int bf16 = tr->cfg.parallel.param_wire == SWAT_WIRE_BF16 && x->ndim == 2 &&
               (t != 0 || tr->cfg.parallel.embed_wire == SWAT_WIRE_BF16);
    return bf16 ? SWAT_WIRE_BF16 : SWAT_WIRE_REAL;
}

/* Closes bucket cur into out (NULL: counts): cut into equal parts of about
 * `target` elements when it is over 1.5 targets. The new count. */
static int close_bucket(swat_bucket cur, size_t target, swat_bucket *out, int n)
{
    size_t len = cur.hi - cur.lo, parts = len > target + target / 2 ? (len + target - 1) / target : 1;
    for (size_t p = 0; p < parts; p++, n++)
        if (out) out[n] = (swat_bucket){cur.lo + len * p / parts, cur.lo + len * (p + 1) / parts, cur.wire};
    return n;
}

/* Buckets over [0, nparams_pad), in flat order, into out (NULL: count
 * only): a bucket grows over consecutive tensors of one wire, within a unit,
 * or into the next unit while it is under `target` elements (small layers
 * share one); big ones are cut evenly. The padding joins the last bucket.
 * Units 0 and 1 (the embedding, the first layer) share with no other: their
 * gradients are complete last and their parameters needed first, so what
 * the update waits for between the passes is theirs alone (a first layer
 * bucketed with the next two made that tail 3 layers longer). */
static int plan_buckets(const swat_trainer *tr, size_t target, swat_bucket *out)
{
    const swat_model *m = tr->model;
    int n = 0, u = 0, cur_unit = -1;
    size_t ulo, uhi;
    swat_model_unit_range(m, 0, &ulo, &uhi);
    swat_bucket cur = {0, 0, SWAT_WIRE_REAL};
    for (int t = 0; t < m->ntensors; t++) {
        const swat_tensor *x = &m->tensors[t];
        while (x->offset >= uhi) swat_model_unit_range(m, ++u, &ulo, &uhi);
        swat_wire w = tensor_wire(tr, t);
        int grow = cur_unit >= 0 && cur.wire == w && cur.hi == x->offset &&
                   (cur_unit == u || (cur.hi - cur.lo < target && u > 2));
        if (!grow) {
            if (cur_unit >= 0) n = close_bucket(cur, target, out, n);
            cur = (swat_bucket){x->offset, x->offset, w};
        }
        cur.hi = x->offset + x->numel;
        cur_unit = u;
    }
    cur.hi = m->nparams_pad;
    return close_bucket(cur, target, out, n);
}

/* ---- the hooks of the passes ------------------------------------------------------------ */

/* Test hook (faults.h, tests/run_faults.sh): the poisoned gradient, written
 * before element 0's reduction starts (with buckets, that is inside the
 * backward pass). */
static void inject_fault(swat_trainer *tr)
{
    if (swat_fault_nonfinite_update(tr->update, tr->rank)) tr->model->grads[0] = NAN;
}

static void start_reduce(swat_trainer *tr, int j)
{
    if (j == 0) inject_fault(tr);
    swat_buckets_reduce_start(tr->zero, j, tr->model->grads);
}

/* Bucket j's all-gather complete and its operand copy made (fp32 wire in a
 * bf16 run; a bf16-wire bucket arrives in the copy). */
static void bucket_fresh(swat_trainer *tr, int j)
{
    if (tr->bk_fresh[j]) return;
    swat_buckets_wait(tr->zero, j);
    if (tr->bk[j].wire == SWAT_WIRE_REAL)
        swat_model_operands_refresh(tr->model, tr->bk[j].lo, tr->bk[j].hi);
    tr->bk_fresh[j] = 1;
}

static void finish_gathers(swat_trainer *tr)
{
    if (!tr->zero || !tr->gathering) return;
    for (int j = 0; j < tr->nbk; j++) bucket_fresh(tr, j);
    tr->gathering = 0;
}

static void hook_params_needed(void *ctx, int unit)
{
    swat_trainer *tr = ctx;
    if (!tr->gathering) return;
    for (int j = tr->unit_bk[2 * unit]; j <= tr->unit_bk[2 * unit + 1]; j++) bucket_fresh(tr, j);
    if (unit == swat_model_units(tr->model) - 1) tr->gathering = 0; /* the last unit: all waited */
}

static void hook_grads_done(void *ctx, int unit)
{
    swat_trainer *tr = ctx;
    if (!tr->last_pass || !tr->cfg.parallel.overlap) return;
    for (int j = tr->unit_bk[2 * unit]; j <= tr->unit_bk[2 * unit + 1]; j++)
        if (--tr->bk_pending[j] == 0) start_reduce(tr, j);
}

static void hook_progress(void *ctx)
{
    swat_trainer *tr = ctx;
    swat_buckets_progress(tr->zero);
}

/* The bucket plan, the owned slices, the engine and the hooks. */
static void setup_buckets(swat_trainer *tr)
{
    swat_model *m = tr->model;
    const swat_parallel_config *pc = &tr->cfg.parallel;
    /* a MiB of fp32 gradient is 2^18 elements; at most ~4000 buckets (MPI tags) */
    size_t target = (size_t)(pc->bucket_mb * 262144.0);
    if (target < m->nparams_pad / 4000 + 1) target = m->nparams_pad / 4000 + 1;
    tr->nbk = plan_buckets(tr, target, NULL);
    tr->bk = swat_malloc(sizeof *tr->bk * (size_t)tr->nbk);
    plan_buckets(tr, target, tr->bk);

    int units = swat_model_units(m);
    tr->unit_bk = swat_malloc(sizeof(int) * 2 * (size_t)units);
    tr->bk_pending = swat_calloc(sizeof(int) * (size_t)tr->nbk);
    tr->bk_fresh = swat_malloc(sizeof(int) * (size_t)tr->nbk);
    for (int u = 0; u < units; u++) {
        size_t lo, hi;
        swat_model_unit_range(m, u, &lo, &hi);
        int first = 0, last = tr->nbk - 1;
        while (tr->bk[first].hi <= lo) first++;
        while (tr->bk[last].lo >= hi) last--;
        tr->unit_bk[2 * u] = first;
        tr->unit_bk[2 * u + 1] = last;
    }
    for (int j = 0; j < tr->nbk; j++) tr->bk_fresh[j] = 1;

    tr->own = swat_malloc(sizeof *tr->own * (size_t)tr->nbk);
    tr->nown = tr->nbk;
    tr->nmom = 0;
    for (int j = 0; j < tr->nbk; j++) {
        swat_owned *w = &tr->own[j];
        swat_bucket_slice(&tr->bk[j], tr->world, tr->rank, &w->lo, &w->hi);
        w->moff = tr->nmom;
        tr->nmom += w->hi - w->lo;
    }

    int thread = pc->progress == SWAT_PROGRESS_THREAD;
    if (thread && !swat_comm_thread_multiple()) {
        if (tr->rank == 0)
            swat_warn("[parallel] progress = thread needs MPI_THREAD_MULTIPLE, which this MPI does "
                      "not provide: the collectives are polled instead");
        thread = 0;
    }
    swat_buckets_opts o = {.thread = thread,
                           .poll_us = 50,
                           .grad_wire = (swat_wire)pc->grad_wire,
                           .rounded = m->op == SWAT_OPERAND_ROUNDED};
    tr->zero = swat_buckets_create(tr->comm, tr->bk, tr->nbk, &o);
    double sent = 0;
    for (int j = 0; j < tr->nbk; j++)
        sent += swat_buckets_bytes(tr->zero, j, 0, o.grad_wire) +
                swat_buckets_bytes(tr->zero, j, 1, tr->bk[j].wire);
    swat_info("ZeRO-1 collectives: %d buckets (target %.3g MiB), %s, %s; wire: matrices %s, "
              "gradients %s; %.2f MiB sent per update by rank 0",
              tr->nbk, (double)target * sizeof(swat_real) / 1048576.0,
              pc->overlap ? "overlapped with the passes" : "after the backward pass",
              thread ? "progress thread" : "polled",
              swat_param_wire_label(pc),
              pc->grad_wire ? "bf16" : "fp32", sent / 1048576.0);
    swat_model_hooks h = {.ctx = tr,
                          .params_needed = hook_params_needed,
                          .grads_done = hook_grads_done,
                          .progress = thread ? NULL : hook_progress};
    swat_model_set_hooks(m, &h);
}

/* ---- start-up -------------------------------------------------------------------------- */

/* Resume from the newest usable checkpoint, else init_from, else the seed.
 * The moments come in by checkpoint shard and go to the owned slices. */
static int load_state(swat_trainer *tr, char *err)
{
    swat_model *m = tr->model;
    char path[SWAT_PATH_LEN];
    swat_ckpt_state st;
    int direct = own_is_shard(tr);
    size_t S = tr->hi - tr->lo;
    swat_real *ms = direct ? tr->m : swat_malloc(sizeof(swat_real) * (S ? S : 1));
    swat_real *vs = direct ? tr->v : swat_malloc(sizeof(swat_real) * (S ? S : 1));
    int found = swat_rundir_resume(tr->comm, tr->cfg.checkpoint.dir, m, m->params, ms, vs,
                                   tr->lo, tr->hi, &st, path, sizeof path, err);
    if (found == 0 && !direct) {
        move_state(tr, 0, 0, tr->m, ms);
        move_state(tr, 0, 0, tr->v, vs);
    }
    if (!direct) {
        swat_free(ms);
        swat_free(vs);
    }
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

    int bad = 0;
    if (cfg->parallel.param_wire == SWAT_WIRE_BF16 && sizeof(swat_real) != sizeof(float))
        bad = swat_errf(err, "[parallel] param_wire = bf16 is not available in the double-"
                             "precision build");
    else
        bad = open_data(tr, err);
    if (swat_comm_agree(comm, bad, err)) return -1;

    tr->model = swat_model_create(&cfg->model, (size_t)tr->world);
    swat_plan plan = {.mb = tr->mb, .Tc = tr->Tc, .recompute = cfg->train.recompute,
                      .precision = (swat_precision)cfg->train.precision};
    swat_model_plan(tr->model, &plan);
    /* on every world size, so that layouts keep computing the same thing */
    swat_model_embedding_rounded(tr->model, cfg->parallel.embed_wire == SWAT_WIRE_BF16);
    int emulated = 0;
    swat_operand op = swat_gemm_operand(plan.precision, tr->engine, sizeof tr->engine, &emulated);
    tr->engine_tag = op == SWAT_OPERAND_REAL ? "fp32" : op == SWAT_OPERAND_BF16 ? "bf16" : "bf16-emul";
    /* one line for the job (rank 0's view: ranks of one job run on alike nodes) */
    if (emulated && tr->rank == 0) swat_log(SWAT_LOG_WARN, "precision = bf16: %s", tr->engine);
    swat_ckpt_shard(tr->model->nparams_pad, tr->world, tr->rank, &tr->lo, &tr->hi);
    if (tr->world > 1 && cfg->parallel.bucket_mb > 0) {
        setup_buckets(tr);
    } else {
        tr->own = swat_malloc(sizeof *tr->own);
        tr->own[0] = (swat_owned){tr->lo, tr->hi, 0};
        tr->nown = 1;
        tr->nmom = tr->hi - tr->lo;
        tr->gshard = tr->world > 1 ? swat_calloc(sizeof(swat_real) * tr->nmom) : tr->model->grads;
    }
    tr->m = swat_calloc(sizeof(swat_real) * (tr->nmom ? tr->nmom : 1));
    tr->v = swat_calloc(sizeof(swat_real) * (tr->nmom ? tr->nmom : 1));
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
    finish_gathers(tr);
    swat_buckets_free(tr->zero);
    if (tr->model) swat_model_set_hooks(tr->model, NULL);
    if (tr->gshard != (tr->model ? tr->model->grads : NULL)) swat_free(tr->gshard);
    swat_model_free(tr->model);
    swat_data_close(tr->train_ds);
    swat_data_close(tr->val_ds);
    swat_sampler_free(&tr->sampler);
    swat_free(tr->own);
    swat_free(tr->bk);
    swat_free(tr->unit_bk);
    swat_free(tr->bk_pending);
    swat_free(tr->bk_fresh);
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

/* ---- one update ---------------------------------------------------------------------- */

/* The gradients of the passes, reduced: this rank's slices hold the sums. */
static void reduce_grads(swat_trainer *tr)
{
    swat_model *m = tr->model;
    if (tr->zero) {
        if (!tr->cfg.parallel.overlap)
            for (int j = tr->nbk - 1; j >= 0; j--) start_reduce(tr, j); /* backward order */
        for (int j = tr->nbk - 1; j >= 0; j--) swat_buckets_wait(tr->zero, j);
        return;
    }
    inject_fault(tr);
    if (tr->world > 1) swat_comm_reduce_scatter(tr->comm, m->grads, tr->gshard, tr->hi - tr->lo);
}

/* The updated parameters to every rank: with buckets started now in forward
 * order and waited for by the next forward pass (or here without overlap). */
static void gather_params(swat_trainer *tr)
{
    swat_model *m = tr->model;
    if (!tr->zero) {
        if (tr->world > 1) swat_comm_allgather(tr->comm, m->params, tr->hi - tr->lo);
        swat_model_params_changed(m);
        return;
    }
    void *ops = swat_model_operands(m);
    for (int j = 0; j < tr->nbk; j++) {
        if (tr->bk[j].wire == SWAT_WIRE_BF16) {
            /* this rank's slice leaves from the operand copy */
            swat_model_operands_refresh(m, tr->own[j].lo, tr->own[j].hi);
            swat_model_params_partial(m, 1);
        }
        tr->bk_fresh[j] = 0;
        swat_buckets_gather_start(tr->zero, j, tr->bk[j].wire == SWAT_WIRE_BF16 ? ops : m->params, -1);
    }
    tr->gathering = 1;
    if (!tr->cfg.parallel.overlap) finish_gathers(tr);
}

void swat_trainer_update(swat_trainer *tr, swat_update_stats *st)
{
    swat_model *m = tr->model;
    int64_t k = tr->step + 1, per_dp = tr->B / tr->dp;
    double t0 = swat_now(), t;
    double scale = 1.0 / ((double)tr->B * (double)tr->T);
    st->data_s = st->model_s = st->reduce_s = st->optim_s = 0;
    tr->update = k;

    memset(m->grads, 0, sizeof(swat_real) * m->nparams_pad);
    if (tr->zero)
        for (int j = 0; j < tr->nbk; j++) tr->bk_pending[j] = 0;
    for (int u = 0; tr->zero && u < swat_model_units(m); u++)
        for (int j = tr->unit_bk[2 * u]; j <= tr->unit_bk[2 * u + 1]; j++) tr->bk_pending[j]++;
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
        tr->last_pass = a == tr->accum - 1; /* only its backward starts the reductions */
        red[0] += swat_model_step(m, tr->comm, tr->tokens, tr->targets, tr->sp_rank * tr->Tc,
                                  scale, 1, NULL);
        st->model_s += swat_now() - t;
    }
    tr->last_pass = 0;
    t = swat_now();
    reduce_grads(tr);
    for (int i = 0; i < tr->nown; i++)
        red[1] += swat_sq_norm(owned_grad(tr, i), tr->own[i].hi - tr->own[i].lo);
    swat_comm_allreduce_double(tr->comm, SWAT_SCOPE_WORLD, red, 2);
    st->reduce_s += swat_now() - t;

    st->loss = red[0] * scale;
    st->grad_norm = sqrt(red[1]);
    st->lr = swat_lr_at(&tr->cfg.train, k);
    st->nonfinite = !isfinite(st->loss) || !isfinite(st->grad_norm);
    if (!st->nonfinite) {
        double gscale = swat_clip_factor(st->grad_norm, tr->cfg.train.grad_clip);
        t = swat_now();
        for (int i = 0; i < tr->nown; i++) {
            const swat_owned *w = &tr->own[i];
            swat_adamw_step(&tr->cfg.train, m, w->lo, w->hi, m->params + w->lo, owned_grad(tr, i),
                            tr->m + w->moff, tr->v + w->moff, k, st->lr, gscale);
        }
        st->optim_s += swat_now() - t;
        t = swat_now();
        gather_params(tr);
        st->reduce_s += swat_now() - t;
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
    finish_gathers(tr);
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
    swat_model *m = tr->model;
    finish_gathers(tr);
    if (own_is_shard(tr))
        return swat_rundir_save(tr->comm, tr->cfg.checkpoint.dir, &tr->cfg, m, m->params, tr->m,
                                tr->v, tr->lo, tr->hi, &st, (int)tr->cfg.checkpoint.keep, err);
    /* the checkpoint shard's parameters from their owners (after a bf16-wire
     * all-gather only those are current), the moments likewise */
    size_t S = tr->hi - tr->lo;
    swat_real *ms = swat_malloc(sizeof(swat_real) * (S ? S : 1));
    swat_real *vs = swat_malloc(sizeof(swat_real) * (S ? S : 1));
    if (m->params_partial) move_state(tr, 1, 1, m->params, m->params);
    move_state(tr, 1, 0, tr->m, ms);
    move_state(tr, 1, 0, tr->v, vs);
    int rc = swat_rundir_save(tr->comm, tr->cfg.checkpoint.dir, &tr->cfg, m, m->params, ms, vs,
                              tr->lo, tr->hi, &st, (int)tr->cfg.checkpoint.keep, err);
    swat_free(ms);
    swat_free(vs);
    return rc;
}

void swat_trainer_sync_params(swat_trainer *tr)
{
    swat_model *m = tr->model;
    finish_gathers(tr);
    if (!tr->zero || !m->params_partial) return;
    for (int j = 0; j < tr->nbk; j++)
        if (tr->bk[j].wire == SWAT_WIRE_BF16)
            swat_buckets_gather_start(tr->zero, j, m->params, SWAT_WIRE_REAL);
    for (int j = 0; j < tr->nbk; j++) swat_buckets_wait(tr->zero, j);
    swat_model_params_partial(m, 0);
}

void swat_trainer_gather_grads(swat_trainer *tr, swat_real *out)
{
    memset(out, 0, sizeof(swat_real) * tr->model->nparams_pad);
    for (int i = 0; i < tr->nown; i++)
        memcpy(out + tr->own[i].lo, owned_grad(tr, i),
               sizeof(swat_real) * (tr->own[i].hi - tr->own[i].lo));
    /* one rank holds each element: the sum adds zeros */
    if (tr->world > 1) swat_comm_allreduce(tr->comm, SWAT_SCOPE_WORLD, out, tr->model->nparams_pad);
}
