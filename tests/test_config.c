/* SPDX-License-Identifier: MIT */
/* test_config.c: the config table of config.c against docs/config.md and docs/training.md.
 *
 * Every refusal is checked for its content, not only for failing: the
 * message must name the origin and line (or --set / config:), the key, and
 * say what would work, because that one line is all a user sees. Fixture
 * files live in tests/data/config/. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "swat/config.h"

#ifndef SWAT_SOURCE_DIR
#define SWAT_SOURCE_DIR "."
#endif
#define FIXTURE(name) SWAT_SOURCE_DIR "/tests/data/config/" name

/* The smallest model every program accepts. */
#define MODEL_OK "[model]\nhidden_size = 64\nnum_hidden_layers = 2\nnum_heads = 4\nwindow_size = 16\n"
/* ... and what training needs on top of it. */
#define TRAIN_OK                                                                       \
    MODEL_OK "[train]\nsteps = 100\n[data]\ntrain = t.bin\nseq_len = 64\nbatch_size = 8\n" \
             "[checkpoint]\ndir = run\n"

/* Fails the test with the whole message when a piece is missing from it. */
static void expect_in(const char *msg, const char *piece)
{
    if (!strstr(msg, piece)) fail_msg("message \"%s\" lacks \"%s\"", msg, piece);
}

/* Fails unless rc reports an error whose message holds every piece; also
 * checks the one-line, bounded shape of every message. */
static void expect_error(int rc, const char *err, ...)
{
    if (rc == 0) fail_msg("expected an error, got success");
    if (strchr(err, '\n')) fail_msg("message spans lines: \"%s\"", err);
    assert_true(strlen(err) < SWAT_ERR_LEN);
    va_list ap;
    va_start(ap, err);
    for (const char *p = va_arg(ap, const char *); p; p = va_arg(ap, const char *)) expect_in(err, p);
    va_end(ap);
}
#define EXPECT_ERROR(rc, err, ...) expect_error(rc, err, __VA_ARGS__, (const char *)NULL)

static void expect_ok(int rc, const char *err)
{
    if (rc != 0) fail_msg("unexpected error: %s", err);
}

/* Loads text over the defaults; returns the status, message in err. */
static int load(swat_config *cfg, const char *text, char *err)
{
    swat_config_defaults(cfg);
    err[0] = '\0';
    return swat_config_load_string(cfg, text, "test.ini", err);
}

/* Loads "[section]\nkey = value\n" (line 2 holds the key). */
static int load_one(swat_config *cfg, const char *section, const char *key, const char *value, char *err)
{
    char text[4096];
    snprintf(text, sizeof text, "[%s]\n%s = %s\n", section, key, value);
    return load(cfg, text, err);
}

static void load_ok(swat_config *cfg, const char *text)
{
    char err[SWAT_ERR_LEN];
    expect_ok(load(cfg, text, err), err);
}

/* A config ready for training: TRAIN_OK loaded and finalized. */
static swat_config train_config(void)
{
    swat_config cfg;
    char err[SWAT_ERR_LEN];
    load_ok(&cfg, TRAIN_OK);
    expect_ok(swat_config_finalize(&cfg, SWAT_CONFIG_FOR_TRAINING, err), err);
    return cfg;
}

/* ---- defaults and a full file ----------------------------------------------------- */

static void test_defaults(void **state)
{
    (void)state;
    swat_config c;
    swat_config_defaults(&c);
    assert_int_equal(c.model.vocab_size, 256);
    assert_int_equal(c.model.intermediate_size, 0);
    assert_true(c.model.rope_theta == 10000.0);
    assert_true(c.model.rope && c.model.tie_word_embeddings);
    assert_true(c.model.norm_eps == 1e-6);
    assert_int_equal(c.model.attention, SWAT_ATTN_SIGMOID);
    assert_int_equal(c.model.alibi, SWAT_ALIBI_BALANCED);
    assert_int_equal(c.model.alibi_magnitudes, SWAT_ALIBI_MAG_AUTO);
    assert_true(c.model.sigmoid_bias == 0.0);
    assert_true(c.model.initializer_range == 0.02);
    assert_true(c.train.lr == 3e-4 && c.train.beta1 == 0.9 && c.train.beta2 == 0.95);
    assert_true(c.train.eps == 1e-8 && c.train.weight_decay == 0.01 && c.train.grad_clip == 1.0);
    assert_int_equal(c.train.warmup_steps, 0);
    assert_int_equal(c.train.lr_schedule, SWAT_LR_COSINE);
    assert_true(c.train.min_lr_ratio == 0.1);
    assert_int_equal(c.train.seed, 1234);
    assert_int_equal(c.train.micro_batch, 0);
    assert_int_equal(c.train.eval_every, 0);
    assert_string_equal(c.train.init_from, "");
    assert_true(c.train.peak_gflops == 0.0);
    assert_int_equal(c.train.log_every, 1);
    assert_false(c.train.recompute);
    assert_int_equal(c.train.on_nonfinite, SWAT_NONFINITE_STOP);
    assert_string_equal(c.data.train, "");
    assert_string_equal(c.data.val, "");
    assert_int_equal(c.data.format, SWAT_DATA_BYTES);
    assert_true(c.data.shuffle);
    assert_int_equal(c.data.val_samples, 0);
    assert_int_equal(c.parallel.sp, 1);
    assert_int_equal(c.parallel.threads, 0);
    assert_string_equal(c.checkpoint.dir, "");
    assert_int_equal(c.checkpoint.every, 1000);
    assert_int_equal(c.checkpoint.keep, 3);

    /* Defaults alone are not a model: the first required key is named. */
    char err[SWAT_ERR_LEN];
    EXPECT_ERROR(swat_config_finalize(&c, SWAT_CONFIG_FOR_MODEL, err), err, "config: ",
                 "[model] hidden_size is required");
}

