/* SPDX-License-Identifier: MIT */
/* config.c: the configuration keys (docs/config.md) and everything they drive.
 *
 * Shaped like Redis config.c: ONE static table, `keys`, lists every key once
 * (section, name, type, field offset, default, bounds, enum names, required
 * flag, help). Defaults, INI parsing, --set overrides, validation, the printout
 * of the resolved config and the model comparison of a resume all walk that
 * table, so a key is added in one row and the six cannot drift apart. The row
 * macros stringify the struct member, so a key name IS its field name.
 *
 * Parsing is libinih's. Debian builds it with upstream's compile-time options
 * turned into globals (see /usr/include/ini.h), and its defaults do not suit a
 * strict config: a value line is cut at 200 characters and the rest parsed as
 * a new line (paths are longer), an indented line continues the previous value
 * (turning a typo into a silent duplicate), and parsing goes on after the
 * first error while the handler gets no line number. inih_setup() fixes the
 * three before every parse; stopping at the first error makes inih's return
 * value the line of the one message the handler recorded.
 *
 * Every message is one line: "FILE:LINE: [section] key = value: why",
 * "--set section.key=value: why" or "config: why", and says what would work. */
#include "swat/config.h"

#include "swat/comm.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <ini.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the key table ------------------------------------------------------------ */

typedef enum { KEY_INT, KEY_REAL, KEY_BOOL, KEY_ENUM, KEY_STRING } key_type;

/* Bounds: a key is refused below min (at min too with MIN_OPEN) and above max
 * (at max too with MAX_OPEN); ints and reals share them as doubles, which is
 * exact because every bound is a small integer or a simple real. */
enum { HAS_MIN = 1, MIN_OPEN = 2, HAS_MAX = 4, MAX_OPEN = 8 };

/* Required keys start out UNSET (ints) or empty (strings); finalize names them. */
enum { OPTIONAL = 0, REQUIRED = 1, REQUIRED_TRAIN = 2 };
#define UNSET INT64_C(-1) /* below every required int key's minimum */

typedef struct key_def {
    const char *section, *name;
    key_type type;
    size_t offset, size; /* of the field inside swat_config */
    double def;          /* INT, REAL, BOOL, ENUM; strings default to "" */
    int need;
    const char *const *names; /* ENUM: value i is names[i], NULL-terminated */
    const char *help;
    /* strings: a check of the value's own syntax (NULL: none); fills why */
    int (*check)(const char *value, char *why, size_t n);
    double min, max; /* last, so that the bound shorthands below can fill them */
    unsigned bounds;
} key_def;

/* Bound shorthands, expanding to "min, max, flags". */
#define ANY 0, 0, 0
#define GE(lo) lo, 0, HAS_MIN
#define GT(lo) lo, 0, HAS_MIN | MIN_OPEN
#define IN(lo, hi) lo, hi, HAS_MIN | HAS_MAX         /* [lo, hi] */
#define IN_CO(lo, hi) lo, hi, HAS_MIN | HAS_MAX | MAX_OPEN /* [lo, hi) */

/* Sizes, counts and lengths index arrays with int in the kernels and MPI. */
#define DIM_MAX 2147483647.0

/* The bounds come last and variadic: a shorthand expands to three arguments. */
#define ROW(type, sec, f, def, need, names, help, check, ...)                         \
    {#sec, #f, type, offsetof(swat_config, sec.f), sizeof(((swat_config *)0)->sec.f), \
     def, need, names, help, check, __VA_ARGS__}
#define K_INT(sec, f, def, bnd, need, help) ROW(KEY_INT, sec, f, def, need, NULL, help, NULL, bnd)
#define K_REAL(sec, f, def, bnd, help) ROW(KEY_REAL, sec, f, def, OPTIONAL, NULL, help, NULL, bnd)
#define K_BOOL(sec, f, def, help) ROW(KEY_BOOL, sec, f, def, OPTIONAL, NULL, help, NULL, ANY)
#define K_ENUM(sec, f, names, help) ROW(KEY_ENUM, sec, f, 0, OPTIONAL, names, help, NULL, ANY)
#define K_STR(sec, f, need, help) ROW(KEY_STRING, sec, f, 0, need, NULL, help, NULL, ANY)
#define K_STR_CHECKED(sec, f, check, help) ROW(KEY_STRING, sec, f, 0, OPTIONAL, NULL, help, check, ANY)

/* Enum value i is names[i]; the orders match the enums of config.h, and the
 * default of every enum key is its value 0. */
static const char *const attention_names[] = {"sigmoid", "softmax", NULL};
static const char *const alibi_names[] = {"balanced", "negative", "positive", "none", NULL};
static const char *const magnitude_names[] = {"auto", "halving", "alibi", NULL};
static const char *const schedule_names[] = {"cosine", "constant", NULL};
static const char *const format_names[] = {"bytes", "llmc", NULL};
static const char *const nonfinite_names[] = {"stop", "skip", NULL};
static const char *const precision_names[] = {"fp32", "bf16", NULL};
static const char *const progress_names[] = {"poll", "thread", NULL};
static const char *const wire_names[] = {"fp32", "bf16", NULL};

/* [checkpoint] mpiio_hints: "name=value,…" pairs handed to MPI-IO when a
 * checkpoint is written (ckpt.c). MPI implementations ignore hints they do
 * not know, so a misspelt one would do nothing without a word: only these
 * names (ROMIO's, which Open MPI's OMPIO shares for striping) are accepted,
 * each with the form of its value. */
enum { HINT_COUNT, HINT_BYTES, HINT_SWITCH, HINT_BOOL };
static const struct {
    const char *name;
    int form;
} mpiio_hints[] = {
    {"striping_factor", HINT_COUNT}, /* Lustre/GPFS: OSTs (stripes) of a new file */
    {"striping_unit", HINT_BYTES},   /* bytes per stripe */
    {"cb_nodes", HINT_COUNT},        /* aggregators of a collective write */
    {"cb_buffer_size", HINT_BYTES},  /* each aggregator's buffer */
    {"romio_cb_write", HINT_SWITCH}, /* collective buffering of writes */
    {"romio_cb_read", HINT_SWITCH},
    {"romio_ds_write", HINT_SWITCH}, /* data sieving */
    {"romio_ds_read", HINT_SWITCH},
    {"romio_no_indep_rw", HINT_BOOL},
    {"ind_wr_buffer_size", HINT_BYTES},
    {"ind_rd_buffer_size", HINT_BYTES},
};
#define NHINTS (sizeof mpiio_hints / sizeof mpiio_hints[0])

static void trim_copy(char *dst, size_t n, const char *src, size_t len);

static int check_mpiio_hints(const char *value, char *why, size_t n)
{
    char seen[NHINTS] = {0};
    const char *p = value;
    while (*p) {
        const char *end = strchr(p, ','), *eq;
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char item[160], name[64], val[96];
        if (len == 0 || len >= sizeof item)
            return snprintf(why, n, "expected name=value[,name=value…], got an %s item",
                            len ? "over-long" : "empty"), -1;
        memcpy(item, p, len);
        item[len] = '\0';
        eq = strchr(item, '=');
        if (!eq) return snprintf(why, n, "'%s' is not name=value", item), -1;
        trim_copy(name, sizeof name, item, (size_t)(eq - item));
        trim_copy(val, sizeof val, eq + 1, strlen(eq + 1));
        size_t h = 0;
        while (h < NHINTS && strcmp(mpiio_hints[h].name, name) != 0) h++;
        if (h == NHINTS) {
            size_t used = (size_t)snprintf(why, n, "unknown MPI-IO hint '%s'; known:", name);
            for (size_t i = 0; i < NHINTS && used < n; i++)
                used += (size_t)snprintf(why + used, n - used, " %s", mpiio_hints[i].name);
            return -1;
        }
        if (seen[h]++) return snprintf(why, n, "hint %s given twice", name), -1;
        int form = mpiio_hints[h].form, ok;
        if (form == HINT_COUNT || form == HINT_BYTES) {
            char *e;
            errno = 0;
            long long v = strtoll(val, &e, 10);
            ok = val[0] && *e == '\0' && errno == 0 && v >= 1 && v <= INT32_MAX && isdigit((unsigned char)val[0]);
            if (!ok)
                return snprintf(why, n, "%s=%s: expected %s from 1 to 2147483647", name, val,
                                form == HINT_COUNT ? "a count" : "a size in bytes"), -1;
        } else if (form == HINT_SWITCH) {
            ok = !strcmp(val, "enable") || !strcmp(val, "disable") || !strcmp(val, "automatic");
            if (!ok) return snprintf(why, n, "%s=%s: expected enable, disable or automatic", name, val), -1;
        } else {
            ok = !strcmp(val, "true") || !strcmp(val, "false");
            if (!ok) return snprintf(why, n, "%s=%s: expected true or false", name, val), -1;
        }
        p = end ? end + 1 : p + len;
    }
    return 0;
}

