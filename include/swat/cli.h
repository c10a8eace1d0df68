/* SPDX-License-Identifier: MIT */
/* cli.h: what the swat programs share above the library: one command-line
 * parser (on getopt_long), the "CONFIG.ini [--set section.key=value]…" pair,
 * and loading a model from a checkpoint.
 *
 * The parser gives every program the same command line: options anywhere
 * among the positional arguments, `--opt value` and `--opt=value` alike, an
 * unambiguous prefix of a long name accepted (getopt_long's rule), `--` ends
 * the options, `-h`/`--help` prints the usage on stdout (generated from the
 * option table, so it cannot miss an option) and `--version` prints
 * "<program> <version>" from the repository's VERSION file. Every mistake
 * becomes one line in err naming the option and what was expected.
 *
 * A program describes its options in a table and walks the command line
 * with swat_cli_next, as it would with getopt_long:
 *
 *     enum { OPT_VOCAB = 256, OPT_OUT };
 *     static const swat_cli_option options[] = {
 *         {"vocab-size", OPT_VOCAB, "N", "tokens in the vocabulary"},
 *         {"out", 'o', "PREFIX", "writes PREFIX.model and PREFIX.vocab"},
 *         {"verbose", 'v', NULL, "one line per file"},   (a flag: no value)
 *         {0}};
 *     static const swat_cli_program program = {
 *         "swat-tokenize", "--vocab-size N --out PREFIX FILE...",
 *         "Trains a tokenizer on the files.", NULL, options, 0};   (0: any number of FILEs)
 *
 *     swat_cli cli;
 *     swat_cli_init(&cli, &program, argc, argv, rank != 0);
 *     const char *val;
 *     int key;
 *     while ((key = swat_cli_next(&cli, &val, err)) > 0) {
 *         switch (key) {
 *         case SWAT_CLI_ARG: files[nfiles++] = val; break;   (positional)
 *         case OPT_VOCAB: if (swat_arg_i64(cli.flag, val, 2, &vocab, err)) return -1; break;
 *         case 'o': out = val; break;
 *         case 'v': verbose = 1; break;
 *         }
 *     }
 *     key is now 0 (done), SWAT_CLI_EXIT (--help or --version answered:
 *     exit 0) or SWAT_CLI_ERROR (err holds the line: exit 2).
 *
 * Under MPI every rank parses the same command line and so reaches the same
 * result; `quiet` (rank ≠ 0) keeps the other ranks from printing the help. */
#ifndef SWAT_CLI_H
#define SWAT_CLI_H

#include "swat/comm.h"
#include "swat/common.h"
#include "swat/config.h"
#include "swat/model.h"

#include <getopt.h>

/* What swat_cli_next returns besides an option's key. */
enum {
    SWAT_CLI_END = 0,    /* the command line is used up */
    SWAT_CLI_ARG = 1,    /* a positional argument, in *value */
    SWAT_CLI_ERROR = -1, /* err holds one line */
    SWAT_CLI_EXIT = -2,  /* --help or --version was printed: exit 0 */
};

typedef struct swat_cli_option {
    const char *name;  /* long name, without "--" */
    int key;           /* returned for it: a letter (then -<letter> works too) or ≥ 256 */
    const char *value; /* the value's name in --help ("N", "FILE"); NULL for a flag */
    const char *help;  /* for --help; wrapped to the terminal's 80 columns */
} swat_cli_option;

typedef struct swat_cli_program {
    const char *name;     /* "swat-eval" */
    const char *synopsis; /* after the name on the usage line: "CKPT.h5 --data FILE [options]" */
    const char *about;    /* under the usage line; may be NULL */
    const char *epilog;   /* after the options (exit statuses, …); may be NULL */
    /* about and epilog are wrapped to 79 columns; '\n' starts a new line,
     * whose continuations keep its indentation */
    const swat_cli_option *options; /* ends with {0} */
    int max_args; /* positional arguments taken; a further one is refused; 0: any number */
} swat_cli_program;

/* The --set row of the programs that take a config (swat_cli_load_config). */
#define SWAT_CLI_OPTION_SET(key)                                                                   \
    {"set", (key), "SECTION.KEY=VALUE",                                                            \
     "override one config key; repeatable, applied after the file in the order given"}

#define SWAT_CLI_MAX_OPTIONS 40

typedef struct swat_cli {
    /* public: "--name" of the option swat_cli_next returned last (the full
     * name, whatever prefix was typed), for messages such as swat_arg_i64's */
    const char *flag;
    /* private */
    const swat_cli_program *prog;
    int argc, quiet, rest, nargs;
    char **argv;
    struct option longopts[SWAT_CLI_MAX_OPTIONS + 3];
    char shortopts[3 * SWAT_CLI_MAX_OPTIONS + 8];
    char flagbuf[64];
} swat_cli;

/* Prepares a walk over argv[1 …]; quiet: never print (--help, --version). */
void swat_cli_init(swat_cli *cli, const swat_cli_program *prog, int argc, char **argv, int quiet);

/* The next option's key with its value in *value (NULL for a flag), or
 * SWAT_CLI_ARG with a positional argument, or one of SWAT_CLI_END,
 * SWAT_CLI_EXIT, SWAT_CLI_ERROR (then err: an unknown or ambiguous option, a
 * missing value, a value given to a flag, a positional argument beyond
 * max_args). */
int swat_cli_next(swat_cli *cli, const char **value, char *err);

/* Writes the --help text. */
void swat_cli_usage(const swat_cli_program *prog, FILE *out);

/* Formats "<message> (usage: <name> <synopsis>; <name> --help for more)"
 * into err and returns −1: for a missing or surplus positional argument. */
int swat_cli_usage_errf(const swat_cli *cli, char *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The --precision option of swat-eval and swat-generate: "fp32" or "bf16"
 * into *out (a swat_precision); −1 with err naming the flag otherwise. */
int swat_cli_precision(const char *flag, const char *value, int *out, char *err);

/* The config of swat-train and swat-bench: defaults, then the file, then
 * the --set overrides in command-line order, then swat_config_finalize(use).
 * The layout against the world size is the caller's (swat_config_check_layout). */
int swat_cli_load_config(swat_config *cfg, const char *path, const char *const *sets, int nsets,
                         swat_config_use use, char *err);

/* Collective over comm's world: builds the model of cfg (the checkpoint's
 * own config, from swat_ckpt_read_config) and loads its parameters from the
 * checkpoint at path, each rank reading its shard, then all-gathers them.
 * Returns the model, or NULL with err set on every rank. */
swat_model *swat_cli_load_model(swat_comm *comm, const char *path, const swat_config *cfg,
                                char *err);

#endif