static void test_full_file(void **state)
{
    (void)state;
    swat_config c;
    char err[SWAT_ERR_LEN];
    swat_config_defaults(&c);
    expect_ok(swat_config_load_file(&c, FIXTURE("full.ini"), err), err);
    assert_int_equal(c.model.vocab_size, 512);
    assert_int_equal(c.model.hidden_size, 1024);
    assert_int_equal(c.model.num_hidden_layers, 12);
    assert_int_equal(c.model.num_heads, 16);
    assert_int_equal(c.model.intermediate_size, 3072);
    assert_int_equal(c.model.window_size, 128);
    assert_true(c.model.rope_theta == 500000.0);
    assert_false(c.model.rope);
    assert_true(c.model.norm_eps == 1e-5);
    assert_false(c.model.tie_word_embeddings);
    assert_int_equal(c.model.attention, SWAT_ATTN_SOFTMAX);
    assert_int_equal(c.model.alibi, SWAT_ALIBI_NONE);
    assert_true(c.model.sigmoid_bias == -6.5);
    assert_true(c.model.initializer_range == 0.01);
    assert_true(c.train.lr == 1e-3 && c.train.beta1 == 0.8 && c.train.beta2 == 0.99);
    assert_true(c.train.eps == 1e-10 && c.train.weight_decay == 0.1 && c.train.grad_clip == 0.0);
    assert_int_equal(c.train.warmup_steps, 100);
    assert_int_equal(c.train.lr_schedule, SWAT_LR_CONSTANT);
    assert_true(c.train.min_lr_ratio == 0.0);
    assert_int_equal(c.train.steps, 5000);
    assert_int_equal(c.train.seed, 42);
    assert_int_equal(c.train.micro_batch, 4);
    assert_int_equal(c.train.eval_every, 250);
    assert_string_equal(c.train.init_from, "runs/base/ckpt-00001000.h5");
    assert_true(c.train.peak_gflops == 123.5);
    assert_int_equal(c.train.log_every, 10);
    assert_true(c.train.recompute);
    assert_int_equal(c.train.on_nonfinite, SWAT_NONFINITE_SKIP);
    assert_string_equal(c.data.train, "data/train shard *.bin"); /* inner spaces kept */
    assert_string_equal(c.data.val, "data/val.bin");
    assert_int_equal(c.data.format, SWAT_DATA_LLMC);
    assert_int_equal(c.data.seq_len, 1024);
    assert_int_equal(c.data.batch_size, 32);
    assert_false(c.data.shuffle);
    assert_int_equal(c.data.val_samples, 64);
    assert_int_equal(c.parallel.sp, 2);
    assert_int_equal(c.parallel.threads, 4);
    assert_string_equal(c.checkpoint.dir, "runs/swat-1024"); /* indented keys are keys */
    assert_int_equal(c.checkpoint.every, 500);
    assert_int_equal(c.checkpoint.keep, 5);
    expect_ok(swat_config_finalize(&c, SWAT_CONFIG_FOR_TRAINING, err), err);
    expect_ok(swat_config_check_layout(&c, 4, err), err);
}

/* ---- bad values of each type ------------------------------------------------------ */

typedef struct bad_case {
    const char *section, *key, *value, *why;
} bad_case;

static void check_bad_cases(const bad_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        swat_config c;
        char err[SWAT_ERR_LEN], key[96];
        snprintf(key, sizeof key, "[%s] %s = ", cases[i].section, cases[i].key);
        EXPECT_ERROR(load_one(&c, cases[i].section, cases[i].key, cases[i].value, err), err,
                     "test.ini:2: ", key, cases[i].why);
    }
}

static void test_bad_ints(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        {"model", "hidden_size", "abc", "not an integer"},
        {"model", "hidden_size", "64x", "not an integer"},
        {"model", "hidden_size", "64 64", "not an integer"},
        {"model", "hidden_size", "6.4e1", "not an integer"},
        {"model", "hidden_size", "0x40", "not an integer"},
        {"model", "hidden_size", "", "not an integer"},
        {"train", "seed", "99999999999999999999", "64-bit"},
        {"train", "seed", "-99999999999999999999", "64-bit"},
        {"model", "hidden_size", "0", "must be >= 1"},
        {"model", "vocab_size", "1", "must be >= 2"},
        {"model", "window_size", "-1", "must be >= 0"},
        {"model", "intermediate_size", "-1", "must be >= 0"},
        {"model", "num_heads", "2147483648", "<= 2147483647"},
        {"train", "steps", "0", "must be >= 1"},
        {"train", "warmup_steps", "-1", "must be >= 0"},
        {"train", "seed", "-1", "must be >= 0"},
        {"train", "micro_batch", "-1", "must be >= 0"},
        {"train", "log_every", "0", "must be >= 1"},
        {"train", "eval_every", "-5", "must be >= 0"},
        {"data", "seq_len", "0", "must be >= 1"},
        {"data", "batch_size", "0", "must be >= 1"},
        {"data", "val_samples", "-1", "must be >= 0"},
        {"parallel", "sp", "0", "must be >= 1"},
        {"parallel", "threads", "1025", "<= 1024"},
        {"parallel", "threads", "-1", ">= 0"},
        {"checkpoint", "every", "0", "must be >= 1"},
        {"checkpoint", "keep", "0", "must be >= 1"},
    };
    check_bad_cases(cases, sizeof cases / sizeof cases[0]);

    /* The bounds themselves are accepted. */
    swat_config c;
    load_ok(&c, "[model]\nvocab_size = 2\nwindow_size = 0\nintermediate_size = 0\n"
                "[parallel]\nthreads = 1024\n[train]\nseed = 9223372036854775807\nsteps = +7\n");
    assert_int_equal(c.model.vocab_size, 2);
    assert_int_equal(c.parallel.threads, 1024);
    assert_true(c.train.seed == INT64_MAX);
    assert_int_equal(c.train.steps, 7);
}

static void test_bad_reals(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        {"train", "lr", "fast", "not a number"},
        {"train", "lr", "3e-4x", "not a number"},
        {"train", "lr", "3e-4 1", "not a number"},
        {"train", "lr", "", "not a number"},
        {"train", "lr", "1e999", "not a finite number"},
        {"train", "lr", "nan", "not a finite number"},
        {"train", "lr", "inf", "not a finite number"},
        {"model", "sigmoid_bias", "-inf", "not a finite number"},
        {"model", "sigmoid_bias", "1e-400", "too close to 0"},
        {"train", "lr", "0", "must be > 0"},
        {"train", "lr", "-1e-3", "must be > 0"},
        {"train", "eps", "0", "must be > 0"},
        {"train", "beta1", "1", "must be >= 0 and < 1"},
        {"train", "beta1", "-0.1", "must be >= 0 and < 1"},
        {"train", "beta2", "1.0", "must be >= 0 and < 1"},
        {"train", "weight_decay", "-1e-9", "must be >= 0"},
        {"train", "grad_clip", "-1", "must be >= 0"},
        {"train", "min_lr_ratio", "1.0000001", "must be >= 0 and <= 1"},
        {"train", "min_lr_ratio", "-0.5", "must be >= 0 and <= 1"},
        {"train", "peak_gflops", "-1", "must be >= 0"},
        {"model", "rope_theta", "0", "must be > 0"},
        {"model", "norm_eps", "0", "must be > 0"},
        {"model", "initializer_range", "-0.02", "must be > 0"},
    };
    check_bad_cases(cases, sizeof cases / sizeof cases[0]);

    swat_config c;
    load_ok(&c, "[train]\nbeta1 = 0\nbeta2 = 0.999999\nmin_lr_ratio = 1\nweight_decay = 0\n"
                "lr = 1e-300\n[model]\nsigmoid_bias = -1e300\n");
    assert_true(c.train.beta1 == 0.0 && c.train.beta2 == 0.999999 && c.train.min_lr_ratio == 1.0);
    assert_true(c.train.lr == 1e-300 && c.model.sigmoid_bias == -1e300);
}