static const key_def keys[] = {
    K_INT(model, vocab_size, 256, IN(2, DIM_MAX), OPTIONAL,
          "V: token ids are 0 ... V-1; 256 for byte-level text (format = bytes needs V >= 256), "
          "32000 for the Llama-2 tokenizer"),
    K_INT(model, hidden_size, UNSET, IN(1, DIM_MAX), REQUIRED,
          "d, the width of the model: the size of every token's vector in the embedding, the "
          "attention and the residual stream"),
    K_INT(model, num_hidden_layers, UNSET, IN(1, DIM_MAX), REQUIRED,
          "L, decoder layers (attention then SwiGLU MLP, each after an RMSNorm)"),
    K_INT(model, num_heads, UNSET, IN(1, DIM_MAX), REQUIRED,
          "H, attention heads; head_dim = hidden_size / H must be a whole even number (RoPE "
          "rotates pairs), and H even under alibi = balanced"),
    K_INT(model, intermediate_size, 0, IN(0, DIM_MAX), OPTIONAL,
          "f, the inner width of the SwiGLU MLP; 0 = the Llama rule 256*ceil(floor(8d/3)/256) "
          "(--print-config shows the value used)"),
    K_INT(model, window_size, UNSET, IN(0, DIM_MAX), REQUIRED,
          "w, the keys a query sees: itself and the w-1 tokens before it; 0 = full causal "
          "attention (one rank per sequence). seq_len / sp must be a multiple of w"),
    K_REAL(model, rope_theta, 10000, GT(0),
           "RoPE base theta: pair i of a head turns by position * theta^(-2i/head_dim)"),
    K_BOOL(model, rope, 1, "rotary position embedding on queries and keys"),
    K_REAL(model, norm_eps, 1e-6, GT(0), "epsilon added to the mean square inside RMSNorm"),
    K_BOOL(model, tie_word_embeddings, 1,
           "the output layer reuses the embedding matrix (false: a separate lm_head)"),
    K_ENUM(model, attention, attention_names,
           "sigmoid: SWAT's sigmoid of each score in the window (no normalisation); softmax: "
           "the softmax baseline"),
    K_ENUM(model, alibi, alibi_names,
           "ALiBi slopes, added to a score times the query-key distance: balanced = half the "
           "heads -1/2, -1/4, ... (favour recent tokens), half +1/2, +1/4, ... (favour older "
           "ones), as SWAT; negative = classic ALiBi, -2^(-8(n+1)/H) for head n; positive = its "
           "mirror; none (the sizes quoted are the defaults: see alibi_magnitudes)"),
    K_ENUM(model, alibi_magnitudes, magnitude_names,
           "sizes of the ALiBi slopes, the signs staying alibi's: the i-th head of each sign "
           "group gets 2^-(i+1) (halving: 1/2, 1/4, ..., the paper's text) or 2^(-8(i+1)/H) "
           "(alibi: classic ALiBi, the authors' released code); auto = halving for balanced, "
           "alibi otherwise (--print-config shows the value used)"),
    K_REAL(model, sigmoid_bias, 0, ANY,
           "b added to every score before the sigmoid (attention = sigmoid only); the sigmoid-"
           "bias variant uses -ln(w)"),
    K_REAL(model, initializer_range, 0.02, GT(0),
           "standard deviation of the normal initialisation of every matrix (RMSNorm weights "
           "start at 1)"),

    K_REAL(train, lr, 3e-4, GT(0), "peak learning rate of AdamW, reached after the warm-up"),
    K_REAL(train, beta1, 0.9, IN_CO(0, 1), "AdamW beta1, decay of the gradient's running mean"),
    K_REAL(train, beta2, 0.95, IN_CO(0, 1),
           "AdamW beta2, decay of the squared gradient's running mean"),
    K_REAL(train, eps, 1e-8, GT(0), "AdamW epsilon, added to the root of the second moment"),
    K_REAL(train, weight_decay, 0.01, GE(0),
           "AdamW decoupled weight decay, applied to the matrices only (not to RMSNorm weights)"),
    K_REAL(train, grad_clip, 1.0, GE(0),
           "the global gradient norm (over all ranks) is clipped to this before AdamW; 0 = "
           "no clipping"),
    K_INT(train, warmup_steps, 0, GE(0), OPTIONAL,
          "updates of linear warm-up: update k uses lr * k / warmup_steps; at most steps"),
    K_ENUM(train, lr_schedule, schedule_names,
           "after the warm-up: cosine decay from lr to lr * min_lr_ratio at update `steps`, or "
           "a constant lr"),
    K_REAL(train, min_lr_ratio, 0.1, IN(0, 1),
           "the cosine's floor as a fraction of lr (kept past `steps`)"),
    K_INT(train, steps, UNSET, GE(1), REQUIRED_TRAIN,
          "total updates of the run; a resumed run trains on up to it"),
    K_INT(train, seed, 1234, GE(0), OPTIONAL,
          "seed of the initial weights (one random stream per tensor) and of the sample shuffle"),
    K_INT(train, micro_batch, 0, IN(0, DIM_MAX), OPTIONAL,
          "sequences per forward/backward pass in each data-parallel group; gradients are "
          "accumulated over the passes; 0 = batch_size/dp, one pass"),
    K_INT(train, eval_every, 0, GE(0), OPTIONAL,
          "updates between validation passes over [data] val; 0 = after the last update only"),
    K_STR(train, init_from, OPTIONAL,
          "a checkpoint whose weights start a new run (model keys must match; optimizer and "
          "step start fresh); unused when the run directory holds a checkpoint to resume"),
    K_REAL(train, peak_gflops, 0, GE(0),
           "peak GFLOP/s of one rank, the denominator of MFU; 0 = measure at start-up the "
           "products of the run's precision (BLIS sgemm in fp32, oneDNN bf16 matmul in bf16)"),
    K_INT(train, log_every, 1, GE(1), OPTIONAL,
          "updates between console progress lines (metrics.jsonl records every update)"),
    K_BOOL(train, recompute, 0,
           "keep only each layer's input and recompute the layer in the backward pass: less "
           "activation memory for about one more forward pass; gradients bit-identical"),
    K_ENUM(train, on_nonfinite, nonfinite_names,
           "after a non-finite loss or gradient: stop (exit 4, nothing saved) or skip the "
           "update (its samples are consumed)"),
    K_INT(train, max_skips, 10, GE(0), OPTIONAL,
          "under on_nonfinite = skip, the run stops (exit 4) at the (max_skips+1)-th "
          "non-finite update in a row; 0 = never"),
    K_ENUM(train, precision, precision_names,
           "inputs of every matrix product: fp32, or bf16 (rounded to bfloat16, fp32 accumulation "
           "and everything else fp32; oneDNN on AMX / AVX512-BF16, emulated elsewhere)"),

    K_STR(data, train, REQUIRED_TRAIN,
          "training tokens: a file or a glob (matches sorted by path and concatenated), "
          "relative to the working directory"),
    K_STR(data, val, OPTIONAL,
          "validation tokens, a file or a glob, scored every eval_every updates and after the "
          "last; empty = no validation"),
    K_ENUM(data, format, format_names,
           "bytes: every byte is a token; llmc: llm.c token shards (a header of 256 int32, then "
           "uint16 or uint32 tokens)"),
    K_INT(data, seq_len, UNSET, IN(1, DIM_MAX), REQUIRED_TRAIN,
          "T, tokens per training sample (a sample reads T+1 tokens: inputs and next-token "
          "targets); seq_len / sp a multiple of window_size"),
    K_INT(data, batch_size, UNSET, IN(1, DIM_MAX), REQUIRED_TRAIN,
          "B, sequences per update over all ranks; a multiple of dp = ranks / sp"),
    K_BOOL(data, shuffle, 1,
           "visit the samples in a new random order every epoch (from seed); false = in order"),
    K_INT(data, val_samples, 0, GE(0), OPTIONAL, "validation samples per evaluation; 0 = all"),
    K_STR(data, tokenizer, OPTIONAL,
          "the SentencePiece .model the llmc shards were made with (swat-tokenize train); its "
          "bytes go into every checkpoint so swat-eval --format text and swat-generate read and "
          "write text; needs format = llmc and vocab_size >= its pieces"),

    K_INT(parallel, sp, 1, IN(1, DIM_MAX), OPTIONAL,
          "ranks per sequence (sequence parallelism): each holds seq_len/sp tokens of every "
          "sequence; the other factor of the ranks, dp = ranks/sp, is data parallelism"),
    K_INT(parallel, threads, 0, IN(0, 1024), OPTIONAL,
          "BLIS threads per rank, kept as set; 0 = SLURM_CPUS_PER_TASK, else OMP_NUM_THREADS, "
          "else the node's CPUs shared among its ranks, lowered to fit the node's CPUs"),
    K_REAL(parallel, bucket_mb, 25, IN(0, 1048576),
           "MiB of fp32 gradient per bucket of the ZeRO-1 collectives (gradient reduce-scatter, "
           "parameter all-gather), cut at layer boundaries where it can; each bucket is split "
           "evenly over the ranks; 0 = one unbucketed reduce-scatter and all-gather (MPI's own) "
           "after the backward pass"),
    K_BOOL(parallel, overlap, 1,
           "start a bucket's reduce-scatter as soon as the last micro-batch's backward pass has "
           "finished its layers, and wait for a layer's all-gathered parameters only when the next "
           "forward pass needs them; false = the same transfers after the backward pass and "
           "before the forward (same results, bit for bit)"),
    K_ENUM(parallel, progress, progress_names,
           "how the bucket transfers advance while the rank computes: poll (the rank tests them "
           "between its matrix products) or thread (a progress thread; needs MPI_THREAD_MULTIPLE)"),
    K_ENUM(parallel, param_wire, wire_names,
           "the all-gathered matrices on the wire: fp32, or bf16 (half the bytes; needs precision = "
           "bf16, whose products round them anyway; the RMSNorm weights stay fp32, and the embedding "
           "unless embed_wire = bf16)"),
    K_ENUM(parallel, grad_wire, wire_names,
           "the reduce-scattered gradients on the wire: fp32, or bf16 (partial sums rounded to "
           "bfloat16 on every hop, summed in fp32)"),
    K_ENUM(parallel, embed_wire, wire_names,
           "the embedding on the all-gather's wire: fp32, or bf16 (needs param_wire = bf16; the "
           "embedding lookup then reads bf16-rounded rows on every rank and world size, as a model "
           "cast to bf16 does, e.g. PyTorch FSDP with param_dtype = bf16; with grad_wire = bf16 "
           "too the collectives send half the fp32 bytes)"),

    K_STR(checkpoint, dir, REQUIRED_TRAIN,
          "run directory: checkpoints ckpt-<step>.h5, metrics.jsonl and the resolved "
          "config.ini; a run resumes from its newest checkpoint"),
    K_INT(checkpoint, every, 1000, GE(1), OPTIONAL,
          "updates between checkpoints (the last update, a stop signal and --stop-after save "
          "as well)"),
    K_INT(checkpoint, keep, 3, GE(1), OPTIONAL,
          "checkpoints kept in dir: the oldest beyond it are deleted after each save"),
    K_STR_CHECKED(checkpoint, mpiio_hints, check_mpiio_hints,
                  "MPI-IO hints for the checkpoint writes, name=value pairs separated by commas: "
                  "striping_factor, striping_unit, cb_nodes, cb_buffer_size, romio_cb_write, "
                  "romio_cb_read, romio_ds_write, romio_ds_read, romio_no_indep_rw, "
                  "ind_wr_buffer_size, ind_rd_buffer_size (checked here, since MPI-IO ignores a "
                  "hint it does not know); empty = the MPI's defaults"),
};
#define NKEYS (sizeof keys / sizeof keys[0])

