/* SPDX-License-Identifier: MIT */
/* model.c: the SWAT decoder of docs/model.md over one sequence chunk per rank.
 *
 * Shape of the code (llm.c): one table of tensors gives the flat parameter
 * layout; views give each layer its pointers; one arena holds every
 * activation, sized once by swat_model_plan, so the training step allocates
 * nothing. q/k/v are one [3d][d] matrix and gate/up one [2f][d], so each is
 * one GEMM. A sequence's q|k|v rows live in a [nhalo + Tc][3d] buffer whose
 * first nhalo rows receive the left neighbour's last keys and values: the
 * attention kernel then sees one contiguous key range across the boundary.
 *
 * Sequence parallelism enters only in the attention: after k and v exist, the
 * chunk's last w−1 rows of k|v go to the right neighbour (nonblocking) while
 * the rows that need no halo are computed; in the backward the halo rows'
 * gradients go back to the left and are added, in a fixed order, before the
 * RoPE and projection backward.
 *
 * Precision. Every tensor that only products read is kept in the plan's
 * operand type (gemm.h): in bf16, producers round as they write (RMSNorm,
 * SwiGLU, the q|k|v staging pass, the attention's probabilities), and the
 * parameters get one operand copy per change (wop), so no product converts
 * its inputs. q, k and v are stored one head after the other so that the
 * attention's block operands are dense matrices (oneDNN's AMX kernels need
 * that); the q|k|v GEMM writes rows to `stage`, and one pass rotates (RoPE),
 * rounds and scatters them by head. In fp32 the operand type is swat_real and
 * the copies are aliases or plain copies.
 *
 * Streaming (evaluation and generation of unbounded sequences) reuses the
 * same halo rows: instead of the left neighbour, each layer's halo comes from
 * its own carry, the last w−1 k|v rows (post-RoPE) of what the layer has seen
 * of the sequence, and is refreshed after the layer from [carry ; new rows].
 * The chunk of one step may then be any length from 1 (a generated token) up
 * to the planned rows, and memory depends on neither the sequence length nor
 * the number of steps. */
#include "swat/model.h"

#include "swat/comm.h"
#include "swat/gemm.h"
#include "swat/ops.h"
#include "swat/rng.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Rows of the output layer processed at once: bounds the [chunk][V] logits.
 * bf16 on oneDNN takes 512: its three products per chunk run 12 % faster
 * than at 256 rows (V 32000, d 1024: 300 vs 342 ms per 2048 rows) and no
 * faster beyond; fp32 keeps 256 (the logits are 4 bytes a value). */
static int64_t classifier_chunk(const swat_model *m)
{
    return m->op == SWAT_OPERAND_BF16 ? 512 : 256;
}

static void add_tensor(swat_model *m, int cap, const char *name, int ndim, int64_t r, int64_t c,
                       int decay)
{
    SWAT_ASSERT(m->ntensors < cap);
    swat_tensor *t = &m->tensors[m->ntensors++];
    SWAT_ASSERT(strlen(name) < SWAT_TENSOR_NAME_LEN);
    strcpy(t->name, name);
    t->ndim = ndim;
    t->shape[0] = r;
    t->shape[1] = ndim == 2 ? c : 1;
    t->numel = (size_t)r * (size_t)t->shape[1];
    t->offset = m->nparams;
    t->decay = decay;
    m->nparams += t->numel;
}

static void make_view(const swat_model *m, swat_real *base, swat_view *v)
{
    /* the table order fixes the offsets: 0 embeddings, 9 tensors a layer */
    v->emb = base + m->tensors[0].offset;
    for (int64_t l = 0; l < m->L; l++) {
        const swat_tensor *t = &m->tensors[1 + 9 * l];
        swat_layer_view *lv = &v->layers[l];
        lv->attn_norm = base + t[0].offset;
        lv->wqkv = base + t[1].offset; /* q, k, v adjacent */
        lv->wo = base + t[4].offset;
        lv->mlp_norm = base + t[5].offset;
        lv->wgu = base + t[6].offset; /* gate, up adjacent */
        lv->wdown = base + t[8].offset;
    }
    v->norm = base + m->tensors[1 + 9 * m->L].offset;
    v->lm_head = m->cfg.tie_word_embeddings ? v->emb : base + m->tensors[2 + 9 * m->L].offset;
}