static void test_bad_bools_enums_strings(void **state)
{
    (void)state;
    char long_path[SWAT_PATH_LEN + 1];
    memset(long_path, 'p', SWAT_PATH_LEN);
    long_path[SWAT_PATH_LEN] = '\0'; /* one character too many */
    const bad_case cases[] = {
        {"model", "rope", "maybe", "not a boolean: use true/false, yes/no, on/off or 1/0"},
        {"model", "rope", "2", "not a boolean"},
        {"model", "rope", "", "not a boolean"},
        {"data", "shuffle", "true false", "not a boolean"},
        {"model", "attention", "relu", "not one of sigmoid, softmax"},
        {"model", "alibi", "both", "not one of balanced, negative, positive, none"},
        {"model", "alibi_magnitudes", "paper", "not one of auto, halving, alibi"},
        {"train", "lr_schedule", "linear", "not one of cosine, constant"},
        {"data", "format", "", "not one of bytes, llmc"},
        {"train", "on_nonfinite", "ignore", "not one of stop, skip"},
        {"data", "train", long_path, "longer than 1023 characters"},
    };
    check_bad_cases(cases, sizeof cases / sizeof cases[0]);

    swat_config c;
    load_ok(&c, "[model]\nrope = OFF\ntie_word_embeddings = No\nattention = Softmax\nalibi = POSITIVE\n"
                "[data]\nshuffle = 0\nformat = LLMC\n[train]\nrecompute = yes\n");
    assert_false(c.model.rope);
    assert_false(c.model.tie_word_embeddings);
    assert_int_equal(c.model.attention, SWAT_ATTN_SOFTMAX);
    assert_int_equal(c.model.alibi, SWAT_ALIBI_POSITIVE);
    assert_false(c.data.shuffle);
    assert_int_equal(c.data.format, SWAT_DATA_LLMC);
    assert_true(c.train.recompute);

    /* The longest path fits, although libinih cuts lines at 200 characters
     * unless told otherwise. */
    char err[SWAT_ERR_LEN];
    long_path[SWAT_PATH_LEN - 1] = '\0';
    expect_ok(load_one(&c, "data", "train", long_path, err), err);
    assert_int_equal(strlen(c.data.train), SWAT_PATH_LEN - 1);
}

/* ---- file structure ------------------------------------------------------------ */

static void test_unknown_keys(void **state)
{
    (void)state;
    swat_config c;
    char err[SWAT_ERR_LEN];
    /* A key of that name in another section. */
    EXPECT_ERROR(load(&c, "[model]\nhidden_size = 64\nlr = 1e-3\n", err), err, "test.ini:3: ",
                 "unknown key lr in [model]", "did you mean [train] lr?");
    /* A close spelling in the same section. */
    EXPECT_ERROR(load(&c, "[model]\nhiden_size = 64\n", err), err, "test.ini:2: ",
                 "hiden_size", "did you mean [model] hidden_size?");
    EXPECT_ERROR(load(&c, "[train]\nlr_shedule = cosine\n", err), err, "did you mean [train] lr_schedule?");
    EXPECT_ERROR(load(&c, "[model]\nheads = 4\n", err), err, "did you mean [model] num_heads?");
    EXPECT_ERROR(load(&c, "[model]\nnum_layers = 4\n", err), err,
                 "did you mean [model] num_hidden_layers?");
    /* An unknown section whose key exists elsewhere. */
    EXPECT_ERROR(load(&c, "; comment\n[trian]\nlr = 1e-3\n", err), err, "test.ini:3: ",
                 "unknown section [trian]", "did you mean [train] lr?");
    /* Unknown section, unknown key: the section is suggested, or all are listed. */
    EXPECT_ERROR(load(&c, "[modle]\nzzz = 1\n", err), err, "unknown section [modle]",
                 "did you mean [model]?");
    EXPECT_ERROR(load(&c, "[optimizer]\nzzz = 1\n", err), err, "unknown section [optimizer]",
                 "[model], [train], [data], [parallel], [checkpoint]");
    /* Nothing close in a known section: its keys are listed. */
    EXPECT_ERROR(load(&c, "[parallel]\nzzzzzz = 1\n", err), err, "unknown key zzzzzz in [parallel]",
                 "sp, threads");
    /* A key before any section. */
    EXPECT_ERROR(load(&c, "lr = 1e-3\n", err), err, "test.ini:1: ", "outside any [section]",
                 "did you mean [train] lr?");
    /* Keys are case-sensitive, but the suggestion finds the right case. */
    EXPECT_ERROR(load(&c, "[train]\nLR = 1e-3\n", err), err, "did you mean [train] lr?");
}

static void test_duplicate_key(void **state)
{
    (void)state;
    swat_config c;
    char err[SWAT_ERR_LEN];
    EXPECT_ERROR(load(&c, "[train]\nlr = 1e-3\nsteps = 10\nlr = 2e-3\n", err), err, "test.ini:4: ",
                 "[train] lr = 2e-3", "given twice");
    /* Also when the section is opened twice. */
    EXPECT_ERROR(load(&c, "[train]\nlr = 1e-3\n[data]\nseq_len = 8\n[train]\nlr = 1e-3\n", err), err,
                 "test.ini:6: ", "given twice");
    /* Twice in two loads is an override, not a duplicate. */
    load_ok(&c, "[train]\nlr = 1e-3\n");
    expect_ok(swat_config_load_string(&c, "[train]\nlr = 2e-3\n", "second.ini", err), err);
    assert_true(c.train.lr == 2e-3);
}

static void test_missing_file(void **state)
{
    (void)state;
    swat_config c;
    char err[SWAT_ERR_LEN];
    swat_config_defaults(&c);
    const char *path = SWAT_SOURCE_DIR "/tests/data/config/no-such-file.ini";
    EXPECT_ERROR(swat_config_load_file(&c, path, err), err, path, "No such file");
    /* A directory opens on Linux but must not read as an empty config. */
    EXPECT_ERROR(swat_config_load_file(&c, SWAT_SOURCE_DIR "/tests/data/config", err), err,
                 "tests/data/config", "Is a directory");
}