static const char *const sections[] = {"model", "train", "data", "parallel", "checkpoint"};
#define NSECTIONS (sizeof sections / sizeof sections[0])

/* What each section is for, in the key reference (swat_config_write_keys). */
static const char *const section_about[] = {
    "The network: a Llama-style decoder whose attention looks at a sliding window of keys "
    "through a sigmoid (SWAT) or a softmax, with RoPE and ALiBi. A checkpoint carries these "
    "keys, and resuming or loading one requires them to match.",
    "The optimizer (AdamW), its learning-rate schedule, and how a run proceeds.",
    "Where the tokens come from and how they are cut into samples and batches.",
    "How the ranks share the work: world = sp x dp.",
    "The run directory and its checkpoints.",
};
_Static_assert(sizeof section_about / sizeof section_about[0] == NSECTIONS,
               "one description per section");

/* ---- field access ----------------------------------------------------------------- */

/* `base` is a swat_config, or for [model] keys possibly a bare swat_model_config:
 * model is the first member, so the offsets agree (checked in defaults). */
static int64_t *int_at(const void *base, const key_def *k)
{
    return (int64_t *)((char *)base + k->offset);
}
static double *real_at(const void *base, const key_def *k)
{
    return (double *)((char *)base + k->offset);
}
static int *flag_at(const void *base, const key_def *k) { return (int *)((char *)base + k->offset); }
static char *str_at(const void *base, const key_def *k) { return (char *)base + k->offset; }

static int enum_count(const key_def *k)
{
    int n = 0;
    while (k->names[n]) n++;
    return n;
}

static int is_unset(const void *base, const key_def *k)
{
    if (k->type == KEY_STRING) return str_at(base, k)[0] == '\0';
    return k->type == KEY_INT && *int_at(base, k) == UNSET;
}

/* Shortest "%.Ng" text that strtod reads back to the same bits, at least 6
 * digits so that 10000 prints as 10000 rather than 1e+04. */
static void format_real(double v, char *buf, size_t n)
{
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v && signbit(strtod(buf, NULL)) == signbit(v)) return;
    }
}

/* The value as it is written in an INI file. */
static void format_value(const void *base, const key_def *k, char *buf, size_t n)
{
    switch (k->type) {
    case KEY_INT: snprintf(buf, n, "%" PRId64, *int_at(base, k)); break;
    case KEY_REAL: format_real(*real_at(base, k), buf, n); break;
    case KEY_BOOL: snprintf(buf, n, "%s", *flag_at(base, k) ? "true" : "false"); break;
    case KEY_ENUM: {
        int v = *flag_at(base, k);
        if (v >= 0 && v < enum_count(k))
            snprintf(buf, n, "%s", k->names[v]);
        else
            snprintf(buf, n, "%d", v);
        break;
    }
    case KEY_STRING: snprintf(buf, n, "%s", str_at(base, k)); break;
    }
}

/* A value quoted in a message: long paths are cut so the line stays readable
 * and under SWAT_ERR_LEN, control characters become '?' so it stays one line. */
static const char *shorten(const char *s, char *buf, size_t n)
{
    size_t len = strlen(s), keep = len < n ? len : n - 4;
    for (size_t i = 0; i < keep; i++) buf[i] = iscntrl((unsigned char)s[i]) ? '?' : s[i];
    strcpy(buf + keep, len < n ? "" : "...");
    return buf;
}

