/* SPDX-License-Identifier: MIT */
/* model.c: the SWAT decoder of SPEC §1 over one sequence chunk per rank.
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

/* Rows of the output layer processed at once: bounds the [chunk][V] logits. */
#define CLASSIFIER_CHUNK 256

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
    swat_attn_slopes(m->slopes, m->H, cfg->alibi);
    m->attn = (swat_attn_desc){.H = m->H,
                               .dh = m->dh,
                               .w = m->w,
                               .kind = cfg->attention,
                               .slopes = m->slopes,
                               .bias = cfg->attention == SWAT_ATTN_SIGMOID ? cfg->sigmoid_bias : 0.0,
                               .block = 0};
    m->rope_p0 = -1;
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

/* ---- activation arena ---------------------------------------------------- */

/* Carves `elems` reals from the arena (or only counts them when base == NULL). */
static swat_real *carve(char *base, size_t *used, size_t elems)
{
    size_t bytes = (sizeof(swat_real) * elems + 63) / 64 * 64;
    swat_real *p = base ? (swat_real *)(base + *used) : NULL;
    *used += bytes;
    return p;
}

static size_t layout_arena(swat_model *m, char *base)
{
    int64_t mb = m->mb, Tc = m->Tc, nh = m->nhalo, d = m->d, f = m->f, H = m->H;
    size_t n = (size_t)(mb * Tc), used = 0;
    size_t rows_qkv = (size_t)(mb * (nh + Tc));
    int softmax = m->cfg.attention == SWAT_ATTN_SOFTMAX;
    /* forward only: every layer reuses one set (a layer writes its output
     * over its input x only after x's last use), and nothing for backward.
     * recompute: every layer keeps its own input x, the rest is one set that
     * the backward pass refills layer by layer. */
    int shared = m->forward_only || m->recompute;
    for (int64_t l = 0; l < m->L; l++) {
        swat_layer_acts *a = &m->acts[l];
        if (l > 0 && shared) {
            swat_real *x = m->forward_only ? m->acts[0].x : carve(base, &used, n * d);
            *a = m->acts[0];
            a->x = x;
            continue;
        }
        a->x = carve(base, &used, n * d);
        a->rstd1 = carve(base, &used, n);
        a->a = carve(base, &used, n * d);
        a->qkv = carve(base, &used, rows_qkv * 3 * d);
        a->o = carve(base, &used, n * d);
        a->lse = softmax ? carve(base, &used, (size_t)(mb * H * Tc)) : NULL;
        a->hmid = carve(base, &used, n * d);
        a->rstd2 = carve(base, &used, n);
        a->m = carve(base, &used, n * d);
        a->gu = carve(base, &used, n * 2 * f);
        a->s = carve(base, &used, n * f);
    }
    m->xf = m->forward_only ? m->acts[0].x : carve(base, &used, n * d);
    m->rstdf = carve(base, &used, n);
    m->y = carve(base, &used, n * d);
    m->rope_cos = carve(base, &used, (size_t)(Tc * m->dh / 2));
    m->rope_sin = carve(base, &used, (size_t)(Tc * m->dh / 2));
    m->dbuf = carve(base, &used, n * d);
    if (!m->forward_only) {
        m->dres = carve(base, &used, n * d);
        m->dgu = carve(base, &used, n * 2 * f);
        m->ds = carve(base, &used, n * f);
        m->dqkv = carve(base, &used, rows_qkv * 3 * d);
    }
    m->scratch = carve(base, &used, swat_attn_scratch_elems(&m->attn, Tc, swat_gemm_threads()));
    m->logits = carve(base, &used, (size_t)CLASSIFIER_CHUNK * (size_t)m->V);
    m->halo_send = carve(base, &used, (size_t)(mb * nh * 2 * d) + 1);
    m->halo_recv = carve(base, &used, (size_t)(mb * nh * 2 * d) + 1);
    return used;
}