static void test_syntax_errors(void **state)
{
    (void)state;
    swat_config c;
    char err[SWAT_ERR_LEN];
    swat_config_defaults(&c);
    EXPECT_ERROR(swat_config_load_file(&c, FIXTURE("bad_syntax.ini"), err), err, "bad_syntax.ini:3: ",
                 "expected 'key = value' or '[section]'", "this line has no equals sign");
    /* A bad value in a file names file, line, key and value. */
    EXPECT_ERROR(swat_config_load_file(&c, FIXTURE("bad_value.ini"), err), err, "bad_value.ini:6: ",
                 "[train] lr = 3e-4x: not a number");
    EXPECT_ERROR(load(&c, "[model\nhidden_size = 64\n", err), err, "test.ini:1: ", "[model");
    /* An indented line does not continue the previous value (libinih's
     * default): it is a line of its own, here without '='. */
    EXPECT_ERROR(load(&c, "[data]\ntrain = a.bin\n  b.bin\n", err), err, "test.ini:3: ", "b.bin");
    /* The first error is reported, not a later one. */
    EXPECT_ERROR(load(&c, "[model]\nhidden_size = x\njunk\n", err), err, "test.ini:2: ", "hidden_size");
    EXPECT_ERROR(load(&c, "[model]\njunk\nhidden_size = x\n", err), err, "test.ini:2: ", "junk");
    /* CRLF files and a missing final newline are fine. */
    load_ok(&c, "[model]\r\nhidden_size = 64\r\n[train]\r\nlr = 2e-3");
    assert_int_equal(c.model.hidden_size, 64);
    assert_true(c.train.lr == 2e-3);
}

static void test_comments(void **state)
{
    (void)state;
    swat_config c;
    char err[SWAT_ERR_LEN];
    load_ok(&c, "; header\n# header\n[train] ; section comment\nlr = 1e-3 ; peak\n");
    assert_true(c.train.lr == 1e-3);
    /* '#' starts only whole-line comments: after a value it is junk. */
    EXPECT_ERROR(load(&c, "[train]\nlr = 1e-3 # peak\n", err), err, "test.ini:2: ", "not a number");
    /* ';' without whitespace before it is part of the value. */
    load_ok(&c, "[data]\ntrain = a;b.bin\n");
    assert_string_equal(c.data.train, "a;b.bin");
}

static void test_failed_load_keeps_config(void **state)
{
    (void)state;
    swat_config c;
    char err[SWAT_ERR_LEN];
    load_ok(&c, MODEL_OK);
    assert_int_not_equal(swat_config_load_string(&c, "[model]\nhidden_size = 128\nnum_heads = x\n",
                                                 "x.ini", err), 0);
    assert_int_equal(c.model.hidden_size, 64);
}

/* ---- --set ------------------------------------------------------------------------- */

static void test_set_good(void **state)
{
    (void)state;
    swat_config c;
    char err[SWAT_ERR_LEN];
    load_ok(&c, MODEL_OK);
    expect_ok(swat_config_set(&c, "train.lr=1e-3", err), err);
    assert_true(c.train.lr == 1e-3);
    expect_ok(swat_config_set(&c, " model.hidden_size = 128 ", err), err);
    assert_int_equal(c.model.hidden_size, 128);
    /* The value runs to the end and may hold '=' and spaces. */
    expect_ok(swat_config_set(&c, "data.train=runs/a=b c/*.bin", err), err);
    assert_string_equal(c.data.train, "runs/a=b c/*.bin");
    expect_ok(swat_config_set(&c, "model.alibi=none", err), err);
    assert_int_equal(c.model.alibi, SWAT_ALIBI_NONE);
    expect_ok(swat_config_set(&c, "data.shuffle=off", err), err);
    assert_false(c.data.shuffle);
    /* An empty string clears a path. */
    expect_ok(swat_config_set(&c, "data.val=", err), err);
    assert_string_equal(c.data.val, "");
    /* --set overrides a key the file gave: no duplicate. */
    expect_ok(swat_config_set(&c, "train.lr=2e-3", err), err);
    assert_true(c.train.lr == 2e-3);
}

static void test_set_bad(void **state)
{
    (void)state;
    swat_config c;
    char err[SWAT_ERR_LEN];
    load_ok(&c, MODEL_OK);
    EXPECT_ERROR(swat_config_set(&c, "train.lr", err), err, "--set train.lr: ",
                 "expected section.key=value", "did you mean train.lr=VALUE?");
    EXPECT_ERROR(swat_config_set(&c, "lr=1e-3", err), err, "--set lr=1e-3: ",
                 "expected section.key=value", "did you mean train.lr");
    EXPECT_ERROR(swat_config_set(&c, "=1", err), err, "--set =1: ", "expected section.key=value");
    EXPECT_ERROR(swat_config_set(&c, ".lr=1", err), err, "expected section.key=value");
    EXPECT_ERROR(swat_config_set(&c, "train.=1", err), err, "expected section.key=value");
    EXPECT_ERROR(swat_config_set(&c, "train.lr=abc", err), err, "--set train.lr=abc: ", "not a number");
    EXPECT_ERROR(swat_config_set(&c, "train.lr=0", err), err, "--set train.lr=0: ", "must be > 0");
    EXPECT_ERROR(swat_config_set(&c, "trian.lr=1", err), err, "--set trian.lr=1: ",
                 "unknown section [trian]", "did you mean train.lr?");
    EXPECT_ERROR(swat_config_set(&c, "model.lr=1", err), err, "unknown key lr in [model]",
                 "did you mean train.lr?");
    EXPECT_ERROR(swat_config_set(&c, "model.alibi=both", err), err, "not one of balanced");
    /* A value that the printed config would read back differently. */
    EXPECT_ERROR(swat_config_set(&c, "data.train=a ;b", err), err, "comment");
    EXPECT_ERROR(swat_config_set(&c, "data.train=a\nb", err), err, "control character");
    /* A refused --set leaves the key as it was. */
    assert_true(c.train.lr == 3e-4);
    assert_int_equal(c.model.alibi, SWAT_ALIBI_BALANCED);
}

/* ---- finalize ------------------------------------------------------------------- */