swat_model *swat_model_create(const swat_model_config *cfg, size_t pad_to)
{
    SWAT_ASSERT(pad_to >= 1);
    swat_model *m = swat_calloc(sizeof *m);
    m->cfg = *cfg;
    m->V = cfg->vocab_size;
    m->d = cfg->hidden_size;
    m->L = cfg->num_hidden_layers;
    m->H = cfg->num_heads;
    m->dh = m->d / m->H;
    m->f = cfg->intermediate_size;
    m->w = cfg->window_size;
    SWAT_ASSERT(m->d % m->H == 0 && m->dh % 2 == 0 && m->f > 0);

    int cap = (int)(3 + 9 * m->L);
    m->tensors = swat_calloc(sizeof(swat_tensor) * (size_t)cap);
    char name[SWAT_TENSOR_NAME_LEN];
    int64_t V = m->V, d = m->d, f = m->f;
    add_tensor(m, cap, "model/embeddings/weight", 2, V, d, 1);
    static const char *const proj[4] = {"q_proj", "k_proj", "v_proj", "o_proj"};
    for (int64_t l = 0; l < m->L; l++) {
        snprintf(name, sizeof name, "model/layers/%lld/attn_norm/weight", (long long)l);
        add_tensor(m, cap, name, 1, d, 1, 0);
        for (int i = 0; i < 4; i++) {
            snprintf(name, sizeof name, "model/layers/%lld/attn/%s/weight", (long long)l, proj[i]);
            add_tensor(m, cap, name, 2, d, d, 1);
        }
        snprintf(name, sizeof name, "model/layers/%lld/mlp_norm/weight", (long long)l);
        add_tensor(m, cap, name, 1, d, 1, 0);
        snprintf(name, sizeof name, "model/layers/%lld/mlp/gate_proj/weight", (long long)l);
        add_tensor(m, cap, name, 2, f, d, 1);
        snprintf(name, sizeof name, "model/layers/%lld/mlp/up_proj/weight", (long long)l);
        add_tensor(m, cap, name, 2, f, d, 1);
        snprintf(name, sizeof name, "model/layers/%lld/mlp/down_proj/weight", (long long)l);
        add_tensor(m, cap, name, 2, d, f, 1);
    }
    add_tensor(m, cap, "model/norm/weight", 1, d, 1, 0);
    if (!cfg->tie_word_embeddings) add_tensor(m, cap, "lm_head/weight", 2, V, d, 1);

    m->nparams_pad = (m->nparams + pad_to - 1) / pad_to * pad_to;
    m->params = swat_calloc(sizeof(swat_real) * m->nparams_pad);
    m->grads = swat_calloc(sizeof(swat_real) * m->nparams_pad);
    m->p.layers = swat_calloc(sizeof(swat_layer_view) * (size_t)m->L);
    m->g.layers = swat_calloc(sizeof(swat_layer_view) * (size_t)m->L);
    make_view(m, m->params, &m->p);
    make_view(m, m->grads, &m->g);

    m->slopes = swat_malloc(sizeof(swat_real) * (size_t)m->H);
    swat_attn_slopes(m->slopes, m->H, cfg->alibi, cfg->alibi_magnitudes);
    m->attn = (swat_attn_desc){.H = m->H,
                               .dh = m->dh,
                               .w = m->w,
                               .kind = cfg->attention,
                               .slopes = m->slopes,
                               .bias = cfg->attention == SWAT_ATTN_SIGMOID ? cfg->sigmoid_bias : 0.0,
                               .block = 0,
                               .op = SWAT_OPERAND_REAL};
    m->rope_p0 = -1;
    m->wop = m->params;
    m->op = SWAT_OPERAND_REAL;
    return m;
}

void swat_model_free(swat_model *m)
{
    if (!m) return;
    swat_free(m->tensors);
    swat_free(m->params);
    swat_free(m->grads);
    swat_free(m->p.layers);
    swat_free(m->g.layers);
    swat_free(m->slopes);
    swat_free(m->acts);
    swat_free(m->arena);
    swat_free(m->carry);
    if (m->wop != m->params) swat_free(m->wop);
    swat_free(m);
}

void swat_model_init_params(swat_model *m, uint64_t seed)
{
    for (int i = 0; i < m->ntensors; i++) {
        const swat_tensor *t = &m->tensors[i];
        swat_real *p = m->params + t->offset;
        if (t->ndim == 1) {
            for (size_t j = 0; j < t->numel; j++) p[j] = 1;
            continue;
        }
        /* one stream per tensor: the values do not depend on the layout */
        swat_rng r;
        swat_rng_seed(&r, seed, (uint64_t)i);
        for (size_t j = 0; j < t->numel; j++)
            p[j] = (swat_real)(m->cfg.initializer_range * swat_rng_normal(&r));
    }
    memset(m->params + m->nparams, 0, sizeof(swat_real) * (m->nparams_pad - m->nparams));
    m->wop_stale = 1;
}

void swat_model_params_changed(swat_model *m)
{
    m->wop_stale = 1;
    m->params_partial = 0;
}

void swat_model_params_partial(swat_model *m, int partial) { m->params_partial = partial != 0; }

void swat_model_embedding_rounded(swat_model *m, int on) { m->emb_operand = on != 0; }

int swat_model_units(const swat_model *m) { return (int)m->L + 2; }

void swat_model_unit_range(const swat_model *m, int unit, size_t *lo, size_t *hi)
{
    SWAT_ASSERT(unit >= 0 && unit < swat_model_units(m));
    /* table order: 0 embeddings, 9 tensors a layer, then norm (and lm_head) */
    int first = unit == 0 ? 0 : 1 + 9 * (unit - 1);
    int last = unit == 0 ? 0 : unit <= m->L ? first + 8 : m->ntensors - 1;
    *lo = m->tensors[first].offset;
    *hi = m->tensors[last].offset + m->tensors[last].numel;
}

void swat_model_set_hooks(swat_model *m, const swat_model_hooks *h)
{
    m->hooks = h ? *h : (swat_model_hooks){0};
}

void swat_model_timers_reset(swat_model *m, int on)
{
    memset(m->time, 0, sizeof m->time);
    m->timing = on;
}

void swat_model_timers(const swat_model *m, double seconds[SWAT_T_COUNT])
{
    memcpy(seconds, m->time, sizeof m->time);
}

swat_model_info swat_model_describe(const swat_model *m)
{
    return (swat_model_info){.cfg = m->cfg, .V = m->V, .d = m->d, .L = m->L, .H = m->H,
                             .dh = m->dh, .f = m->f, .w = m->w, .nparams = m->nparams,
                             .nparams_pad = m->nparams_pad, .arena_bytes = m->arena_bytes};
}

