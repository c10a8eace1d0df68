/* SPDX-License-Identifier: MIT */
/* fuzz_config.c: libFuzzer harness for the INI config parser (config.c).
 *
 * The input is INI text. A config that loads must survive finalize and the
 * layout check at a few world sizes, and print to text that reads back to the
 * same struct (docs/config.md: the resolved config written to DIR/config.ini and to a
 * checkpoint is read back by a resume). Any difference is a finding: abort. */
#include "fuzz.h"
#include "swat/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Field by field: comparing the whole struct would compare padding bytes. */
#define SAME(a, b, f) (memcmp(&(a)->f, &(b)->f, sizeof (a)->f) == 0)
static int same_config(const swat_config *a, const swat_config *b)
{
    return SAME(a, b, model.vocab_size) && SAME(a, b, model.hidden_size) &&
           SAME(a, b, model.num_hidden_layers) && SAME(a, b, model.num_heads) &&
           SAME(a, b, model.intermediate_size) && SAME(a, b, model.window_size) &&
           SAME(a, b, model.rope_theta) && SAME(a, b, model.rope) && SAME(a, b, model.norm_eps) &&
           SAME(a, b, model.tie_word_embeddings) && SAME(a, b, model.attention) &&
           SAME(a, b, model.alibi) && SAME(a, b, model.alibi_magnitudes) &&
           SAME(a, b, model.sigmoid_bias) &&
           SAME(a, b, model.initializer_range) && SAME(a, b, train.lr) &&
           SAME(a, b, train.beta1) && SAME(a, b, train.beta2) && SAME(a, b, train.eps) &&
           SAME(a, b, train.weight_decay) && SAME(a, b, train.grad_clip) &&
           SAME(a, b, train.warmup_steps) && SAME(a, b, train.lr_schedule) &&
           SAME(a, b, train.min_lr_ratio) && SAME(a, b, train.steps) && SAME(a, b, train.seed) &&
           SAME(a, b, train.micro_batch) && SAME(a, b, train.eval_every) &&
           !strcmp(a->train.init_from, b->train.init_from) && SAME(a, b, train.peak_gflops) &&
           SAME(a, b, train.log_every) && SAME(a, b, train.recompute) &&
           SAME(a, b, train.on_nonfinite) && !strcmp(a->data.train, b->data.train) &&
           !strcmp(a->data.val, b->data.val) && SAME(a, b, data.format) &&
           SAME(a, b, data.seq_len) && SAME(a, b, data.batch_size) && SAME(a, b, data.shuffle) &&
           SAME(a, b, data.val_samples) && SAME(a, b, parallel.sp) &&
           SAME(a, b, parallel.threads) && !strcmp(a->checkpoint.dir, b->checkpoint.dir) &&
           SAME(a, b, checkpoint.every) && SAME(a, b, checkpoint.keep);
}

/* Prints text, reads it back, and aborts unless the struct is unchanged. */
static void round_trip(const swat_config *cfg, const char *what)
{
    char err[SWAT_ERR_LEN];
    char *text = swat_config_to_string(cfg);
    swat_config back;
    swat_config_defaults(&back);
    if (swat_config_load_string(&back, text, "printed", err)) {
        fprintf(stderr, "fuzz_config: %s config does not read back: %s\n---\n%s---\n", what, err,
                text);
        abort();
    }
    if (!same_config(cfg, &back)) {
        char *again = swat_config_to_string(&back);
        fprintf(stderr, "fuzz_config: %s config reads back different\n---\n%s---\n%s---\n", what,
                text, again);
        abort();
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[SWAT_ERR_LEN];
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';

    swat_config cfg;
    swat_config_defaults(&cfg);
    int loaded = swat_config_load_string(&cfg, text, "fuzz", err) == 0;
    free(text);
    if (!loaded) return 0;
    if (!memchr(err, 0, sizeof err)) abort();
    round_trip(&cfg, "loaded");

    swat_config fin[2];
    for (int use = 0; use < 2; use++) {
        fin[use] = cfg;
        if (swat_config_finalize(&fin[use], (swat_config_use)use, err)) continue;
        round_trip(&fin[use], "finalized");
        static const int worlds[] = {1, 2, 3, 4, 8, 1000003};
        for (size_t i = 0; i < sizeof worlds / sizeof worlds[0]; i++)
            (void)swat_config_check_layout(&fin[use], worlds[i], err);
        (void)swat_config_same_model(&cfg.model, &fin[use].model, err);
    }
    return 0;
}