/* ---- lookup and suggestions ------------------------------------------------------- */

static const key_def *find_key(const char *section, const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].section, section) && !strcmp(keys[i].name, name)) return &keys[i];
    return NULL;
}

static int is_section(const char *section)
{
    for (size_t i = 0; i < NSECTIONS; i++)
        if (!strcmp(sections[i], section)) return 1;
    return 0;
}

/* Optimal-string-alignment distance, case-insensitive, capped at 9 (only
 * distances up to 2 are ever used). */
static int edit_distance(const char *a, const char *b)
{
    enum { CAP = 9, MAXLEN = 64 };
    size_t la = strlen(a), lb = strlen(b);
    if (la >= MAXLEN || lb >= MAXLEN) return CAP;
    int d[MAXLEN][MAXLEN];
    for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            int best = d[i - 1][j - 1] + cost;
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == tolower((unsigned char)b[j - 1]) &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[la][lb] < CAP ? d[la][lb] : CAP;
}

static int contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (!strncasecmp(hay, needle, n)) return 1;
    return 0;
}

/* 1 if every '_'-separated word of name is a word of key, as "num_layers"
 * is of num_hidden_layers. */
static int words_within(const char *name, const char *key)
{
    while (*name) {
        size_t len = strcspn(name, "_");
        int found = 0;
        for (const char *w = key; *w && !found; w += strcspn(w, "_"), w += *w == '_') {
            size_t wl = strcspn(w, "_");
            found = len && wl == len && !strncasecmp(w, name, len);
        }
        if (!found) return 0;
        name += len;
        name += *name == '_';
    }
    return 1;
}

/* The key the user most likely meant by section/name, best first: the same
 * name in another section, one edit away, a name containing it ("heads" ->
 * num_heads) or contained in it or holding its words ("num_layers" ->
 * num_hidden_layers), two edits away (names of 5 characters or more). The
 * same section wins ties. NULL when nothing is close. */
static const key_def *closest_key(const char *section, const char *name)
{
    const key_def *best = NULL;
    int best_score = 1 << 30;
    size_t len = strlen(name);
    for (size_t i = 0; i < NKEYS; i++) {
        const key_def *k = &keys[i];
        int d = edit_distance(name, k->name), score;
        if (d <= 1)
            score = d;
        else if ((len >= 4 && contains_nocase(k->name, name)) ||
                 (strlen(k->name) >= 4 && contains_nocase(name, k->name)) ||
                 (strchr(name, '_') && words_within(name, k->name)))
            score = 2;
        else if (d == 2 && len >= 5)
            score = 3;
        else
            continue;
        score = 2 * score + (strcmp(section, k->section) != 0);
        if (score < best_score) best_score = score, best = k;
    }
    return best;
}

static const char *closest_section(const char *section)
{
    for (size_t i = 0; i < NSECTIONS; i++)
        if (edit_distance(section, sections[i]) <= 2) return sections[i];
    return NULL;
}

/* "unknown key foo in [model]; did you mean [train] lr?" and its variants;
 * `dotted` selects the --set spelling "train.lr". */
static void unknown_key_reason(const char *section, const char *name, int dotted, char *why,
                               size_t n)
{
    char what[160];
    int known = is_section(section);
    if (!section[0])
        snprintf(what, sizeof what, "key %s outside any [section]", name);
    else if (known)
        snprintf(what, sizeof what, "unknown key %s in [%s]", name, section);
    else
        snprintf(what, sizeof what, "unknown section [%s]", section);

    const key_def *k = closest_key(section, name);
    const char *s = known ? NULL : closest_section(section);
    if (k && dotted)
        snprintf(why, n, "%s; did you mean %s.%s?", what, k->section, k->name);
    else if (k)
        snprintf(why, n, "%s; did you mean [%s] %s?", what, k->section, k->name);
    else if (s)
        snprintf(why, n, "%s; did you mean [%s]?", what, s);
    else if (known) {
        /* Nothing close: list the section's keys, it is short enough. */
        size_t used = (size_t)snprintf(why, n, "%s; its keys are", what);
        const char *sep = " ";
        for (size_t i = 0; i < NKEYS && used < n; i++)
            if (!strcmp(keys[i].section, section)) {
                used += (size_t)snprintf(why + used, n - used, "%s%s", sep, keys[i].name);
                sep = ", ";
            }
    } else
        snprintf(why, n, "%s; sections are [model], [train], [data], [parallel], [checkpoint]",
                 what);
}

/* ---- values --------------------------------------------------------------------- */

static void describe_bounds(const key_def *k, char *buf, size_t n)
{
    char lo[32], hi[32];
    snprintf(lo, sizeof lo, "%.17g", k->min);
    snprintf(hi, sizeof hi, "%.17g", k->max);
    const char *lo_op = (k->bounds & MIN_OPEN) ? ">" : ">=";
    const char *hi_op = (k->bounds & MAX_OPEN) ? "<" : "<=";
    if ((k->bounds & HAS_MIN) && (k->bounds & HAS_MAX))
        snprintf(buf, n, "must be %s %s and %s %s", lo_op, lo, hi_op, hi);
    else if (k->bounds & HAS_MIN)
        snprintf(buf, n, "must be %s %s", lo_op, lo);
    else
        snprintf(buf, n, "must be %s %s", hi_op, hi);
}

/* 0 if v lies inside the key's bounds; the comparison in double is exact for
 * every int key because its bounds are below 2^53 and the conversion is monotone. */
static int check_bounds(const key_def *k, double v, char *why, size_t n)
{
    int bad = 0;
    if (k->bounds & HAS_MIN) bad |= (k->bounds & MIN_OPEN) ? !(v > k->min) : !(v >= k->min);
    if (k->bounds & HAS_MAX) bad |= (k->bounds & MAX_OPEN) ? !(v < k->max) : !(v <= k->max);
    if (!bad) return 0;
    char b[96];
    describe_bounds(k, b, sizeof b);
    snprintf(why, n, "out of range: %s", b);
    return -1;
}

static int is_blank(const char *s)
{
    while (isspace((unsigned char)*s)) s++;
    return *s == '\0';
}