const swat_tensor *swat_model_find(const swat_model *m, const char *name)
{
    for (int i = 0; i < m->ntensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}

double swat_model_flops_per_token(const swat_model *m, int64_t seq_len)
{
    /* matrices in a product: 4d² + 3fd a layer, and the output layer once */
    double n = (double)m->L * (4.0 * m->d * m->d + 3.0 * m->f * m->d) + (double)m->V * m->d;
    double w = m->w > 0 ? (double)m->w : (double)seq_len;
    return 6.0 * n + 12.0 * (double)m->L * (double)m->d * w;
}

/* ---- timers ------------------------------------------------------------------ */

static inline double tick(const swat_model *m) { return m->timing ? swat_now() : 0; }
static inline void tock(swat_model *m, swat_model_timer k, double t0)
{
    if (m->timing) m->time[k] += swat_now() - t0;
}

/* ---- activation arena -------------------------------------------------------- */

/* Carves `bytes` from the arena in whole cache lines (or only counts them
 * when base == NULL). */
static void *carve_bytes(char *base, size_t *used, size_t bytes)
{
    void *p = base ? base + *used : NULL;
    *used += (bytes + 63) / 64 * 64;
    return p;
}

static swat_real *carve(char *base, size_t *used, size_t elems)
{
    return carve_bytes(base, used, sizeof(swat_real) * elems);
}

/* elems elements of the plan's operand type */
static void *carve_op(const swat_model *m, char *base, size_t *used, size_t elems)
{
    return carve_bytes(base, used, swat_operand_size(m->op) * elems);
}

static size_t layout_arena(swat_model *m, char *base)
{
    int64_t mb = m->mb, Tc = m->Tc, nh = m->nhalo, d = m->d, f = m->f, H = m->H;
    size_t n = (size_t)(mb * Tc), used = 0;
    size_t rows_qkv = (size_t)(mb * (nh + Tc));
    int softmax = m->cfg.attention == SWAT_ATTN_SOFTMAX, real = m->op == SWAT_OPERAND_REAL;
    int fwd = m->plan.forward_only;
    /* the backward pass reads o only as a product input: in a bf16 run the
     * layers keep o_op and share one o (the attention's fp32 output) */
    int o_per_layer = real;
    swat_real *o_shared = NULL;
    /* forward only: every layer reuses one set (a layer writes its output
     * over its input x only after x's last use), and nothing for backward.
     * recompute: every layer keeps its own input x, the rest is one set that
     * the backward pass refills layer by layer. */
    int shared = fwd || m->plan.recompute;
    for (int64_t l = 0; l < m->L; l++) {
        swat_layer_acts *a = &m->acts[l];
        if (l > 0 && shared) {
            swat_real *x = fwd ? m->acts[0].x : carve(base, &used, n * d);
            *a = m->acts[0];
            a->x = x;
            continue;
        }
        a->x = carve(base, &used, n * d);
        a->rstd1 = carve(base, &used, n);
        a->a = carve_op(m, base, &used, n * d);
        a->qkv = carve_op(m, base, &used, rows_qkv * 3 * d);
        if (o_per_layer || !o_shared) o_shared = carve(base, &used, n * d);
        a->o = o_shared;
        a->o_op = real ? a->o : carve_op(m, base, &used, n * d);
        a->lse = softmax ? carve(base, &used, (size_t)(mb * H * Tc)) : NULL;
        a->hmid = carve(base, &used, n * d);
        a->rstd2 = carve(base, &used, n);
        a->m = carve_op(m, base, &used, n * d);
        a->gu = carve(base, &used, n * 2 * f);
        a->s = carve_op(m, base, &used, n * f);
    }
    m->xf = fwd ? m->acts[0].x : carve(base, &used, n * d);
    m->rstdf = carve(base, &used, n);
    m->y = carve_op(m, base, &used, n * d);
    m->rope_cos = carve(base, &used, (size_t)(Tc * m->dh / 2));
    m->rope_sin = carve(base, &used, (size_t)(Tc * m->dh / 2));
    m->stage = carve(base, &used, n * 3 * d);
    m->dbuf = carve(base, &used, n * d);
    if (!fwd) {
        m->dres = carve(base, &used, n * d);
        m->dres_op = real ? (void *)m->dres : carve_op(m, base, &used, n * d);
        m->dgu = carve_op(m, base, &used, n * 2 * f);
        m->ds = carve(base, &used, n * f);
        m->dqkv = carve(base, &used, rows_qkv * 3 * d);
        m->dout_op = carve_op(m, base, &used, n * d);
        m->dqkv_op = real ? (void *)m->stage : carve_op(m, base, &used, n * 3 * d);
        m->dlogits = real ? NULL : carve_op(m, base, &used, (size_t)classifier_chunk(m) * (size_t)m->V);
    }
    m->scratch = carve_bytes(base, &used, swat_attn_scratch_bytes(&m->attn, Tc, swat_gemm_threads()));
    m->logits = carve(base, &used, (size_t)classifier_chunk(m) * (size_t)m->V);
    /* k, v in the operand type forward, their gradients in swat_real backward */
    m->halo_send = carve(base, &used, (size_t)(mb * nh * 2 * d) + 1);
    m->halo_recv = carve(base, &used, (size_t)(mb * nh * 2 * d) + 1);
    return used;
}

static int same_plan(const swat_plan *a, const swat_plan *b)
{
    return a->mb == b->mb && a->Tc == b->Tc && a->forward_only == b->forward_only &&
           a->recompute == b->recompute && a->precision == b->precision;
}

void swat_model_plan(swat_model *m, const swat_plan *p)
{
    SWAT_ASSERT(p->mb >= 1 && p->Tc >= 1);
    if (m->arena && same_plan(&m->plan, p)) return;
    swat_free(m->arena);
    swat_free(m->acts);
    m->plan = *p;
    m->mb = p->mb;
    m->Tc = p->Tc;
    m->nhalo = m->w > 0 ? m->w - 1 : 0;
    swat_operand op = swat_gemm_operand(p->precision, NULL, 0, NULL);
    if (op != m->op) {
        SWAT_ASSERT(!m->params_partial); /* a new copy could only come from stale params */
        if (m->wop != m->params) swat_free(m->wop);
        m->op = op;
        m->wop = op == SWAT_OPERAND_REAL ? (void *)m->params
                                         : swat_malloc(swat_operand_size(op) * m->nparams_pad);
        swat_free(m->carry); /* its element type changed: stream_begin makes another */
        m->carry = NULL;
    }
    m->wop_stale = 1;
    m->attn.op = op;
    m->acts = swat_calloc(sizeof(swat_layer_acts) * (size_t)m->L);
    m->arena_bytes = layout_arena(m, NULL);
    m->arena = swat_calloc(m->arena_bytes);
    layout_arena(m, m->arena);
    m->rope_p0 = -1;
}

/* params [lo, hi) into the operand copy. */
static void store_operands(swat_model *m, size_t lo, size_t hi)
{
    if (m->op == SWAT_OPERAND_REAL) return;
    const int64_t blk = 1 << 16, a = (int64_t)lo, b = (int64_t)hi;
#pragma omp parallel for schedule(static)
    for (int64_t i0 = a; i0 < b; i0 += blk)
        swat_operand_store(m->op, swat_operand_at(m->op, m->wop, i0), 0, m->params + i0, 0, 1,
                           b - i0 < blk ? b - i0 : blk);
}

/* The operand copy of the parameters, made again when they changed. */
static void refresh_wop(swat_model *m)
{
    if (!m->wop_stale) return;
    SWAT_ASSERT(!m->params_partial); /* the fp32 parameters are not all current */
    double t0 = tick(m);
    store_operands(m, 0, m->nparams_pad);
    m->wop_stale = 0;
    tock(m, SWAT_T_WEIGHTS, t0);
}

void *swat_model_operands(swat_model *m) { return m->wop; }

void swat_model_operands_refresh(swat_model *m, size_t lo, size_t hi)
{
    SWAT_ASSERT(lo <= hi && hi <= m->nparams_pad);
    double t0 = tick(m);
    store_operands(m, lo, hi);
    tock(m, SWAT_T_WEIGHTS, t0);
}

/* ---- hooks ---------------------------------------------------------------------- */

static void need_params(swat_model *m, int unit)
{
    if (!m->hooks.params_needed) return;
    double t = tick(m), w = m->time[SWAT_T_WEIGHTS];
    m->hooks.params_needed(m->hooks.ctx, unit);
    tock(m, SWAT_T_HOOKS, t);
    m->time[SWAT_T_HOOKS] -= m->time[SWAT_T_WEIGHTS] - w; /* operand copies it made count there */
}

static void grads_done(swat_model *m, int unit)
{
    if (!m->hooks.grads_done) return;
    double t = tick(m);
    m->hooks.grads_done(m->hooks.ctx, unit);
    tock(m, SWAT_T_HOOKS, t);
}

static void progress(swat_model *m)
{
    if (!m->hooks.progress) return;
    double t = tick(m);
    m->hooks.progress(m->hooks.ctx);
    tock(m, SWAT_T_HOOKS, t);
}

/* A parameter tensor (a pointer into m->params) as a product input. */
static const void *W(const swat_model *m, const swat_real *p)
{
    return swat_operand_at(m->op, m->wop, p - m->params);
}

/* ---- q, k, v by head ----------------------------------------------------------- */

/* Index of row r of component c (0 q, 1 k, 2 v), head h, in sequence s of a
 * [mb][3][H][nhalo+Tc][dh] buffer (qkv, dqkv; Tc as planned). */
static int64_t qkv_index(const swat_model *m, int64_t s, int c, int64_t h, int64_t r)
{
    int64_t R = m->nhalo + m->Tc;
    return ((s * 3 + c) * m->H + h) * R * m->dh + r * m->dh;
}

/* Component c of sequence s from row r on, as the attention's view. */
static swat_heads qkv_heads(const swat_model *m, swat_operand t, const void *buf, int64_t s, int c,
                            int64_t r)
{
    return (swat_heads){swat_operand_at(t, buf, qkv_index(m, s, c, 0, r)), m->dh,
                        (m->nhalo + m->Tc) * m->dh};
}

/* stage rows [mb·Tc][3d] (the q|k|v GEMM's output) → rows [nhalo,
 * nhalo+Tc) of qkv, by head, as operands, RoPE applied to q and k on the way
 * (one pass: rotated, rounded and scattered at once). */
static void qkv_scatter(const swat_model *m, void *qkv, const swat_real *stage, int64_t Tc)
{
    int64_t d = m->d, dh = m->dh, H = m->H, half = dh / 2;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t s = 0; s < m->mb; s++)
        for (int64_t ch = 0; ch < 3 * H; ch++) {
            int c = (int)(ch / H);
            int64_t h = ch % H;
            void *dst = swat_operand_at(m->op, qkv, qkv_index(m, s, c, h, m->nhalo));
            const swat_real *src = stage + s * Tc * 3 * d + c * d + h * dh;
            if (c == 2 || !m->cfg.rope) {
                swat_operand_store(m->op, dst, dh, src, 3 * d, Tc, dh);
                continue;
            }
            for (int64_t r = 0; r < Tc; r++)
                swat_rope_head(m->op, swat_operand_at(m->op, dst, r * dh), src + r * 3 * d,
                               m->rope_cos + r * half, m->rope_sin + r * half, dh, 1);
        }
}