static void test_required_keys(void **state)
{
    (void)state;
    static const char *const model_keys[] = {"hidden_size", "num_hidden_layers", "num_heads",
                                             "window_size"};
    static const char *const train_keys[][2] = {{"train", "steps"},
                                                {"data", "train"},
                                                {"data", "seq_len"},
                                                {"data", "batch_size"},
                                                {"checkpoint", "dir"}};
    char err[SWAT_ERR_LEN], text[1024], piece[96];
    swat_config c;

    for (size_t i = 0; i < 4; i++) {
        /* MODEL_OK without key i. */
        const char *vals[] = {"64", "2", "4", "16"};
        size_t used = (size_t)snprintf(text, sizeof text, "[model]\n");
        for (size_t j = 0; j < 4; j++)
            if (j != i) used += (size_t)snprintf(text + used, sizeof text - used, "%s = %s\n", model_keys[j], vals[j]);
        load_ok(&c, text);
        snprintf(piece, sizeof piece, "[model] %s is required", model_keys[i]);
        EXPECT_ERROR(swat_config_finalize(&c, SWAT_CONFIG_FOR_MODEL, err), err, "config: ", piece);
    }

    /* The model alone is enough for a model, not for training. */
    load_ok(&c, MODEL_OK);
    expect_ok(swat_config_finalize(&c, SWAT_CONFIG_FOR_MODEL, err), err);
    for (size_t i = 0; i < 5; i++) {
        swat_config t = train_config();
        if (!strcmp(train_keys[i][0], "train")) t.train.steps = -1;
        if (!strcmp(train_keys[i][1], "train")) t.data.train[0] = '\0';
        if (!strcmp(train_keys[i][1], "seq_len")) t.data.seq_len = -1;
        if (!strcmp(train_keys[i][1], "batch_size")) t.data.batch_size = -1;
        if (!strcmp(train_keys[i][1], "dir")) t.checkpoint.dir[0] = '\0';
        snprintf(piece, sizeof piece, "[%s] %s is required", train_keys[i][0], train_keys[i][1]);
        EXPECT_ERROR(swat_config_finalize(&t, SWAT_CONFIG_FOR_TRAINING, err), err, "config: ", piece);
        /* ... and the same config is a valid model. */
        expect_ok(swat_config_finalize(&t, SWAT_CONFIG_FOR_MODEL, err), err);
    }
}

static void test_relations(void **state)
{
    (void)state;
    swat_config c;
    char err[SWAT_ERR_LEN];

    /* hidden_size % num_heads: the suggestions fit d = 100 with balanced ALiBi. */
    c = train_config();
    c.model.hidden_size = 100, c.model.num_heads = 3;
    EXPECT_ERROR(swat_config_finalize(&c, SWAT_CONFIG_FOR_MODEL, err), err, "config: ",
                 "hidden_size 100", "num_heads 3", "use num_heads 2, 10 or 50");

    /* Odd head_dim: 96 / 32 = 3. */
    c = train_config();
    c.model.hidden_size = 96, c.model.num_heads = 32;
    EXPECT_ERROR(swat_config_finalize(&c, SWAT_CONFIG_FOR_MODEL, err), err, "head_dim",
                 "hidden_size 96", "num_heads 32", "= 3 is odd", "use num_heads", "48");
    /* ... refused also without RoPE and without balanced ALiBi. */
    c.model.rope = 0, c.model.alibi = SWAT_ALIBI_NONE;
    EXPECT_ERROR(swat_config_finalize(&c, SWAT_CONFIG_FOR_MODEL, err), err, "is odd");

    /* Balanced ALiBi needs an even H: 96 / 3 = 32 is an even head_dim. */
    c = train_config();
    c.model.hidden_size = 96, c.model.num_heads = 3;
    EXPECT_ERROR(swat_config_finalize(&c, SWAT_CONFIG_FOR_MODEL, err), err, "alibi = balanced",
                 "num_heads 3", "use num_heads 2, 4", "or another alibi");
    c.model.alibi = SWAT_ALIBI_NEGATIVE;
    expect_ok(swat_config_finalize(&c, SWAT_CONFIG_FOR_MODEL, err), err);
    /* No H works with balanced for d = 6: the message says to change d. */
    c.model.alibi = SWAT_ALIBI_BALANCED, c.model.hidden_size = 6, c.model.num_heads = 3;
    EXPECT_ERROR(swat_config_finalize(&c, SWAT_CONFIG_FOR_MODEL, err), err, "hidden_size divisible by 4");

    /* Bytes need V >= 256, for training only. */
    c = train_config();
    c.model.vocab_size = 100;
    EXPECT_ERROR(swat_config_finalize(&c, SWAT_CONFIG_FOR_TRAINING, err), err, "format = bytes",
                 "vocab_size >= 256", "vocab_size 100", "format = llmc");
    expect_ok(swat_config_finalize(&c, SWAT_CONFIG_FOR_MODEL, err), err);
    c.data.format = SWAT_DATA_LLMC;
    expect_ok(swat_config_finalize(&c, SWAT_CONFIG_FOR_TRAINING, err), err);

    /* warmup_steps <= steps. */
    c = train_config();
    c.train.warmup_steps = 101;
    EXPECT_ERROR(swat_config_finalize(&c, SWAT_CONFIG_FOR_TRAINING, err), err, "warmup_steps 101",
                 "steps 100", "warmup_steps <= 100");
    c.train.warmup_steps = 100;
    expect_ok(swat_config_finalize(&c, SWAT_CONFIG_FOR_TRAINING, err), err);

    /* micro_batch <= batch_size. */
    c = train_config();
    c.train.micro_batch = 9;
    EXPECT_ERROR(swat_config_finalize(&c, SWAT_CONFIG_FOR_TRAINING, err), err, "micro_batch 9",
                 "batch_size 8", "micro_batch <= 8");
    c.train.micro_batch = 8;
    expect_ok(swat_config_finalize(&c, SWAT_CONFIG_FOR_TRAINING, err), err);

    /* Values set in code are checked against the table too. */
    c = train_config();
    c.train.beta2 = 1.0;
    EXPECT_ERROR(swat_config_finalize(&c, SWAT_CONFIG_FOR_TRAINING, err), err, "config: [train] beta2 = 1",
                 "must be >= 0 and < 1");
    c = train_config();
    c.model.alibi = 7;
    EXPECT_ERROR(swat_config_finalize(&c, SWAT_CONFIG_FOR_MODEL, err), err, "[model] alibi");
}

static void test_derived_intermediate(void **state)
{
    (void)state;
    static const int64_t cases[][2] = {{256, 768}, {1024, 2816}, {1536, 4096}, {64, 256}, {4096, 11008}};
    char err[SWAT_ERR_LEN];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        swat_config c = train_config();
        c.model.hidden_size = cases[i][0];
        c.model.intermediate_size = 0;
        expect_ok(swat_config_finalize(&c, SWAT_CONFIG_FOR_MODEL, err), err);
        assert_int_equal(c.model.intermediate_size, cases[i][1]);
        /* Finalizing again changes nothing. */
        expect_ok(swat_config_finalize(&c, SWAT_CONFIG_FOR_MODEL, err), err);
        assert_int_equal(c.model.intermediate_size, cases[i][1]);
    }
    /* An explicit size is kept. */
    swat_config c = train_config();
    c.model.intermediate_size = 100;
    expect_ok(swat_config_finalize(&c, SWAT_CONFIG_FOR_MODEL, err), err);
    assert_int_equal(c.model.intermediate_size, 100);
}