void swat_model_plan(swat_model *m, int64_t mb, int64_t Tc, int forward_only)
{
    SWAT_ASSERT(mb >= 1 && Tc >= 1);
    if (m->arena && m->mb == mb && m->Tc == Tc && m->forward_only == forward_only &&
        m->planned_recompute == m->recompute)
        return;
    swat_free(m->arena);
    swat_free(m->acts);
    m->mb = mb;
    m->Tc = Tc;
    m->forward_only = forward_only;
    m->planned_recompute = m->recompute;
    m->nhalo = m->w > 0 ? m->w - 1 : 0;
    m->acts = swat_calloc(sizeof(swat_layer_acts) * (size_t)m->L);
    m->arena_bytes = layout_arena(m, NULL);
    m->arena = swat_calloc(m->arena_bytes);
    layout_arena(m, m->arena);
    m->rope_p0 = -1;
}

/* ---- forward and backward --------------------------------------------------- */

/* k|v columns [d, 3d) of rows [r0, r0+rows) of every sequence's qkv buffer
 * to or from the packed halo buffer [mb][rows][2d]. */
static void halo_pack(const swat_model *m, swat_real *packed, const swat_real *qkv, int64_t r0,
                      int64_t rows)
{
    int64_t d = m->d, stride = (m->nhalo + m->Tc) * 3 * d;
    for (int64_t s = 0; s < m->mb; s++)
        for (int64_t r = 0; r < rows; r++)
            memcpy(packed + (s * rows + r) * 2 * d, qkv + s * stride + (r0 + r) * 3 * d + d,
                   sizeof(swat_real) * 2 * d);
}

static void halo_unpack(const swat_model *m, swat_real *qkv, const swat_real *packed, int64_t r0,
                        int64_t rows, int add)
{
    int64_t d = m->d, stride = (m->nhalo + m->Tc) * 3 * d;
    for (int64_t s = 0; s < m->mb; s++)
        for (int64_t r = 0; r < rows; r++) {
            swat_real *dst = qkv + s * stride + (r0 + r) * 3 * d + d;
            const swat_real *src = packed + (s * rows + r) * 2 * d;
            if (add)
                for (int64_t i = 0; i < 2 * d; i++) dst[i] += src[i];
            else
                memcpy(dst, src, sizeof(swat_real) * 2 * d);
        }
}

/* Streaming: the carry's nv valid rows (its last ones; carry row r stands
 * for qkv row r) become k|v halo rows [nhalo − nv, nhalo) of the one
 * sequence's qkv buffer; then the carry takes the last min(nhalo, nv + Tc)
 * k|v rows of [halo ; chunk]: carry row r ← qkv row r + Tc (same position
 * once the chunk's Tc rows are behind). Only valid rows are read. */
static void carry_exchange(const swat_model *m, swat_real *carry, swat_real *qkv, int64_t nv,
                           int64_t Tc)
{
    int64_t d = m->d, nh = m->nhalo;
    for (int64_t r = nh - nv; r < nh; r++)
        memcpy(qkv + r * 3 * d + d, carry + r * 2 * d, sizeof(swat_real) * 2 * d);
    int64_t keep = nv + Tc < nh ? nv + Tc : nh;
    for (int64_t r = nh - keep; r < nh; r++)
        memcpy(carry + r * 2 * d, qkv + (r + Tc) * 3 * d + d, sizeof(swat_real) * 2 * d);
}

/* The attention of one layer over query rows [t0, t1) of every sequence of Tc rows. */
static void attn_rows(swat_model *m, const swat_layer_acts *a, int64_t nh_eff, int64_t p0,
                      int64_t Tc, int64_t t0, int64_t t1)
{
    int64_t d = m->d, stride = (m->nhalo + Tc) * 3 * d;
    for (int64_t s = 0; s < m->mb; s++) {
        const swat_real *qkv = a->qkv + s * stride;
        const swat_real *kv0 = qkv + (m->nhalo - nh_eff) * 3 * d; /* first key row used */
        swat_attn_forward(&m->attn, a->o + s * Tc * d, d, a->lse ? a->lse + s * m->H * Tc : NULL,
                          qkv + m->nhalo * 3 * d, 3 * d, kv0 + d, kv0 + 2 * d, 3 * d, Tc, nh_eff,
                          p0, t0, t1, m->scratch);
    }
}