/* Rows [nhalo, nhalo+Tc) of dqkv (by head) → dst rows [mb·Tc][3d] in the
 * operand type, the inverse RoPE applied to q and k: ∂L/∂(q|k|v GEMM output)
 * as that GEMM's backward products read it. */
static void qkv_gather(const swat_model *m, void *dst, const swat_real *dqkv)
{
    int64_t d = m->d, dh = m->dh, H = m->H, Tc = m->Tc, half = dh / 2;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t s = 0; s < m->mb; s++)
        for (int64_t ch = 0; ch < 3 * H; ch++) {
            int c = (int)(ch / H);
            int64_t h = ch % H;
            const swat_real *src = dqkv + qkv_index(m, s, c, h, m->nhalo);
            void *out = swat_operand_at(m->op, dst, s * Tc * 3 * d + c * d + h * dh);
            if (c == 2 || !m->cfg.rope) {
                swat_operand_store(m->op, out, 3 * d, src, dh, Tc, dh);
                continue;
            }
            for (int64_t r = 0; r < Tc; r++)
                swat_rope_head(m->op, swat_operand_at(m->op, out, r * 3 * d), src + r * dh,
                               m->rope_cos + r * half, m->rope_sin + r * half, dh, -1);
        }
}

/* ∂L/∂o rows [mb·Tc][d] → the attention's operand, [mb][H][Tc][dh]. */
static void dout_scatter(const swat_model *m, void *dst, const swat_real *dout)
{
    int64_t d = m->d, dh = m->dh, H = m->H, Tc = m->Tc;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t s = 0; s < m->mb; s++)
        for (int64_t h = 0; h < H; h++)
            swat_operand_store(m->op, swat_operand_at(m->op, dst, (s * H + h) * Tc * dh), dh,
                               dout + s * Tc * d + h * dh, d, Tc, dh);
}