/* ---- layout --------------------------------------------------------------------- */

/* TRAIN_OK: w = 16, T = 64, B = 8, sp = 1. */
static void test_layout(void **state)
{
    (void)state;
    char err[SWAT_ERR_LEN];
    swat_config c = train_config();
    expect_ok(swat_config_check_layout(&c, 1, err), err);
    expect_ok(swat_config_check_layout(&c, 8, err), err);

    /* world % sp: the suggestions are the divisors of 4 that fit the rest. */
    c.parallel.sp = 3;
    EXPECT_ERROR(swat_config_check_layout(&c, 4, err), err, "config: ", "[parallel] sp = 3",
                 "does not divide the 4 ranks", "use sp = 1, 2 or 4");
    c.parallel.sp = 8;
    EXPECT_ERROR(swat_config_check_layout(&c, 4, err), err, "sp = 8", "4 ranks");
    /* With w = 0 only sp = 1 fits. */
    c.parallel.sp = 3, c.model.window_size = 0;
    EXPECT_ERROR(swat_config_check_layout(&c, 4, err), err, "use sp = 1");

    /* sp > 1 with full attention. */
    c = train_config();
    c.parallel.sp = 2, c.model.window_size = 0;
    EXPECT_ERROR(swat_config_check_layout(&c, 2, err), err, "sp = 2", "window_size = 0",
                 "use sp = 1 or a window_size > 0");
    c.parallel.sp = 1;
    expect_ok(swat_config_check_layout(&c, 2, err), err);

    /* seq_len % sp. */
    c = train_config();
    c.parallel.sp = 2, c.data.seq_len = 65;
    EXPECT_ERROR(swat_config_check_layout(&c, 2, err), err, "seq_len 65", "sp = 2",
                 "multiple of 32", "e.g. 64 or 96");

    /* Chunk not a multiple of w (the example of the brief: T 1000, sp 2, w 128). */
    c = train_config();
    c.parallel.sp = 2, c.data.seq_len = 1000, c.model.window_size = 128;
    EXPECT_ERROR(swat_config_check_layout(&c, 2, err), err,
                 "seq_len 1000 / [parallel] sp 2 = 500 tokens per rank is not a multiple of"
                 " [model] window_size 128: use seq_len a multiple of 256",
                 "e.g. 768 or 1024");
    c.data.seq_len = 1024;
    expect_ok(swat_config_check_layout(&c, 2, err), err);

    /* Chunk shorter than w, with sp = 2 and sp = 1. */
    c = train_config();
    c.parallel.sp = 2, c.data.seq_len = 16;
    EXPECT_ERROR(swat_config_check_layout(&c, 2, err), err, "= 8 tokens per rank is shorter than",
                 "window_size 16", "multiple of 32", "or a smaller sp");
    c.parallel.sp = 1, c.data.seq_len = 8;
    EXPECT_ERROR(swat_config_check_layout(&c, 1, err), err, "8 tokens per rank is shorter than");

    /* batch_size % dp. */
    c = train_config();
    c.data.batch_size = 10;
    EXPECT_ERROR(swat_config_check_layout(&c, 4, err), err, "batch_size 10", "4 data-parallel groups",
                 "multiple of 4", "e.g. 8 or 12");
    /* dp counts sp: 4 ranks, sp 2 -> dp 2 divides 10. */
    c.parallel.sp = 2;
    expect_ok(swat_config_check_layout(&c, 4, err), err);

    /* micro_batch divides batch_size / dp. */
    c = train_config();
    c.train.micro_batch = 3;
    EXPECT_ERROR(swat_config_check_layout(&c, 2, err), err, "micro_batch 3",
                 "4 sequences per data-parallel group", "use micro_batch 1, 2 or 4", "or 0");
    c.train.micro_batch = 2;
    expect_ok(swat_config_check_layout(&c, 2, err), err);
    c.train.micro_batch = 8; /* a whole group's 4 per rank on 2 ranks: too many */
    EXPECT_ERROR(swat_config_check_layout(&c, 2, err), err, "micro_batch 8");
}

/* ---- printing and comparison --------------------------------------------------------- */

static void assert_same_config(const swat_config *a, const swat_config *b)
{
    /* Field by field, reals bit by bit: listed here rather than taken from
     * the table, so that a key missing from the table shows up. */
#define SAME_I(f) assert_true(a->f == b->f)
#define SAME_R(f) assert_memory_equal(&a->f, &b->f, sizeof(double))
#define SAME_S(f) assert_string_equal(a->f, b->f)
    SAME_I(model.vocab_size), SAME_I(model.hidden_size), SAME_I(model.num_hidden_layers);
    SAME_I(model.num_heads), SAME_I(model.intermediate_size), SAME_I(model.window_size);
    SAME_R(model.rope_theta), SAME_I(model.rope), SAME_R(model.norm_eps);
    SAME_I(model.tie_word_embeddings), SAME_I(model.attention), SAME_I(model.alibi);
    SAME_I(model.alibi_magnitudes);
    SAME_R(model.sigmoid_bias), SAME_R(model.initializer_range);
    SAME_R(train.lr), SAME_R(train.beta1), SAME_R(train.beta2), SAME_R(train.eps);
    SAME_R(train.weight_decay), SAME_R(train.grad_clip), SAME_I(train.warmup_steps);
    SAME_I(train.lr_schedule), SAME_R(train.min_lr_ratio), SAME_I(train.steps), SAME_I(train.seed);
    SAME_I(train.micro_batch), SAME_I(train.eval_every), SAME_S(train.init_from);
    SAME_R(train.peak_gflops), SAME_I(train.log_every), SAME_I(train.recompute);
    SAME_I(train.on_nonfinite), SAME_I(train.max_skips);
    SAME_S(data.train), SAME_S(data.val), SAME_I(data.format), SAME_I(data.seq_len);
    SAME_I(data.batch_size), SAME_I(data.shuffle), SAME_I(data.val_samples);
    SAME_I(parallel.sp), SAME_I(parallel.threads);
    SAME_S(checkpoint.dir), SAME_I(checkpoint.every), SAME_I(checkpoint.keep);
#undef SAME_I
#undef SAME_R
#undef SAME_S
}