static void attn_rows_backward(swat_model *m, const swat_layer_acts *a, int64_t nh_eff, int64_t p0,
                               int64_t t0, int64_t t1)
{
    int64_t d = m->d, Tc = m->Tc, stride = (m->nhalo + Tc) * 3 * d;
    int64_t off = (m->nhalo - nh_eff) * 3 * d;
    for (int64_t s = 0; s < m->mb; s++) {
        const swat_real *qkv = a->qkv + s * stride;
        swat_real *dqkv = m->dqkv + s * stride;
        swat_attn_backward(&m->attn, dqkv + m->nhalo * 3 * d, 3 * d, dqkv + off + d,
                           dqkv + off + 2 * d, 3 * d, m->dbuf + s * Tc * d, d,
                           qkv + m->nhalo * 3 * d, 3 * d, qkv + off + d, qkv + off + 2 * d, 3 * d,
                           a->o + s * Tc * d, d, a->lse ? a->lse + s * m->H * Tc : NULL, Tc,
                           nh_eff, p0, t0, t1, m->scratch);
    }
}

/* One layer over mb sequences of Tc rows (Tc ≤ the planned rows) at global
 * positions p0…. The halo comes from the sequence-group neighbour (comm), or
 * from this layer's streaming carry ([nhalo][2d], mb = 1), or is empty. */
static void layer_forward(swat_model *m, swat_comm *comm, swat_real *carry, int64_t l, int64_t p0,
                          int64_t Tc, swat_real *out)
{
    swat_layer_acts *a = &m->acts[l];
    const swat_layer_view *w = &m->p.layers[l];
    int64_t d = m->d, f = m->f, nh = m->nhalo, n = m->mb * Tc;
    int64_t stride = (nh + Tc) * 3 * d;
    int sp = comm ? swat_comm_size(comm, SWAT_SCOPE_SP) : 1;
    int has_left = sp > 1 && swat_comm_rank(comm, SWAT_SCOPE_SP) > 0;
    int64_t nh_eff = has_left ? nh : 0;
    if (carry) {
        SWAT_ASSERT(sp == 1 && m->mb == 1);
        nh_eff = p0 < nh ? p0 : nh; /* the sequence's first rows have no past */
    }

    swat_rmsnorm_forward(a->a, a->rstd1, a->x, w->attn_norm, n, d, m->cfg.norm_eps);
    for (int64_t s = 0; s < m->mb; s++) {
        swat_real *rows = a->qkv + s * stride + nh * 3 * d;
        swat_gemm(0, 1, Tc, 3 * d, d, 1, a->a + s * Tc * d, d, w->wqkv, d, 0, rows, 3 * d);
        /* q and k side by side are 2H heads of dh */
        if (m->cfg.rope) swat_rope_forward(rows, 3 * d, m->rope_cos, m->rope_sin, Tc, 2 * m->H, m->dh);
    }
    if (carry) carry_exchange(m, carry, a->qkv, nh_eff, Tc);
    if (sp > 1 && nh > 0) {
        /* last nh rows of k|v to the right neighbour, left neighbour's into rows [0, nh) */
        halo_pack(m, m->halo_send, a->qkv, Tc, nh);
        swat_real *send = m->halo_send, *recv = m->halo_recv;
        swat_comm_shift_start(comm, +1, 1, &send, &recv, (size_t)(m->mb * nh * 2 * d));
        attn_rows(m, a, nh_eff, p0, Tc, nh_eff, Tc);
        if (swat_comm_shift_wait(comm)) halo_unpack(m, a->qkv, m->halo_recv, 0, nh, 0);
        attn_rows(m, a, nh_eff, p0, Tc, 0, nh_eff);
    } else {
        attn_rows(m, a, nh_eff, p0, Tc, 0, Tc);
    }

    memcpy(a->hmid, a->x, sizeof(swat_real) * (size_t)(n * d));
    swat_gemm(0, 1, n, d, d, 1, a->o, d, w->wo, d, 1, a->hmid, d);
    swat_rmsnorm_forward(a->m, a->rstd2, a->hmid, w->mlp_norm, n, d, m->cfg.norm_eps);
    swat_gemm(0, 1, n, 2 * f, d, 1, a->m, d, w->wgu, d, 0, a->gu, 2 * f);
    swat_swiglu_forward(a->s, a->gu, n, f);
    memcpy(out, a->hmid, sizeof(swat_real) * (size_t)(n * d));
    swat_gemm(0, 1, n, d, f, 1, a->s, f, w->wdown, f, 1, out, d);
}