/* ---- halo and carry -------------------------------------------------------------- */

/* k and v rows [r0, r0+rows) of every sequence of buf (elements of es bytes)
 * to or from packed [mb][2][H][rows][dh]. */
static void halo_pack(const swat_model *m, size_t es, void *packed, const void *buf, int64_t r0,
                      int64_t rows)
{
    size_t run = es * (size_t)(rows * m->dh);
    for (int64_t s = 0; s < m->mb; s++)
        for (int c = 1; c <= 2; c++)
            for (int64_t h = 0; h < m->H; h++)
                memcpy((char *)packed + (size_t)((s * 2 + c - 1) * m->H + h) * run,
                       (const char *)buf + es * (size_t)qkv_index(m, s, c, h, r0), run);
}

/* The reverse; add = 1 adds (swat_real gradients) instead of copying. */
static void halo_unpack(const swat_model *m, size_t es, void *buf, const void *packed, int64_t r0,
                        int64_t rows, int add)
{
    size_t run = es * (size_t)(rows * m->dh);
    for (int64_t s = 0; s < m->mb; s++)
        for (int c = 1; c <= 2; c++)
            for (int64_t h = 0; h < m->H; h++) {
                char *dst = (char *)buf + es * (size_t)qkv_index(m, s, c, h, r0);
                const char *src = (const char *)packed + (size_t)((s * 2 + c - 1) * m->H + h) * run;
                if (!add) {
                    memcpy(dst, src, run);
                    continue;
                }
                swat_real *dr = (swat_real *)dst;
                const swat_real *sr = (const swat_real *)src;
                for (int64_t i = 0; i < rows * m->dh; i++) dr[i] += sr[i];
            }
}

/* The halo's size in reals, the unit of swat_comm_shift. */
static size_t halo_reals(const swat_model *m, size_t es)
{
    return (es * (size_t)(m->mb * m->nhalo * 2 * m->d) + sizeof(swat_real) - 1) / sizeof(swat_real);
}

/* Streaming: the carry's nv valid rows (its last ones; carry row r stands
 * for qkv row r) become k, v halo rows [nhalo − nv, nhalo) of the one
 * sequence's qkv buffer; then the carry takes the last min(nhalo, nv + Tc)
 * k, v rows of [halo ; chunk]: carry row r ← qkv row r + Tc (same position
 * once the chunk's Tc rows are behind). Only valid rows are read. The carry
 * is [2][H][nhalo][dh] in the operand type. */
static void carry_exchange(const swat_model *m, void *carry, void *qkv, int64_t nv, int64_t Tc)
{
    int64_t nh = m->nhalo, dh = m->dh;
    size_t es = swat_operand_size(m->op);
    int64_t keep = nv + Tc < nh ? nv + Tc : nh;
    for (int c = 1; c <= 2; c++)
        for (int64_t h = 0; h < m->H; h++) {
            char *cb = (char *)carry + es * (size_t)(((c - 1) * m->H + h) * nh * dh);
            char *qb = (char *)qkv + es * (size_t)qkv_index(m, 0, c, h, 0);
            memcpy(qb + es * (size_t)((nh - nv) * dh), cb + es * (size_t)((nh - nv) * dh),
                   es * (size_t)(nv * dh));
            memcpy(cb + es * (size_t)((nh - keep) * dh), qb + es * (size_t)((nh - keep + Tc) * dh),
                   es * (size_t)(keep * dh));
        }
}

/* ---- forward and backward --------------------------------------------------------- */