static void test_write_roundtrip(void **state)
{
    (void)state;
    char err[SWAT_ERR_LEN];
    /* Every field away from its default, reals that do not print short. */
    swat_config a, b;
    swat_config_defaults(&a);
    expect_ok(swat_config_load_file(&a, FIXTURE("full.ini"), err), err);
    a.model.sigmoid_bias = -1.0 / 3.0;
    a.model.initializer_range = 0.1 + 0.2;
    a.train.lr = 3e-4 * 7.0 / 11.0;
    a.train.beta2 = nextafter(1.0, 0.0);
    a.train.eps = 4.9e-300;
    a.train.seed = INT64_MAX;
    a.model.rope_theta = 1e22 / 3.0;
    expect_ok(swat_config_finalize(&a, SWAT_CONFIG_FOR_TRAINING, err), err);

    char *text = swat_config_to_string(&a);
    assert_non_null(text);
    expect_in(text, "[model]\nvocab_size = 512\n");
    expect_in(text, "\n[checkpoint]\n");
    expect_in(text, "attention = softmax\n");
    expect_in(text, "rope = false\n");
    expect_in(text, "train = data/train shard *.bin\n");
    expect_in(text, "\nval = data/val.bin\n");
    swat_config_defaults(&b);
    expect_ok(swat_config_load_string(&b, text, "roundtrip", err), err);
    assert_same_config(&a, &b);

    /* swat_config_write prints the same text. */
    FILE *f = tmpfile();
    assert_non_null(f);
    swat_config_write(&a, f);
    long len = ftell(f);
    assert_int_equal(len, (long)strlen(text));
    rewind(f);
    char *back = calloc(1, (size_t)len + 1);
    assert_int_equal(fread(back, 1, (size_t)len, f), (size_t)len);
    assert_string_equal(back, text);
    free(back);
    fclose(f);
    free(text);

    /* Defaults read back as defaults, unset required keys included; short
     * reals print short. */
    swat_config_defaults(&a);
    text = swat_config_to_string(&a);
    expect_in(text, "lr = 0.0003\n");
    expect_in(text, "rope_theta = 10000\n");
    expect_in(text, "norm_eps = 1e-06\n");
    expect_in(text, "\ninit_from =\n"); /* empty, no trailing space */
    expect_in(text, "; hidden_size = (required, not set)\n");
    swat_config_defaults(&b);
    b.model.vocab_size = 999;
    expect_ok(swat_config_load_string(&b, text, "defaults", err), err);
    assert_same_config(&a, &b);
    free(text);
}

static void test_same_model(void **state)
{
    (void)state;
    char err[SWAT_ERR_LEN];
    swat_config a = train_config(), b = train_config();
    err[0] = '\0';
    assert_int_equal(swat_config_same_model(&a.model, &b.model, err), 1);

    /* Training keys do not matter. */
    b.train.lr = 1.0, b.data.seq_len = 128, b.parallel.sp = 2;
    assert_int_equal(swat_config_same_model(&a.model, &b.model, err), 1);

    b.model.hidden_size = 128;
    assert_int_equal(swat_config_same_model(&a.model, &b.model, err), 0);
    expect_in(err, "hidden_size");
    expect_in(err, "64 vs 128");

    b = train_config();
    b.model.alibi = SWAT_ALIBI_NONE;
    assert_int_equal(swat_config_same_model(&a.model, &b.model, err), 0);
    expect_in(err, "alibi");
    expect_in(err, "balanced vs none");

    b = train_config();
    b.model.rope_theta = 10000.000000000002;
    assert_int_equal(swat_config_same_model(&a.model, &b.model, err), 0);
    expect_in(err, "rope_theta");

    b = train_config();
    b.model.tie_word_embeddings = 0;
    assert_int_equal(swat_config_same_model(&a.model, &b.model, err), 0);
    expect_in(err, "tie_word_embeddings differs: true vs false");

    /* The first differing key in table order is named. */
    b = train_config();
    b.model.window_size = 32, b.model.num_heads = 8;
    assert_int_equal(swat_config_same_model(&a.model, &b.model, err), 0);
    expect_in(err, "num_heads");
}

/* ---- swat_config_get and the key reference --------------------------------------- */

/* Calls fn(section, key, value) for every "key = value" line of an INI text. */
static int for_each_line(const char *text, void (*fn)(const char *, const char *, const char *, void *),
                         void *user)
{
    char section[64] = "", line[2048];
    int n = 0;
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, "\n");
        snprintf(line, sizeof line, "%.*s", (int)len, p);
        p += len + (p[len] == '\n');
        if (line[0] == '[') {
            snprintf(section, sizeof section, "%.*s", (int)(strlen(line) - 2), line + 1);
            continue;
        }
        char *eq = strstr(line, " =");
        if (line[0] == ';' || !eq) continue;
        *eq = '\0';
        fn(section, line, eq[2] == ' ' ? eq + 3 : eq + 2, user);
        n++;
    }
    return n;
}

static void check_get(const char *section, const char *key, const char *value, void *user)
{
    const swat_config *cfg = user;
    char dotted[160], got[SWAT_PATH_LEN + 64], err[SWAT_ERR_LEN];
    snprintf(dotted, sizeof dotted, "%.60s.%.90s", section, key);
    expect_ok(swat_config_get(cfg, dotted, got, sizeof got, err), err);
    assert_string_equal(got, value);
}

/* The key reference names every key of the printout under its section. */
static void check_listed(const char *section, const char *key, const char *value, void *user)
{
    (void)value;
    const char *doc = user;
    char heading[80], row[96];
    snprintf(heading, sizeof heading, "## [%s]\n", section);
    snprintf(row, sizeof row, "\n| `%.80s` | ", key);
    const char *at = strstr(doc, heading);
    if (!at) {
        fail_msg("no section heading %s", heading);
        return; /* not reached: cmocka's fail jumps out, but GCC does not know */
    }
    const char *next = strstr(at + 1, "\n## [");
    const char *hit = strstr(at, row);
    if (!hit || (next && hit > next)) fail_msg("[%s] %s is not listed in its section", section, key);
}