/* Parses `text` for key k and stores it into base only when it is valid. */
static int parse_value(const key_def *k, const char *text, void *base, char *why, size_t n)
{
    char *end;
    switch (k->type) {
    case KEY_INT: {
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (end == text || !is_blank(end) || is_blank(text)) {
            snprintf(why, n, "not an integer");
            return -1;
        }
        if (errno == ERANGE) {
            snprintf(why, n, "out of the range of a 64-bit integer");
            return -1;
        }
        if (check_bounds(k, (double)v, why, n)) return -1;
        *int_at(base, k) = (int64_t)v;
        return 0;
    }
    case KEY_REAL: {
        errno = 0;
        double v = strtod(text, &end);
        if (end == text || !is_blank(end) || is_blank(text)) {
            snprintf(why, n, "not a number");
            return -1;
        }
        if (!isfinite(v)) {
            snprintf(why, n, "not a finite number");
            return -1;
        }
        if (errno == ERANGE) {
            snprintf(why, n, "too close to 0 for a double");
            return -1;
        }
        if (check_bounds(k, v, why, n)) return -1;
        *real_at(base, k) = v;
        return 0;
    }
    case KEY_BOOL: {
        static const char *const yes[] = {"true", "yes", "on", "1"};
        static const char *const no[] = {"false", "no", "off", "0"};
        char word[8];
        size_t len = 0;
        while (isspace((unsigned char)*text)) text++;
        while (text[len] && !isspace((unsigned char)text[len])) len++;
        if (len < sizeof word && is_blank(text + len)) {
            memcpy(word, text, len);
            word[len] = '\0';
            for (int i = 0; i < 4; i++) {
                if (!strcasecmp(word, yes[i])) return *flag_at(base, k) = 1, 0;
                if (!strcasecmp(word, no[i])) return *flag_at(base, k) = 0, 0;
            }
        }
        snprintf(why, n, "not a boolean: use true/false, yes/no, on/off or 1/0");
        return -1;
    }
    case KEY_ENUM: {
        while (isspace((unsigned char)*text)) text++;
        size_t len = strlen(text);
        while (len && isspace((unsigned char)text[len - 1])) len--;
        for (int i = 0; k->names[i]; i++)
            if (strlen(k->names[i]) == len && !strncasecmp(text, k->names[i], len))
                return *flag_at(base, k) = i, 0;
        size_t used = (size_t)snprintf(why, n, "not one of");
        for (int i = 0; k->names[i] && used < n; i++)
            used += (size_t)snprintf(why + used, n - used, "%s%s", i ? ", " : " ", k->names[i]);
        return -1;
    }
    case KEY_STRING: {
        size_t len = strlen(text);
        if (len >= k->size) {
            snprintf(why, n, "longer than %zu characters", k->size - 1);
            return -1;
        }
        for (size_t i = 0; i < len; i++) {
            if (iscntrl((unsigned char)text[i]) && text[i] != '\t') {
                snprintf(why, n, "contains a control character");
                return -1;
            }
            /* inih reads " ;" as the start of a comment: the printed config
             * would not read back to the same value. A leading ';' is printed
             * after "key = ", so it is one too. */
            if (text[i] == ';' && i == 0) {
                snprintf(why, n, "starts with ';', which an INI file reads as a comment");
                return -1;
            }
            if (text[i] == ';' && i > 0 && isspace((unsigned char)text[i - 1])) {
                snprintf(why, n, "contains ' ;', which an INI file reads as a comment");
                return -1;
            }
        }
        if (k->check && k->check(text, why, n)) return -1;
        memset(str_at(base, k), 0, k->size);
        memcpy(str_at(base, k), text, len);
        return 0;
    }
    }
    return -1;
}

/* ---- defaults ------------------------------------------------------------------- */

void swat_config_defaults(swat_config *cfg)
{
    /* The model rows double as offsets into a bare swat_model_config. */
    SWAT_ASSERT(offsetof(swat_config, model) == 0);
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < NKEYS; i++) {
        const key_def *k = &keys[i];
        switch (k->type) {
        case KEY_INT:
            SWAT_ASSERT(k->size == sizeof(int64_t));
            SWAT_ASSERT(k->def != (double)UNSET || k->need != OPTIONAL);
            *int_at(cfg, k) = (int64_t)k->def;
            break;
        case KEY_REAL:
            SWAT_ASSERT(k->size == sizeof(double));
            *real_at(cfg, k) = k->def;
            break;
        case KEY_BOOL:
        case KEY_ENUM:
            SWAT_ASSERT(k->size == sizeof(int));
            *flag_at(cfg, k) = (int)k->def;
            break;
        case KEY_STRING: SWAT_ASSERT(k->size >= 2); break;
        }
    }
}

/* ---- INI files ------------------------------------------------------------------ */

typedef struct parse_ctx {
    swat_config *cfg;
    unsigned char seen[NKEYS]; /* a key given twice in one file is an error */
    int failed;
    char msg[SWAT_ERR_LEN]; /* "[section] key = value: why" of the first failure */
} parse_ctx;

static void trim_copy(char *dst, size_t n, const char *src, size_t len)
{
    while (len && isspace((unsigned char)*src)) src++, len--;
    while (len && isspace((unsigned char)src[len - 1])) len--;
    if (len >= n) len = n - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

static int on_key(void *user, const char *section_raw, const char *name, const char *value)
{
    parse_ctx *ctx = user;
    if (ctx->failed) return 0;
    char section[64], vbuf[96], why[256];
    /* "[ model ]" means [model]; inih keeps the spaces. */
    trim_copy(section, sizeof section, section_raw, strlen(section_raw));
    const char *shown = shorten(value, vbuf, 80);

    const key_def *k = find_key(section, name);
    if (!k)
        unknown_key_reason(section, name, 0, why, sizeof why);
    else if (ctx->seen[k - keys])
        snprintf(why, sizeof why, "key given twice in this file");
    else if (!parse_value(k, value, ctx->cfg, why, sizeof why)) {
        ctx->seen[k - keys] = 1;
        return 1;
    }
    ctx->failed = 1;
    if (section[0])
        snprintf(ctx->msg, sizeof ctx->msg, "[%s] %.63s = %s: %s", section, name, shown, why);
    else
        snprintf(ctx->msg, sizeof ctx->msg, "%.63s = %s: %s", name, shown, why);
    return 0;
}

static void inih_setup(void)
{
    ini_stop_on_first_error = 1;
    ini_allow_multiline = 0;
    /* Room for "key = " and a path of SWAT_PATH_LEN - 1 characters; longer
     * lines are cut, and the cut value is then refused as too long. */
    ini_max_line = 4 * SWAT_PATH_LEN;
}

/* Line `lineno` (1-based) of `text`, shortened, for a syntax error message. */
static void quote_line(const char *text, int lineno, char *buf, size_t n)
{
    for (int l = 1; l < lineno && text; l++) {
        text = strchr(text, '\n');
        if (text) text++;
    }
    if (!text) text = "";
    size_t len = strcspn(text, "\r\n");
    char line[96];
    trim_copy(line, sizeof line, text, len < 95 ? len : 95);
    snprintf(buf, n, "%s%s", line, len >= 95 ? "..." : "");
}

/* Turns inih's result into the one-line message; 0 on success. */
static int parse_result(int ret, const parse_ctx *ctx, const char *origin, const char *text,
                        char *err)
{
    char obuf[200], line[128];
    origin = shorten(origin, obuf, sizeof obuf);
    if (ret == 0) return 0;
    if (ret == -2) return swat_errf(err, "%s: out of memory parsing the config", origin);
    if (ret < 0) return swat_errf(err, "%s: cannot read the config", origin);
    if (ctx->failed) return swat_errf(err, "%s:%d: %s", origin, ret, ctx->msg);
    quote_line(text, ret, line, sizeof line);
    return swat_errf(err, "%s:%d: expected 'key = value' or '[section]', got: %s", origin, ret,
                     line);
}

int swat_config_load_string(swat_config *cfg, const char *text, const char *origin, char *err)
{
    /* Parse into a copy so that a refused file leaves cfg as it was. */
    parse_ctx ctx = {0};
    swat_config tmp = *cfg;
    ctx.cfg = &tmp;
    inih_setup();
    int ret = ini_parse_string(text, on_key, &ctx);
    if (parse_result(ret, &ctx, origin ? origin : "config", text, err)) return -1;
    *cfg = tmp;
    return 0;
}

int swat_config_load_file(swat_config *cfg, const char *path, char *err)
{
    /* Read the whole file first: the open and read errors keep their errno,
     * a directory is refused instead of read as empty, and a syntax error can
     * quote its line. */
    FILE *f = fopen(path, "rb");
    if (!f) return swat_errf(err, "%s: cannot open config: %s", path, strerror(errno));
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = 2 * cap + 4096 + 1;
            char *grown = realloc(text, cap);
            if (!grown) {
                free(text);
                fclose(f);
                return swat_errf(err, "%s: out of memory reading config", path);
            }
            text = grown;
        }
        size_t got = fread(text + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) break;
    }
    int read_errno = ferror(f) ? errno : 0;
    fclose(f);
    text[len] = '\0';
    if (read_errno) {
        free(text);
        return swat_errf(err, "%s: cannot read config: %s", path, strerror(read_errno));
    }
    if (strlen(text) != len) {
        free(text);
        return swat_errf(err, "%s: not a text file (contains a NUL byte)", path);
    }
    int rc = swat_config_load_string(cfg, text, path, err);
    free(text);
    return rc;
}

/* ---- --set ------------------------------------------------------------------------ */