/* The attention of one layer over query rows [t0, t1) of every sequence of Tc rows. */
static void attn_rows(swat_model *m, const swat_layer_acts *a, int64_t nh_eff, int64_t p0,
                      int64_t Tc, int64_t t0, int64_t t1)
{
    double t = tick(m);
    int64_t d = m->d, kv0 = m->nhalo - nh_eff; /* first key row used */
    for (int64_t s = 0; s < m->mb; s++) {
        swat_heads o = {a->o + s * Tc * d, d, m->dh};
        swat_attn_forward(&m->attn, o, a->lse ? a->lse + s * m->H * Tc : NULL,
                          qkv_heads(m, m->op, a->qkv, s, 0, m->nhalo),
                          qkv_heads(m, m->op, a->qkv, s, 1, kv0),
                          qkv_heads(m, m->op, a->qkv, s, 2, kv0), Tc, nh_eff, p0, t0, t1,
                          m->scratch);
    }
    tock(m, SWAT_T_ATTENTION, t);
    progress(m);
}

static void attn_rows_backward(swat_model *m, const swat_layer_acts *a, int64_t nh_eff, int64_t p0,
                               int64_t t0, int64_t t1)
{
    double t = tick(m);
    int64_t dh = m->dh, Tc = m->Tc, nh = m->nhalo, kv0 = nh - nh_eff;
    swat_operand op = m->op;
    for (int64_t s = 0; s < m->mb; s++) {
        swat_heads dout = {swat_operand_at(op, m->dout_op, s * m->H * Tc * dh), dh, Tc * dh};
        swat_attn_backward(&m->attn, qkv_heads(m, SWAT_OPERAND_REAL, m->dqkv, s, 0, nh),
                           qkv_heads(m, SWAT_OPERAND_REAL, m->dqkv, s, 1, kv0),
                           qkv_heads(m, SWAT_OPERAND_REAL, m->dqkv, s, 2, kv0), dout,
                           qkv_heads(m, op, a->qkv, s, 0, nh), qkv_heads(m, op, a->qkv, s, 1, kv0),
                           qkv_heads(m, op, a->qkv, s, 2, kv0),
                           a->lse ? a->lse + s * m->H * Tc : NULL, Tc, nh_eff, p0, t0, t1,
                           m->scratch);
    }
    tock(m, SWAT_T_ATTENTION, t);
    progress(m);
}

/* A product of the layers, timed as such. */
static void gemm(swat_model *m, int ta, int tb, int64_t M, int64_t N, int64_t K, const void *A,
                 int64_t lda, const void *B, int64_t ldb, swat_real beta, swat_real *C, int64_t ldc)
{
    double t = tick(m);
    swat_gemm_op(m->op, ta, tb, M, N, K, 1, A, lda, B, ldb, beta, C, ldc);
    tock(m, SWAT_T_GEMM, t);
    progress(m);
}

/* One layer over mb sequences of Tc rows (Tc ≤ the planned rows) at global
 * positions p0…. The halo comes from the sequence-group neighbour (comm), or
 * from this layer's streaming carry ([2][H][nhalo][dh], mb = 1), or is empty. */
static void layer_forward(swat_model *m, swat_comm *comm, void *carry, int64_t l, int64_t p0,
                          int64_t Tc, swat_real *out)
{
    swat_layer_acts *a = &m->acts[l];
    const swat_layer_view *w = &m->p.layers[l];
    int64_t d = m->d, f = m->f, nh = m->nhalo, n = m->mb * Tc;
    swat_operand op = m->op;
    size_t es = swat_operand_size(op);
    int sp = comm ? swat_comm_size(comm, SWAT_SCOPE_SP) : 1;
    int has_left = sp > 1 && swat_comm_rank(comm, SWAT_SCOPE_SP) > 0;
    int64_t nh_eff = has_left ? nh : 0;
    if (carry) {
        SWAT_ASSERT(sp == 1 && m->mb == 1);
        nh_eff = p0 < nh ? p0 : nh; /* the sequence's first rows have no past */
    }

    double t = tick(m);
    swat_rmsnorm_forward(op, a->a, a->rstd1, a->x, w->attn_norm, n, d, m->cfg.norm_eps);
    tock(m, SWAT_T_POINTWISE, t);
    gemm(m, 0, 1, n, 3 * d, d, a->a, d, W(m, w->wqkv), d, 0, m->stage, 3 * d);
    t = tick(m);
    qkv_scatter(m, a->qkv, m->stage, Tc);
    if (carry) carry_exchange(m, carry, a->qkv, nh_eff, Tc);
    tock(m, SWAT_T_POINTWISE, t);
    if (sp > 1 && nh > 0) {
        /* last nh rows of k, v to the right neighbour, left neighbour's into rows [0, nh) */
        halo_pack(m, es, m->halo_send, a->qkv, Tc, nh);
        void *send = m->halo_send, *recv = m->halo_recv;
        swat_comm_shift_start(comm, +1, 1, (swat_real *const *)&send, (swat_real *const *)&recv,
                              halo_reals(m, es));
        attn_rows(m, a, nh_eff, p0, Tc, nh_eff, Tc);
        t = tick(m);
        int got = swat_comm_shift_wait(comm);
        tock(m, SWAT_T_HALO, t);
        if (got) halo_unpack(m, es, a->qkv, m->halo_recv, 0, nh, 0);
        attn_rows(m, a, nh_eff, p0, Tc, 0, nh_eff);
    } else {
        attn_rows(m, a, nh_eff, p0, Tc, 0, Tc);
    }

    t = tick(m);
    if (op != SWAT_OPERAND_REAL) swat_operand_store(op, a->o_op, d, a->o, d, n, d);
    memcpy(a->hmid, a->x, sizeof(swat_real) * (size_t)(n * d));
    tock(m, SWAT_T_POINTWISE, t);
    gemm(m, 0, 1, n, d, d, a->o_op, d, W(m, w->wo), d, 1, a->hmid, d);
    t = tick(m);
    swat_rmsnorm_forward(op, a->m, a->rstd2, a->hmid, w->mlp_norm, n, d, m->cfg.norm_eps);
    tock(m, SWAT_T_POINTWISE, t);
    gemm(m, 0, 1, n, 2 * f, d, a->m, d, W(m, w->wgu), d, 0, a->gu, 2 * f);
    t = tick(m);
    swat_swiglu_forward(op, a->s, a->gu, n, f);
    memcpy(out, a->hmid, sizeof(swat_real) * (size_t)(n * d));
    tock(m, SWAT_T_POINTWISE, t);
    gemm(m, 0, 1, n, d, f, a->s, f, W(m, w->wdown), f, 1, out, d);
}