/* On entry m->dres = ∂L/∂(layer output); on exit ∂L/∂(layer input). */
static void layer_backward(swat_model *m, swat_comm *comm, int64_t l, int64_t p0)
{
    swat_layer_acts *a = &m->acts[l];
    const swat_layer_view *w = &m->p.layers[l];
    swat_layer_view *g = &m->g.layers[l];
    int64_t d = m->d, f = m->f, Tc = m->Tc, nh = m->nhalo, n = m->mb * Tc;
    int64_t stride = (nh + Tc) * 3 * d;
    int sp = comm ? swat_comm_size(comm, SWAT_SCOPE_SP) : 1;
    int has_left = sp > 1 && swat_comm_rank(comm, SWAT_SCOPE_SP) > 0;
    int64_t nh_eff = has_left ? nh : 0;
    swat_real *dres = m->dres, *dbuf = m->dbuf;

    /* MLP: out = hmid + s Wdownᵀ */
    swat_gemm(1, 0, d, f, n, 1, dres, d, a->s, f, 1, g->wdown, f);
    swat_gemm(0, 0, n, f, d, 1, dres, d, w->wdown, f, 0, m->ds, f);
    swat_swiglu_backward(m->dgu, m->ds, a->gu, n, f);
    swat_gemm(1, 0, 2 * f, d, n, 1, m->dgu, 2 * f, a->m, d, 1, g->wgu, d);
    swat_gemm(0, 0, n, d, 2 * f, 1, m->dgu, 2 * f, w->wgu, d, 0, dbuf, d);
    swat_rmsnorm_backward(dres, g->mlp_norm, dbuf, a->hmid, w->mlp_norm, a->rstd2, n, d);

    /* attention output projection: hmid = x + o Woᵀ */
    swat_gemm(1, 0, d, d, n, 1, dres, d, a->o, d, 1, g->wo, d);
    swat_gemm(0, 0, n, d, d, 1, dres, d, w->wo, d, 0, dbuf, d);

    memset(m->dqkv, 0, sizeof(swat_real) * (size_t)(m->mb * stride));
    if (sp > 1 && nh > 0) {
        /* rows that reach into the halo first, so its gradient can travel
         * left while the rest is computed */
        attn_rows_backward(m, a, nh_eff, p0, 0, nh_eff);
        if (has_left) halo_pack(m, m->halo_send, m->dqkv, 0, nh);
        swat_real *send = m->halo_send, *recv = m->halo_recv;
        swat_comm_shift_start(comm, -1, 1, &send, &recv, (size_t)(m->mb * nh * 2 * d));
        attn_rows_backward(m, a, nh_eff, p0, nh_eff, Tc);
        if (swat_comm_shift_wait(comm)) halo_unpack(m, m->dqkv, m->halo_recv, Tc, nh, 1);
    } else {
        attn_rows_backward(m, a, nh_eff, p0, 0, Tc);
    }

    for (int64_t s = 0; s < m->mb; s++) {
        swat_real *drows = m->dqkv + s * stride + nh * 3 * d;
        if (m->cfg.rope)
            swat_rope_backward(drows, 3 * d, m->rope_cos, m->rope_sin, Tc, 2 * m->H, m->dh);
        swat_gemm(1, 0, 3 * d, d, Tc, 1, drows, 3 * d, a->a + s * Tc * d, d, 1, g->wqkv, d);
        swat_gemm(0, 0, Tc, d, 3 * d, 1, drows, 3 * d, w->wqkv, d, 0, dbuf + s * Tc * d, d);
    }
    swat_rmsnorm_backward(dres, g->attn_norm, dbuf, a->x, w->attn_norm, a->rstd1, n, d);
}