int swat_config_set(swat_config *cfg, const char *assignment, char *err)
{
    char abuf[128], section[64], name[64], why[SWAT_ERR_LEN - 160];
    const char *shown = shorten(assignment, abuf, sizeof abuf);
    const char *eq = strchr(assignment, '=');
    const char *dot = eq ? memchr(assignment, '.', (size_t)(eq - assignment)) : NULL;
    if (!eq || !dot) {
        /* "train.lr" lacks only the value; a bare "lr=1e-3" most likely
         * means the key of that name. */
        size_t len = eq ? (size_t)(eq - assignment) : strlen(assignment);
        const key_def *k = NULL;
        dot = memchr(assignment, '.', len);
        if (dot) {
            trim_copy(section, sizeof section, assignment, (size_t)(dot - assignment));
            trim_copy(name, sizeof name, dot + 1, len - (size_t)(dot + 1 - assignment));
            k = find_key(section, name);
        } else {
            trim_copy(name, sizeof name, assignment, len);
            k = closest_key("", name);
        }
        if (k)
            return swat_errf(err, "--set %s: expected section.key=value; did you mean %s.%s=VALUE?",
                             shown, k->section, k->name);
        return swat_errf(err, "--set %s: expected section.key=value, e.g. train.lr=1e-3", shown);
    }
    trim_copy(section, sizeof section, assignment, (size_t)(dot - assignment));
    trim_copy(name, sizeof name, dot + 1, (size_t)(eq - dot - 1));
    if (!section[0] || !name[0])
        return swat_errf(err, "--set %s: expected section.key=value, e.g. train.lr=1e-3", shown);

    const key_def *k = find_key(section, name);
    if (!k) {
        unknown_key_reason(section, name, 1, why, sizeof why);
        return swat_errf(err, "--set %s: %s", shown, why);
    }
    /* Same whitespace rule as a file line: "key = value" ignores the spaces. */
    char *value = swat_malloc(strlen(eq + 1) + 1);
    trim_copy(value, strlen(eq + 1) + 1, eq + 1, strlen(eq + 1));
    int rc = parse_value(k, value, cfg, why, sizeof why);
    swat_free(value);
    if (rc) return swat_errf(err, "--set %s: %s", shown, why);
    return 0;
}

/* ---- finalize --------------------------------------------------------------------- */

static int64_t derived_intermediate(int64_t d)
{
    int64_t f = 8 * d / 3;
    return 256 * ((f + 255) / 256);
}