/* dres as a product input (a copy unless the operands are swat_real). */
static const void *dres_operand(swat_model *m, int64_t n)
{
    if (m->op == SWAT_OPERAND_REAL) return m->dres;
    double t = tick(m);
    swat_operand_store(m->op, m->dres_op, m->d, m->dres, m->d, n, m->d);
    tock(m, SWAT_T_POINTWISE, t);
    return m->dres_op;
}

/* On entry m->dres = ∂L/∂(layer output); on exit ∂L/∂(layer input). */
static void layer_backward(swat_model *m, swat_comm *comm, int64_t l, int64_t p0)
{
    swat_layer_acts *a = &m->acts[l];
    const swat_layer_view *w = &m->p.layers[l];
    swat_layer_view *g = &m->g.layers[l];
    int64_t d = m->d, f = m->f, Tc = m->Tc, nh = m->nhalo, n = m->mb * Tc;
    int sp = comm ? swat_comm_size(comm, SWAT_SCOPE_SP) : 1;
    int has_left = sp > 1 && swat_comm_rank(comm, SWAT_SCOPE_SP) > 0;
    int64_t nh_eff = has_left ? nh : 0;
    swat_operand op = m->op;
    swat_real *dres = m->dres, *dbuf = m->dbuf;

    /* MLP: out = hmid + s Wdownᵀ */
    const void *dr = dres_operand(m, n);
    gemm(m, 1, 0, d, f, n, dr, d, a->s, f, 1, g->wdown, f);
    gemm(m, 0, 0, n, f, d, dr, d, W(m, w->wdown), f, 0, m->ds, f);
    double t = tick(m);
    swat_swiglu_backward(op, m->dgu, m->ds, a->gu, n, f);
    tock(m, SWAT_T_POINTWISE, t);
    gemm(m, 1, 0, 2 * f, d, n, m->dgu, 2 * f, a->m, d, 1, g->wgu, d);
    gemm(m, 0, 0, n, d, 2 * f, m->dgu, 2 * f, W(m, w->wgu), d, 0, dbuf, d);
    t = tick(m);
    swat_rmsnorm_backward(dres, g->mlp_norm, dbuf, a->hmid, w->mlp_norm, a->rstd2, n, d);
    tock(m, SWAT_T_POINTWISE, t);

    /* attention output projection: hmid = x + o Woᵀ */
    dr = dres_operand(m, n);
    gemm(m, 1, 0, d, d, n, dr, d, a->o_op, d, 1, g->wo, d);
    gemm(m, 0, 0, n, d, d, dr, d, W(m, w->wo), d, 0, dbuf, d);

    t = tick(m);
    dout_scatter(m, m->dout_op, dbuf);
    memset(m->dqkv, 0, sizeof(swat_real) * (size_t)(m->mb * (nh + Tc) * 3 * d));
    tock(m, SWAT_T_POINTWISE, t);
    if (sp > 1 && nh > 0) {
        /* rows that reach into the halo first, so its gradient can travel
         * left while the rest is computed */
        attn_rows_backward(m, a, nh_eff, p0, 0, nh_eff);
        if (has_left) halo_pack(m, sizeof(swat_real), m->halo_send, m->dqkv, 0, nh);
        void *send = m->halo_send, *recv = m->halo_recv;
        swat_comm_shift_start(comm, -1, 1, (swat_real *const *)&send, (swat_real *const *)&recv,
                              halo_reals(m, sizeof(swat_real)));
        attn_rows_backward(m, a, nh_eff, p0, nh_eff, Tc);
        t = tick(m);
        int got = swat_comm_shift_wait(comm);
        tock(m, SWAT_T_HALO, t);
        if (got) halo_unpack(m, sizeof(swat_real), m->dqkv, m->halo_recv, Tc, nh, 1);
    } else {
        attn_rows_backward(m, a, nh_eff, p0, 0, Tc);
    }

    t = tick(m);
    qkv_gather(m, m->dqkv_op, m->dqkv);
    tock(m, SWAT_T_POINTWISE, t);
    gemm(m, 1, 0, 3 * d, d, n, m->dqkv_op, 3 * d, a->a, d, 1, g->wqkv, d);
    gemm(m, 0, 0, n, d, 3 * d, m->dqkv_op, 3 * d, W(m, w->wqkv), d, 0, dbuf, d);
    t = tick(m);
    swat_rmsnorm_backward(dres, g->attn_norm, dbuf, a->x, w->attn_norm, a->rstd1, n, d);
    tock(m, SWAT_T_POINTWISE, t);
}