static int count_lines_starting(const char *text, const char *prefix)
{
    int n = 0;
    for (const char *p = text; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        n += !strncmp(p, prefix, strlen(prefix));
    return n;
}

static void test_get_and_reference(void **state)
{
    (void)state;
    char err[SWAT_ERR_LEN], out[SWAT_PATH_LEN + 64];
    swat_config a;
    swat_config_defaults(&a);
    expect_ok(swat_config_load_file(&a, FIXTURE("full.ini"), err), err);
    expect_ok(swat_config_finalize(&a, SWAT_CONFIG_FOR_TRAINING, err), err);

    /* every key reads back as the printout prints it */
    char *text = swat_config_to_string(&a);
    int nkeys = for_each_line(text, check_get, &a);
    assert_true(nkeys >= 40);
    expect_ok(swat_config_get(&a, "data.train", out, sizeof out, err), err);
    assert_string_equal(out, "data/train shard *.bin");

    /* refusals name the key and what would work */
    EXPECT_ERROR(swat_config_get(&a, "train.lrr", out, sizeof out, err), err, "train.lrr",
                 "did you mean train.lr?");
    EXPECT_ERROR(swat_config_get(&a, "lr", out, sizeof out, err), err, "lr: expected section.key");
    EXPECT_ERROR(swat_config_get(&a, "train.", out, sizeof out, err), err, "expected section.key");
    EXPECT_ERROR(swat_config_get(&a, "trian.lr", out, sizeof out, err), err, "unknown section [trian]");
    /* an unset required key is empty */
    swat_config_defaults(&a);
    expect_ok(swat_config_get(&a, "model.hidden_size", out, sizeof out, err), err);
    assert_string_equal(out, "");

    /* the reference: one table row and one text entry per key of the printout */
    char *doc = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&doc, &len);
    assert_non_null(f);
    swat_config_write_keys(f, SWAT_CONFIG_KEYS_MARKDOWN);
    fclose(f);
    assert_int_equal(for_each_line(text, check_listed, doc), nkeys);
    assert_int_equal(count_lines_starting(doc, "| `"), nkeys);
    expect_in(doc, "| `hidden_size` | integer | required | [1, 2147483647] | d, the width");
    expect_in(doc, "| `lr` | real | 0.0003 | > 0 |");
    expect_in(doc, "| `beta2` | real | 0.95 | [0, 1) |");
    expect_in(doc, "| `attention` | enum | sigmoid | `sigmoid`, `softmax` |");
    expect_in(doc, "| `steps` | integer | required to train | >= 1 |");
    expect_in(doc, "| `init_from` | string | (empty) | up to 1023 characters |");
    expect_in(doc, "256\\*ceil"); /* '*' escaped for Markdown */
    free(doc);
    f = open_memstream(&doc, &len);
    assert_non_null(f);
    swat_config_write_keys(f, SWAT_CONFIG_KEYS_TEXT);
    fclose(f);
    assert_int_equal(count_lines_starting(doc, "model.") + count_lines_starting(doc, "train.") +
                         count_lines_starting(doc, "data.") + count_lines_starting(doc, "parallel.") +
                         count_lines_starting(doc, "checkpoint."),
                     nkeys);
    expect_in(doc, "\ntrain.lr: real > 0; default 0.0003\n    peak learning rate");
    free(doc);
    free(text);
}

/* alibi_magnitudes: parsed, resolved by finalize (auto -> halving for
 * balanced, alibi otherwise), printed resolved, part of the model identity. */
static void test_alibi_magnitudes(void **state)
{
    (void)state;
    char err[SWAT_ERR_LEN];
    static const struct {
        int alibi, mags, resolved;
    } cases[] = {
        {SWAT_ALIBI_BALANCED, SWAT_ALIBI_MAG_AUTO, SWAT_ALIBI_MAG_HALVING},
        {SWAT_ALIBI_NEGATIVE, SWAT_ALIBI_MAG_AUTO, SWAT_ALIBI_MAG_ALIBI},
        {SWAT_ALIBI_POSITIVE, SWAT_ALIBI_MAG_AUTO, SWAT_ALIBI_MAG_ALIBI},
        {SWAT_ALIBI_NONE, SWAT_ALIBI_MAG_AUTO, SWAT_ALIBI_MAG_ALIBI},
        {SWAT_ALIBI_BALANCED, SWAT_ALIBI_MAG_ALIBI, SWAT_ALIBI_MAG_ALIBI},
        {SWAT_ALIBI_NEGATIVE, SWAT_ALIBI_MAG_HALVING, SWAT_ALIBI_MAG_HALVING},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        swat_config c = train_config();
        c.model.alibi = cases[i].alibi, c.model.alibi_magnitudes = cases[i].mags;
        expect_ok(swat_config_finalize(&c, SWAT_CONFIG_FOR_TRAINING, err), err);
        assert_int_equal(c.model.alibi_magnitudes, cases[i].resolved);
        /* finalize is idempotent and the printout reads back to the same */
        swat_config again = c, back;
        expect_ok(swat_config_finalize(&again, SWAT_CONFIG_FOR_TRAINING, err), err);
        assert_int_equal(again.model.alibi_magnitudes, cases[i].resolved);
        char *text = swat_config_to_string(&c);
        assert_non_null(strstr(text, cases[i].resolved == SWAT_ALIBI_MAG_HALVING
                                         ? "alibi_magnitudes = halving\n"
                                         : "alibi_magnitudes = alibi\n"));
        swat_config_defaults(&back);
        expect_ok(swat_config_load_string(&back, text, "printed", err), err);
        assert_int_equal(back.model.alibi_magnitudes, cases[i].resolved);
        free(text);
    }

    /* spelled in a file or with --set, any case */
    swat_config c;
    load_ok(&c, "[model]\nalibi_magnitudes = HALVING\n");
    assert_int_equal(c.model.alibi_magnitudes, SWAT_ALIBI_MAG_HALVING);
    expect_ok(swat_config_set(&c, "model.alibi_magnitudes=alibi", err), err);
    assert_int_equal(c.model.alibi_magnitudes, SWAT_ALIBI_MAG_ALIBI);
    EXPECT_ERROR(swat_config_set(&c, "model.alibi_magnitudes=2", err), err,
                 "not one of auto, halving, alibi");

    /* A checkpoint written before the key existed (no alibi_magnitudes line)
     * resolves to the model it was trained as: the same model as a config
     * that says auto, or the explicit family. */
    swat_config a = train_config(), b = train_config();
    b.model.alibi_magnitudes = SWAT_ALIBI_MAG_HALVING;
    expect_ok(swat_config_finalize(&b, SWAT_CONFIG_FOR_TRAINING, err), err);
    assert_int_equal(swat_config_same_model(&a.model, &b.model, err), 1);
    b.model.alibi_magnitudes = SWAT_ALIBI_MAG_ALIBI;
    assert_int_equal(swat_config_same_model(&a.model, &b.model, err), 0);
    expect_in(err, "alibi_magnitudes differs: halving vs alibi");

    /* out of the enum when set in code */
    a.model.alibi_magnitudes = 3;
    EXPECT_ERROR(swat_config_finalize(&a, SWAT_CONFIG_FOR_MODEL, err), err, "[model] alibi_magnitudes");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_full_file),
        cmocka_unit_test(test_bad_ints),
        cmocka_unit_test(test_bad_reals),
        cmocka_unit_test(test_bad_bools_enums_strings),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_comments),
        cmocka_unit_test(test_failed_load_keeps_config),
        cmocka_unit_test(test_set_good),
        cmocka_unit_test(test_set_bad),
        cmocka_unit_test(test_required_keys),
        cmocka_unit_test(test_relations),
        cmocka_unit_test(test_derived_intermediate),
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_write_roundtrip),
        cmocka_unit_test(test_same_model),
        cmocka_unit_test(test_get_and_reference),
        cmocka_unit_test(test_alibi_magnitudes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