/* Lists values as "1, 2 or 4". */
static void join_list(char *buf, size_t n, const int64_t *v, int count)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < count && used < n; i++) {
        const char *sep = i == 0 ? "" : i == count - 1 ? " or " : ", ";
        used += (size_t)snprintf(buf + used, n - used, "%s%" PRId64, sep, v[i]);
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The divisors of n, ascending; at most `max` of them, those closest to
 * `near`. Returns how many. */
static int divisors_near(int64_t n, int64_t near, int64_t *out, int max)
{
    int64_t all[4096];
    int count = 0;
    for (int64_t i = 1; i * i <= n && count < 4094; i++)
        if (n % i == 0) {
            all[count++] = i;
            if (i != n / i) all[count++] = n / i;
        }
    /* Selection by distance to `near`, then back to ascending order. */
    for (int i = 0; i < count; i++)
        for (int j = i + 1; j < count; j++) {
            int64_t di = llabs((long long)(all[i] - near)), dj = llabs((long long)(all[j] - near));
            if (dj < di || (dj == di && all[j] < all[i])) {
                int64_t t = all[i];
                all[i] = all[j], all[j] = t;
            }
        }
    if (count > max) count = max;
    memcpy(out, all, (size_t)count * sizeof *out);
    qsort(out, (size_t)count, sizeof *out, cmp_i64);
    return count;
}

/* num_heads values that fit hidden_size d: H divides d, d/H even, H even for
 * balanced ALiBi. Writes "use num_heads 2, 4 or 8" or why none exists. */
static void heads_that_work(int64_t d, int64_t want, int balanced, char *buf, size_t n)
{
    int64_t div[64], ok[8];
    int count = divisors_near(d, want, div, 64), m = 0;
    /* divisors_near returns ascending; keep the fitting ones nearest `want`. */
    int64_t fit[64];
    int nf = 0;
    for (int i = 0; i < count; i++)
        if ((d / div[i]) % 2 == 0 && (!balanced || div[i] % 2 == 0)) fit[nf++] = div[i];
    for (int pick = 0; pick < nf && m < 6; pick++) {
        int best = -1;
        for (int i = 0; i < nf; i++) {
            if (fit[i] < 0) continue;
            if (best < 0 || llabs((long long)(fit[i] - want)) < llabs((long long)(fit[best] - want)))
                best = i;
        }
        ok[m++] = fit[best];
        fit[best] = -1;
    }
    qsort(ok, (size_t)m, sizeof *ok, cmp_i64);
    if (m == 0) {
        snprintf(buf, n, "use a hidden_size divisible by %s", balanced ? "4" : "2");
        return;
    }
    char list[160];
    join_list(list, sizeof list, ok, m);
    snprintf(buf, n, "use num_heads %s", list);
}

static int check_model_relations(const swat_model_config *m, char *err)
{
    int balanced = m->alibi == SWAT_ALIBI_BALANCED;
    char fix[200];
    if (m->hidden_size % m->num_heads != 0) {
        heads_that_work(m->hidden_size, m->num_heads, balanced, fix, sizeof fix);
        return swat_errf(err, "config: [model] hidden_size %" PRId64
                              " is not divisible by num_heads %" PRId64 ": %s",
                         m->hidden_size, m->num_heads, fix);
    }
    int64_t dh = m->hidden_size / m->num_heads;
    if (dh % 2 != 0) {
        heads_that_work(m->hidden_size, m->num_heads, balanced, fix, sizeof fix);
        return swat_errf(err, "config: [model] head_dim = hidden_size %" PRId64 " / num_heads %" PRId64
                              " = %" PRId64 " is odd (RoPE rotates half of each head): %s",
                         m->hidden_size, m->num_heads, dh, fix);
    }
    if (balanced && m->num_heads % 2 != 0) {
        heads_that_work(m->hidden_size, m->num_heads, 1, fix, sizeof fix);
        return swat_errf(err, "config: [model] alibi = balanced needs an even num_heads (half the heads"
                              " per slope sign), got num_heads %" PRId64 ": %s, or another alibi",
                         m->num_heads, fix);
    }
    return 0;
}

int swat_config_finalize(swat_config *cfg, swat_config_use use, char *err)
{
    /* Every key against its row: values set in code, not only parsed ones. */
    for (size_t i = 0; i < NKEYS; i++) {
        const key_def *k = &keys[i];
        char why[160], val[96];
        if (k->need != OPTIONAL && is_unset(cfg, k)) {
            if (k->need == REQUIRED || use == SWAT_CONFIG_FOR_TRAINING)
                return swat_errf(err, "config: [%s] %s is required (%s): set it in the config"
                                      " or with --set %s.%s=VALUE",
                                 k->section, k->name, k->help, k->section, k->name);
            continue;
        }
        int bad = 0;
        switch (k->type) {
        case KEY_INT: bad = check_bounds(k, (double)*int_at(cfg, k), why, sizeof why); break;
        case KEY_REAL:
            if (!isfinite(*real_at(cfg, k)))
                bad = -1, snprintf(why, sizeof why, "not a finite number");
            else
                bad = check_bounds(k, *real_at(cfg, k), why, sizeof why);
            break;
        case KEY_BOOL:
            bad = *flag_at(cfg, k) != 0 && *flag_at(cfg, k) != 1;
            if (bad) snprintf(why, sizeof why, "not a boolean (0 or 1)");
            break;
        case KEY_ENUM:
            bad = *flag_at(cfg, k) < 0 || *flag_at(cfg, k) >= enum_count(k);
            if (bad) snprintf(why, sizeof why, "not a value of the enum");
            break;
        case KEY_STRING: {
            const char *s = str_at(cfg, k);
            bad = memchr(s, '\0', k->size) == NULL;
            if (bad) snprintf(why, sizeof why, "not terminated within %zu characters", k->size);
            else if (k->check) bad = k->check(s, why, sizeof why);
            break;
        }
        }
        if (bad) {
            if (k->type == KEY_STRING)
                snprintf(val, sizeof val, "(string)");
            else
                format_value(cfg, k, val, sizeof val);
            return swat_errf(err, "config: [%s] %s = %s: %s", k->section, k->name, val, why);
        }
    }

    swat_model_config *m = &cfg->model;
    if (check_model_relations(m, err)) return -1;
    if (m->intermediate_size == 0) m->intermediate_size = derived_intermediate(m->hidden_size);
    m->alibi_magnitudes = swat_alibi_magnitudes_resolve(m->alibi, m->alibi_magnitudes);

    if (use == SWAT_CONFIG_FOR_TRAINING) {
        if (cfg->data.format == SWAT_DATA_BYTES && m->vocab_size < 256)
            return swat_errf(err, "config: [data] format = bytes needs [model] vocab_size >= 256"
                                  " (every byte value is a token), got vocab_size %" PRId64
                                  ": use vocab_size = 256 or format = llmc",
                             m->vocab_size);
        if (cfg->data.format == SWAT_DATA_BYTES && cfg->data.tokenizer[0])
            return swat_errf(err, "config: [data] tokenizer = %.200s with format = bytes (every"
                                  " byte is a token): use format = llmc for shards made with the"
                                  " tokenizer, or no tokenizer",
                             cfg->data.tokenizer);
        if (cfg->train.warmup_steps > cfg->train.steps)
            return swat_errf(err, "config: [train] warmup_steps %" PRId64 " exceeds steps %" PRId64
                                  ": use warmup_steps <= %" PRId64 " or more steps",
                             cfg->train.warmup_steps, cfg->train.steps, cfg->train.steps);
    }
    const swat_parallel_config *pc = &cfg->parallel;
    if (pc->param_wire == SWAT_WIRE_BF16 && cfg->train.precision != SWAT_PREC_BF16)
        return swat_errf(err, "config: [parallel] param_wire = bf16 needs [train] precision = bf16 "
                              "(an fp32 run multiplies the parameters unrounded): use param_wire = "
                              "fp32 or precision = bf16");
    if (pc->embed_wire == SWAT_WIRE_BF16 && pc->param_wire != SWAT_WIRE_BF16)
        return swat_errf(err, "config: [parallel] embed_wire = bf16 needs param_wire = bf16 (the "
                              "embedding joins the matrices on the bf16 wire): use param_wire = bf16 "
                              "or embed_wire = fp32");
    if (pc->bucket_mb == 0 && (pc->param_wire != SWAT_WIRE_REAL || pc->grad_wire != SWAT_WIRE_REAL))
        return swat_errf(err, "config: [parallel] %s = bf16 applies to the bucketed collectives, but "
                              "bucket_mb = 0: use bucket_mb > 0 or the fp32 wire",
                         pc->param_wire != SWAT_WIRE_REAL ? "param_wire" : "grad_wire");
    if (cfg->data.batch_size != UNSET && cfg->train.micro_batch > cfg->data.batch_size)
        return swat_errf(err, "config: [train] micro_batch %" PRId64
                              " exceeds [data] batch_size %" PRId64
                              ": use micro_batch <= %" PRId64 ", or 0 for batch_size/dp",
                         cfg->train.micro_batch, cfg->data.batch_size, cfg->data.batch_size);
    return 0;
}

/* ---- parallel layout ---------------------------------------------------------------- */

/* "e.g. 768 or 1024": the multiples of m nearest to v (below only if > 0). */
static void multiples_near(int64_t v, int64_t m, char *buf, size_t n)
{
    int64_t lo = v / m * m, hi = lo + m;
    if (lo >= m)
        snprintf(buf, n, "e.g. %" PRId64 " or %" PRId64, lo, hi);
    else
        snprintf(buf, n, "e.g. %" PRId64, hi);
}

/* Whether sp = s fits everything but the world size. */
static int sp_fits(const swat_config *cfg, int world, int64_t s)
{
    int64_t w = cfg->model.window_size, T = cfg->data.seq_len, B = cfg->data.batch_size;
    if (s > 1 && w == 0) return 0;
    if (T > 0 && (T % s != 0 || (w > 0 && ((T / s) % w != 0 || T / s < w)))) return 0;
    if (B > 0 && B % (world / s) != 0) return 0;
    return 1;
}

int swat_config_check_layout(const swat_config *cfg, int world_size, char *err)
{
    SWAT_ASSERT(world_size >= 1);
    int64_t sp = cfg->parallel.sp, w = cfg->model.window_size;
    int64_t T = cfg->data.seq_len, B = cfg->data.batch_size, mb = cfg->train.micro_batch;
    char list[200], eg[64];

    if (world_size % sp != 0) {
        int64_t div[64], fit[64];
        int count = divisors_near(world_size, sp, div, 64), nf = 0;
        for (int i = 0; i < count; i++)
            if (sp_fits(cfg, world_size, div[i])) fit[nf++] = div[i];
        /* None fits the rest: name the divisors, later checks say the rest. */
        if (nf == 0) memcpy(fit, div, sizeof div), nf = count;
        if (nf > 8) nf = 8;
        join_list(list, sizeof list, fit, nf);
        return swat_errf(err, "config: [parallel] sp = %" PRId64 " does not divide the %d ranks: use sp = %s",
                         sp, world_size, list);
    }
    if (sp > 1 && w == 0)
        return swat_errf(err, "config: [parallel] sp = %" PRId64 " needs a sliding window, but [model]"
                              " window_size = 0 (full causal attention is a single-rank baseline):"
                              " use sp = 1 or a window_size > 0",
                         sp);
    if (T > 0) {
        int64_t step = w > 0 ? sp * w : sp; /* seq_len values that work are multiples of it */
        if (T % sp != 0) {
            multiples_near(T, step, eg, sizeof eg);
            return swat_errf(err, "config: [data] seq_len %" PRId64 " is not divisible by [parallel] sp = %"
                                  PRId64 ": use seq_len a multiple of %" PRId64 " (%s)",
                             T, sp, step, eg);
        }
        int64_t chunk = T / sp;
        if (w > 0 && chunk < w) {
            multiples_near(T, step, eg, sizeof eg);
            return swat_errf(err, "config: [data] seq_len %" PRId64 " / [parallel] sp %" PRId64 " = %" PRId64
                                  " tokens per rank is shorter than [model] window_size %" PRId64
                                  ": use seq_len a multiple of %" PRId64 " (%s)%s",
                             T, sp, chunk, w, step, eg, sp > 1 ? " or a smaller sp" : "");
        }
        if (w > 0 && chunk % w != 0) {
            multiples_near(T, step, eg, sizeof eg);
            return swat_errf(err, "config: [data] seq_len %" PRId64 " / [parallel] sp %" PRId64 " = %" PRId64
                                  " tokens per rank is not a multiple of [model] window_size %" PRId64
                                  ": use seq_len a multiple of %" PRId64 " (%s)",
                             T, sp, chunk, w, step, eg);
        }
    }
    int64_t dp = world_size / sp;
    if (B > 0 && B % dp != 0) {
        multiples_near(B, dp, eg, sizeof eg);
        return swat_errf(err, "config: [data] batch_size %" PRId64 " is not divisible by the %" PRId64
                              " data-parallel groups (%d ranks / sp %" PRId64 "): use batch_size a"
                              " multiple of %" PRId64 " (%s)",
                         B, dp, world_size, sp, dp, eg);
    }
    if (B > 0 && mb > 0 && (B / dp) % mb != 0) {
        int64_t per = B / dp, div[8];
        int count = divisors_near(per, mb, div, 8);
        join_list(list, sizeof list, div, count);
        return swat_errf(err, "config: [train] micro_batch %" PRId64 " does not divide the %" PRId64
                              " sequences per data-parallel group (batch_size %" PRId64 " / %" PRId64
                              " groups): use micro_batch %s, or 0 (= %" PRId64 ")",
                         mb, per, B, dp, list, per);
    }
    return 0;
}

/* ---- printing and comparison --------------------------------------------------------- */

void swat_config_write(const swat_config *cfg, FILE *out)
{
    char val[SWAT_PATH_LEN + 64];
    for (size_t s = 0; s < NSECTIONS; s++) {
        fprintf(out, "%s[%s]\n", s ? "\n" : "", sections[s]);
        for (size_t i = 0; i < NKEYS; i++) {
            const key_def *k = &keys[i];
            if (strcmp(k->section, sections[s])) continue;
            /* An unset required key stays unset when read back: as a comment. */
            if (k->type == KEY_INT && is_unset(cfg, k)) {
                fprintf(out, "; %s = (required, not set)\n", k->name);
                continue;
            }
            format_value(cfg, k, val, sizeof val);
            fprintf(out, "%s =%s%s\n", k->name, val[0] ? " " : "", val);
        }
    }
}

char *swat_config_to_string(const swat_config *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) swat_die(12, "config: out of memory printing the config");
    swat_config_write(cfg, f);
    if (fclose(f) != 0 || !buf) swat_die(12, "config: out of memory printing the config");
    return buf;
}