double swat_model_step(swat_model *m, swat_comm *comm, const int32_t *tokens,
                       const int32_t *targets, int64_t p0, double loss_scale, int backward,
                       double *row_loss)
{
    SWAT_ASSERT(m->arena && !(backward && m->forward_only));
    int64_t d = m->d, n = m->mb * m->Tc;
    if (m->cfg.rope && m->rope_p0 != p0) {
        swat_rope_table(m->rope_cos, m->rope_sin, p0, m->Tc, m->dh, m->cfg.rope_theta);
        m->rope_p0 = p0;
    }

    swat_embedding_forward(m->acts[0].x, m->p.emb, tokens, n, d);
    for (int64_t l = 0; l < m->L; l++)
        layer_forward(m, comm, NULL, l, p0, m->Tc, l + 1 < m->L ? m->acts[l + 1].x : m->xf);
    swat_rmsnorm_forward(m->y, m->rstdf, m->xf, m->p.norm, n, d, m->cfg.norm_eps);

    swat_real *dW = m->cfg.tie_word_embeddings ? m->g.emb : m->g.lm_head;
    double loss = swat_classifier(backward ? m->dbuf : NULL, backward ? dW : NULL, row_loss, m->y,
                                  m->p.lm_head, targets, n, d, m->V, (swat_real)loss_scale,
                                  m->logits, CLASSIFIER_CHUNK);
    if (!backward) return loss;

    memset(m->dres, 0, sizeof(swat_real) * (size_t)(n * d));
    swat_rmsnorm_backward(m->dres, m->g.norm, m->dbuf, m->xf, m->p.norm, m->rstdf, n, d);
    for (int64_t l = m->L - 1; l >= 0; l--) {
        /* the shared set holds the last layer's activations already; the
         * output goes to dbuf, free here and only needed as scratch below */
        if (m->recompute && l < m->L - 1) layer_forward(m, comm, NULL, l, p0, m->Tc, m->dbuf);
        layer_backward(m, comm, l, p0);
    }
    swat_embedding_backward(m->g.emb, m->dres, tokens, n, d);
    return loss;
}

/* ---- streaming ---------------------------------------------------------------- */

void swat_model_stream_begin(swat_model *m, int64_t chunk)
{
    SWAT_ASSERT(m->w > 0 && chunk >= 1);
    swat_model_plan(m, 1, chunk, 1);
    swat_free(m->carry);
    m->carry = swat_calloc(sizeof(swat_real) * (size_t)(m->L * m->nhalo * 2 * m->d));
    m->stream_chunk = chunk;
    m->stream_pos = 0;
}

double swat_model_stream_step(swat_model *m, const int32_t *tokens, int64_t n, int64_t p0,
                              const int32_t *targets, double *row_loss, swat_real *logits_last)
{
    SWAT_ASSERT(m->carry && n >= 1 && n <= m->stream_chunk);
    /* the carry holds the rows just before stream_pos: only that or a new sequence */
    SWAT_ASSERT(p0 == 0 || p0 == m->stream_pos);
    swat_model_plan(m, 1, m->stream_chunk, 1); /* no-op unless replanned since stream_begin */
    /* the attention scratch planned for chunk rows must serve n ≤ chunk */
    SWAT_ASSERT(swat_attn_scratch_elems(&m->attn, n, swat_gemm_threads()) <=
                swat_attn_scratch_elems(&m->attn, m->stream_chunk, swat_gemm_threads()));
    int64_t d = m->d, V = m->V, per_layer = m->nhalo * 2 * d;
    if (m->cfg.rope) swat_rope_table(m->rope_cos, m->rope_sin, p0, n, m->dh, m->cfg.rope_theta);
    m->rope_p0 = -1; /* the table holds n rows now, not the Tc swat_model_step caches */

    swat_embedding_forward(m->acts[0].x, m->p.emb, tokens, n, d);
    for (int64_t l = 0; l < m->L; l++)
        layer_forward(m, NULL, m->carry + l * per_layer, l, p0, n,
                      l + 1 < m->L ? m->acts[l + 1].x : m->xf);
    swat_rmsnorm_forward(m->y, m->rstdf, m->xf, m->p.norm, n, d, m->cfg.norm_eps);

    double loss = 0;
    if (targets)
        loss = swat_classifier(NULL, NULL, row_loss, m->y, m->p.lm_head, targets, n, d, V, 1,
                               m->logits, CLASSIFIER_CHUNK);
    if (logits_last)
        swat_gemm(0, 1, 1, V, d, 1, m->y + (n - 1) * d, d, m->p.lm_head, d, 0, logits_last, V);
    m->stream_pos = p0 + n;
    return loss;
}