double swat_model_step(swat_model *m, swat_comm *comm, const int32_t *tokens,
                       const int32_t *targets, int64_t p0, double loss_scale, int backward,
                       double *row_loss)
{
    SWAT_ASSERT(m->arena && !(backward && m->plan.forward_only));
    int64_t d = m->d, n = m->mb * m->Tc;
    refresh_wop(m);
    double t = tick(m);
    if (m->cfg.rope && m->rope_p0 != p0) {
        swat_rope_table(m->rope_cos, m->rope_sin, p0, m->Tc, m->dh, m->cfg.rope_theta);
        m->rope_p0 = p0;
    }
    tock(m, SWAT_T_POINTWISE, t);
    need_params(m, 0);
    t = tick(m);
    if (m->emb_operand) /* the operand copy's rows (bf16-rounded in a bf16 run) */
        swat_embedding_forward(m->op, m->acts[0].x, W(m, m->p.emb), tokens, n, d);
    else
        swat_embedding_forward(SWAT_OPERAND_REAL, m->acts[0].x, m->p.emb, tokens, n, d);
    tock(m, SWAT_T_POINTWISE, t);
    for (int64_t l = 0; l < m->L; l++) {
        need_params(m, (int)l + 1);
        layer_forward(m, comm, NULL, l, p0, m->Tc, l + 1 < m->L ? m->acts[l + 1].x : m->xf);
    }
    need_params(m, (int)m->L + 1);
    t = tick(m);
    swat_rmsnorm_forward(m->op, m->y, m->rstdf, m->xf, m->p.norm, n, d, m->cfg.norm_eps);
    tock(m, SWAT_T_POINTWISE, t);

    t = tick(m);
    swat_real *dW = m->cfg.tie_word_embeddings ? m->g.emb : m->g.lm_head;
    double loss = swat_classifier(m->op, backward ? m->dbuf : NULL, backward ? dW : NULL, row_loss,
                                  m->y, W(m, m->p.lm_head), targets, n, d, m->V,
                                  (swat_real)loss_scale, m->logits, m->dlogits, classifier_chunk(m));
    tock(m, SWAT_T_OUTPUT, t);
    if (!backward) return loss;

    t = tick(m);
    memset(m->dres, 0, sizeof(swat_real) * (size_t)(n * d));
    swat_rmsnorm_backward(m->dres, m->g.norm, m->dbuf, m->xf, m->p.norm, m->rstdf, n, d);
    tock(m, SWAT_T_POINTWISE, t);
    grads_done(m, (int)m->L + 1);
    for (int64_t l = m->L - 1; l >= 0; l--) {
        /* the shared set holds the last layer's activations already; the
         * output goes to dbuf, free here and only needed as scratch below */
        if (m->plan.recompute && l < m->L - 1) layer_forward(m, comm, NULL, l, p0, m->Tc, m->dbuf);
        layer_backward(m, comm, l, p0);
        grads_done(m, (int)l + 1);
    }
    t = tick(m);
    swat_embedding_backward(m->g.emb, m->dres, tokens, n, d);
    tock(m, SWAT_T_POINTWISE, t);
    grads_done(m, 0);
    return loss;
}

/* ---- streaming ---------------------------------------------------------------- */

static swat_plan stream_plan(int64_t chunk, swat_precision precision)
{
    return (swat_plan){.mb = 1, .Tc = chunk, .forward_only = 1, .precision = precision};
}

void swat_model_stream_begin(swat_model *m, int64_t chunk, swat_precision precision)
{
    SWAT_ASSERT(m->w > 0 && chunk >= 1);
    swat_plan p = stream_plan(chunk, precision);
    swat_model_plan(m, &p);
    swat_free(m->carry);
    m->carry = swat_calloc(swat_operand_size(m->op) * (size_t)(m->L * 2 * m->nhalo * m->d));
    m->stream_chunk = chunk;
    m->stream_pos = 0;
}

double swat_model_stream_step(swat_model *m, const int32_t *tokens, int64_t n, int64_t p0,
                              const int32_t *targets, double *row_loss, swat_real *logits_last)
{
    SWAT_ASSERT(m->carry && n >= 1 && n <= m->stream_chunk);
    /* the carry holds the rows just before stream_pos: only that or a new sequence */
    SWAT_ASSERT(p0 == 0 || p0 == m->stream_pos);
    swat_plan p = stream_plan(m->stream_chunk, m->plan.precision);
    SWAT_ASSERT(same_plan(&m->plan, &p)); /* not replanned since stream_begin */
    /* the attention scratch planned for chunk rows must serve n ≤ chunk */
    SWAT_ASSERT(swat_attn_scratch_bytes(&m->attn, n, swat_gemm_threads()) <=
                swat_attn_scratch_bytes(&m->attn, m->stream_chunk, swat_gemm_threads()));
    int64_t d = m->d, V = m->V;
    size_t per_layer = swat_operand_size(m->op) * (size_t)(m->nhalo * 2 * d);
    refresh_wop(m);
    if (m->cfg.rope) swat_rope_table(m->rope_cos, m->rope_sin, p0, n, m->dh, m->cfg.rope_theta);
    m->rope_p0 = -1; /* the table holds n rows now, not the Tc swat_model_step caches */

    swat_embedding_forward(SWAT_OPERAND_REAL, m->acts[0].x, m->p.emb, tokens, n, d);
    for (int64_t l = 0; l < m->L; l++)
        layer_forward(m, NULL, (char *)m->carry + (size_t)l * per_layer, l, p0, n,
                      l + 1 < m->L ? m->acts[l + 1].x : m->xf);
    swat_rmsnorm_forward(m->op, m->y, m->rstdf, m->xf, m->p.norm, n, d, m->cfg.norm_eps);

    double loss = 0;
    const void *wout = W(m, m->p.lm_head);
    if (targets)
        loss = swat_classifier(m->op, NULL, NULL, row_loss, m->y, wout, targets, n, d, V, 1,
                               m->logits, NULL, classifier_chunk(m));
    if (logits_last)
        swat_gemm_op(m->op, 0, 1, 1, V, d, 1, swat_operand_at(m->op, m->y, (n - 1) * d), d, wout, d,
                     0, logits_last, V);
    m->stream_pos = p0 + n;
    return loss;
}