int swat_config_get(const swat_config *cfg, const char *key, char *out, size_t out_len, char *err)
{
    char section[64], name[64], kbuf[96], why[SWAT_ERR_LEN - 128];
    const char *shown = shorten(key, kbuf, 80);
    const char *dot = strchr(key, '.');
    if (!dot || dot == key || !dot[1] || (size_t)(dot - key) >= sizeof section ||
        strlen(dot + 1) >= sizeof name)
        return swat_errf(err, "%s: expected section.key, e.g. train.lr", shown);
    memcpy(section, key, (size_t)(dot - key));
    section[dot - key] = '\0';
    strcpy(name, dot + 1);
    const key_def *k = find_key(section, name);
    if (!k) {
        unknown_key_reason(section, name, 1, why, sizeof why);
        return swat_errf(err, "%s: %s", shown, why);
    }
    if (is_unset(cfg, k))
        out[0] = '\0';
    else
        format_value(cfg, k, out, out_len);
    return 0;
}

/* ---- the key reference ------------------------------------------------------------ */

static const char *type_name(const key_def *k)
{
    switch (k->type) {
    case KEY_INT: return "integer";
    case KEY_REAL: return "real";
    case KEY_BOOL: return "boolean";
    case KEY_ENUM: return "enum";
    case KEY_STRING: return "string";
    }
    return "?";
}

/* The values a key takes: "[1, 2147483647]", "> 0", "sigmoid, softmax", … ;
 * `code` wraps enum names in backquotes (Markdown). */
static void describe_allowed(const key_def *k, int code, char *buf, size_t n)
{
    char lo[32], hi[32];
    format_real(k->min, lo, sizeof lo);
    format_real(k->max, hi, sizeof hi);
    switch (k->type) {
    case KEY_INT:
    case KEY_REAL:
        if ((k->bounds & HAS_MIN) && (k->bounds & HAS_MAX))
            snprintf(buf, n, "%s%s, %s%s", (k->bounds & MIN_OPEN) ? "(" : "[", lo, hi,
                     (k->bounds & MAX_OPEN) ? ")" : "]");
        else if (k->bounds & HAS_MIN)
            snprintf(buf, n, "%s %s", (k->bounds & MIN_OPEN) ? ">" : ">=", lo);
        else if (k->bounds & HAS_MAX)
            snprintf(buf, n, "%s %s", (k->bounds & MAX_OPEN) ? "<" : "<=", hi);
        else
            snprintf(buf, n, "any finite number");
        break;
    case KEY_BOOL: snprintf(buf, n, code ? "`true`, `false`" : "true, false"); break;
    case KEY_ENUM: {
        size_t used = 0;
        buf[0] = '\0';
        for (int i = 0; k->names[i] && used < n; i++)
            used += (size_t)snprintf(buf + used, n - used, "%s%s%s%s", i ? ", " : "",
                                     code ? "`" : "", k->names[i], code ? "`" : "");
        break;
    }
    case KEY_STRING: snprintf(buf, n, "up to %zu characters", k->size - 1); break;
    }
}

/* The default as the reference shows it: the value, or what stands instead. */
static void describe_default(const swat_config *defaults, const key_def *k, char *buf, size_t n)
{
    if (k->need == REQUIRED)
        snprintf(buf, n, "required");
    else if (k->need == REQUIRED_TRAIN)
        snprintf(buf, n, "required to train");
    else if (k->type == KEY_STRING && !str_at(defaults, k)[0])
        snprintf(buf, n, "(empty)");
    else
        format_value(defaults, k, buf, n);
}

/* Markdown table cell: '|' would end the cell and '*' may start emphasis
 * (the help texts use it for products); '_' inside words is safe. */
static void put_cell(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '|' || *s == '*') fputc('\\', out);
        fputc(*s, out);
    }
}

void swat_config_write_keys(FILE *out, swat_config_keys_format format)
{
    swat_config defaults;
    swat_config_defaults(&defaults);
    char def[SWAT_PATH_LEN], allowed[160];
    for (size_t s = 0; s < NSECTIONS; s++) {
        if (format == SWAT_CONFIG_KEYS_MARKDOWN)
            fprintf(out, "%s## [%s]\n\n%s\n\n| key | type | default | allowed | meaning |\n"
                         "|---|---|---|---|---|\n",
                    s ? "\n" : "", sections[s], section_about[s]);
        else
            fprintf(out, "%s[%s] %s\n", s ? "\n" : "", sections[s], section_about[s]);
        for (size_t i = 0; i < NKEYS; i++) {
            const key_def *k = &keys[i];
            if (strcmp(k->section, sections[s])) continue;
            describe_default(&defaults, k, def, sizeof def);
            describe_allowed(k, format == SWAT_CONFIG_KEYS_MARKDOWN, allowed, sizeof allowed);
            if (format == SWAT_CONFIG_KEYS_MARKDOWN) {
                fprintf(out, "| `%s` | %s | ", k->name, type_name(k));
                put_cell(out, def);
                fputs(" | ", out);
                put_cell(out, allowed);
                fputs(" | ", out);
                put_cell(out, k->help);
                fputs(" |\n", out);
            } else {
                /* "integer in [1, 10]", "real > 0", "enum: a, b", "string, up to …" */
                const char *join = allowed[0] == '[' || allowed[0] == '(' ? " in "
                                   : allowed[0] == '>' || allowed[0] == '<'   ? " "
                                   : k->type == KEY_ENUM || k->type == KEY_BOOL ? ": "
                                                                               : ", ";
                fprintf(out, "\n%s.%s: %s%s%s; %s%s\n    %s\n", k->section, k->name,
                        type_name(k), join, allowed, k->need == OPTIONAL ? "default " : "", def,
                        k->help);
            }
        }
    }
}

int swat_config_same_model(const swat_model_config *a, const swat_model_config *b, char *err)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const key_def *k = &keys[i];
        if (strcmp(k->section, "model")) continue;
        int same = 0;
        switch (k->type) {
        case KEY_INT: same = *int_at(a, k) == *int_at(b, k); break;
        /* Bit-exact: the printed config reads back bit-exact. */
        case KEY_REAL: same = !memcmp(real_at(a, k), real_at(b, k), sizeof(double)); break;
        case KEY_BOOL:
        case KEY_ENUM: same = *flag_at(a, k) == *flag_at(b, k); break;
        case KEY_STRING: same = !strcmp(str_at(a, k), str_at(b, k)); break;
        }
        if (!same) {
            char va[96], vb[96];
            format_value(a, k, va, sizeof va);
            format_value(b, k, vb, sizeof vb);
            if (err)
                swat_errf(err, "[model] %s differs: %s vs %s", k->name, va, vb);
            return 0;
        }
    }
    return 1;
}
