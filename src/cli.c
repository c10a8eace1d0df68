/* SPDX-License-Identifier: MIT */
/* cli.c: the command line of every swat program (see cli.h), and the two
 * things more than one program does with it: read a config with its --set
 * overrides, and load a model from a checkpoint.
 *
 * The parser is getopt_long in its "return in order" mode (optstring "-:…"):
 * positional arguments come back as SWAT_CLI_ARG where they stand, so a
 * program sees its command line in the order it was typed, and POSIXLY_CORRECT
 * in the environment changes nothing. The leading ':' makes a missing value a
 * case of its own. getopt_long's own messages are off (opterr = 0): they are
 * several lines on several ranks and do not say what was expected, so on an
 * error the element getopt_long stopped at is looked at again here, and err
 * gets one line naming the option, what is wrong with it and what was
 * expected. getopt_long keeps its position in globals (optind): a walk is
 * started afresh by swat_cli_init (optind = 0, glibc's full reset), and only
 * one walk may be under way at a time. */
#include "swat/cli.h"

#include "swat/ckpt.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Keys of the built-in options: beyond any key a program may use. */
enum { KEY_HELP = 'h', KEY_VERSION = 0x7ffffff0 };

static int is_letter_key(int key) { return key < 256; }

void swat_cli_init(swat_cli *cli, const swat_cli_program *prog, int argc, char **argv, int quiet)
{
    memset(cli, 0, sizeof *cli);
    cli->prog = prog;
    cli->argc = argc;
    cli->argv = argv;
    cli->quiet = quiet;
    cli->rest = -1;
    char *s = cli->shortopts;
    *s++ = '-'; /* positional arguments in place, as key 1 */
    *s++ = ':'; /* a missing value returns ':' */
    int n = 0;
    for (const swat_cli_option *o = prog->options; o && o->name; o++, n++) {
        SWAT_ASSERT(n < SWAT_CLI_MAX_OPTIONS);
        SWAT_ASSERT(o->key > SWAT_CLI_ARG && o->key != KEY_HELP && o->key != KEY_VERSION &&
                    o->key != '?' && o->key != ':');
        SWAT_ASSERT(strlen(o->name) + 3 <= sizeof cli->flagbuf);
        cli->longopts[n] = (struct option){o->name, o->value ? required_argument : no_argument,
                                           NULL, o->key};
        if (is_letter_key(o->key)) {
            SWAT_ASSERT((o->key >= 'a' && o->key <= 'z') || (o->key >= 'A' && o->key <= 'Z') ||
                        (o->key >= '0' && o->key <= '9'));
            *s++ = (char)o->key;
            if (o->value) *s++ = ':';
        }
    }
    cli->longopts[n++] = (struct option){"help", no_argument, NULL, KEY_HELP};
    cli->longopts[n++] = (struct option){"version", no_argument, NULL, KEY_VERSION};
    cli->longopts[n] = (struct option){0};
    *s++ = 'h';
    *s = '\0';
    optind = 0; /* glibc: start a new scan */
    opterr = 0;
}

static const swat_cli_option *find_option(const swat_cli_program *prog, int key)
{
    for (const swat_cli_option *o = prog->options; o && o->name; o++)
        if (o->key == key) return o;
    return NULL;
}

/* The long options (built-ins included) whose name starts with the len
 * characters of name: the exact match if there is one, else the only prefix
 * match; *count gets the number of prefix matches. */
static const struct option *match_long(const swat_cli *cli, const char *name, size_t len, int *count)
{
    const struct option *hit = NULL;
    *count = 0;
    for (const struct option *o = cli->longopts; o->name; o++) {
        if (strncmp(o->name, name, len) != 0) continue;
        if (strlen(o->name) == len) {
            *count = 1;
            return o;
        }
        hit = o;
        ++*count;
    }
    return *count == 1 ? hit : NULL;
}

static void set_flag(swat_cli *cli, const char *name)
{
    snprintf(cli->flagbuf, sizeof cli->flagbuf, "--%s", name);
    cli->flag = cli->flagbuf;
}

/* What the value of an option should look like, for messages. */
static const char *expected_value(const swat_cli *cli, int key)
{
    const swat_cli_option *o = find_option(cli->prog, key);
    return o && o->value ? o->value : "a value";
}

/* getopt_long refused the element `token` (it returned '?' or ':'): one line
 * saying why. */
static int explain(swat_cli *cli, const char *token, int ret, char *err)
{
    const char *name = cli->prog->name;
    if (token[0] == '-' && token[1] == '-') {
        const char *eq = strchr(token + 2, '=');
        size_t len = eq ? (size_t)(eq - token - 2) : strlen(token + 2);
        int count;
        const struct option *o = match_long(cli, token + 2, len, &count);
        if (count > 1) {
            char list[256];
            size_t used = 0;
            for (const struct option *p = cli->longopts; p->name && used < sizeof list; p++)
                if (!strncmp(p->name, token + 2, len))
                    used += (size_t)snprintf(list + used, sizeof list - used, "%s--%s",
                                             used ? ", " : "", p->name);
            return swat_errf(err, "option '%.*s' is ambiguous: it could be %s", (int)len + 2, token,
                             list);
        }
        if (!o)
            return swat_errf(err, "unknown option '%.*s' (%s --help lists the options)",
                             (int)len + 2, token, name);
        if (ret == ':' || (o->has_arg == required_argument && !eq))
            return swat_errf(err, "--%s needs a value: %s", o->name, expected_value(cli, o->val));
        return swat_errf(err, "--%s takes no value (got '%s')", o->name, token);
    }
    /* a short option: optopt is the letter getopt_long stopped at */
    if (ret == ':') {
        const swat_cli_option *o = find_option(cli->prog, optopt);
        return swat_errf(err, "-%c%s%s%s needs a value: %s", optopt, o ? " (--" : "",
                         o ? o->name : "", o ? ")" : "", expected_value(cli, optopt));
    }
    if (optopt > ' ' && optopt < 127)
        return swat_errf(err, "unknown option '-%c' (%s --help lists the options)", optopt, name);
    return swat_errf(err, "unknown option '%s' (%s --help lists the options)", token, name);
}

/* A positional argument, unless the program takes no more of them. */
static int positional(swat_cli *cli, const char *arg, const char **value, char *err)
{
    if (cli->prog->max_args > 0 && cli->nargs >= cli->prog->max_args)
        return swat_cli_usage_errf(cli, err, "unexpected argument '%s'", arg);
    cli->nargs++;
    *value = arg;
    return SWAT_CLI_ARG;
}

int swat_cli_next(swat_cli *cli, const char **value, char *err)
{
    *value = NULL;
    cli->flag = NULL;
    if (cli->rest >= 0) { /* after "--": everything is positional */
        if (cli->rest >= cli->argc) return SWAT_CLI_END;
        return positional(cli, cli->argv[cli->rest++], value, err);
    }
    int at = optind > 0 ? optind : 1; /* the element getopt_long looks at next */
    int index = -1;
    int key = getopt_long(cli->argc, cli->argv, cli->shortopts, cli->longopts, &index);
    if (key == -1) {
        cli->rest = optind;
        return swat_cli_next(cli, value, err);
    }
    if (key == '?' || key == ':') {
        /* no permutation: the element examined is the one optind pointed at
         * (a short-option group "-xy" keeps optind until its last letter) */
        return explain(cli, at < cli->argc ? cli->argv[at] : "", key, err);
    }
    if (key == SWAT_CLI_ARG) return positional(cli, optarg, value, err);
    if (index >= 0)
        set_flag(cli, cli->longopts[index].name);
    else { /* a letter: its long name */
        const swat_cli_option *o = find_option(cli->prog, key);
        set_flag(cli, o ? o->name : "help");
    }
    if (key == KEY_HELP) {
        if (!cli->quiet) {
            swat_cli_usage(cli->prog, stdout);
            fflush(stdout);
        }
        return SWAT_CLI_EXIT;
    }
    if (key == KEY_VERSION) {
        if (!cli->quiet) {
            printf("%s %s\n", cli->prog->name, swat_version());
            fflush(stdout);
        }
        return SWAT_CLI_EXIT;
    }
    *value = optarg;
    return key;
}

/* ---- --help ---------------------------------------------------------------------- */

enum { WIDTH = 79, MAX_LEFT = 30 };

/* Writes text from column col (the cursor is there) to WIDTH, continuing
 * wrapped lines at column indent; words longer than a line are not cut. */
static void write_wrapped(FILE *out, const char *text, int col, int indent)
{
    const char *p = text;
    while (*p) {
        size_t word = strcspn(p, " ");
        if (col > indent && col + 1 + (int)word > WIDTH) {
            fprintf(out, "\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', out);
            col++;
        }
        fwrite(p, 1, word, out);
        col += (int)word;
        p += word;
        while (*p == ' ') p++;
    }
    fputc('\n', out);
}

/* Paragraph text: each line (split at '\n') wrapped to WIDTH, its
 * continuation lines indented as the line itself is. */
static void write_paragraphs(FILE *out, const char *text)
{
    char line[1024];
    while (*text) {
        size_t len = strcspn(text, "\n");
        snprintf(line, sizeof line, "%.*s", (int)len, text);
        int lead = (int)strspn(line, " ");
        fprintf(out, "%*s", lead, "");
        write_wrapped(out, line + lead, lead, lead);
        text += len + (text[len] == '\n');
    }
}

static int option_left(char *buf, size_t n, int key, const char *name, const char *value)
{
    char letter[8] = "    ";
    if (is_letter_key(key)) snprintf(letter, sizeof letter, "-%c, ", key);
    return snprintf(buf, n, "  %s--%s%s%s", letter, name, value ? " " : "", value ? value : "");
}

void swat_cli_usage(const swat_cli_program *prog, FILE *out)
{
    fprintf(out, "usage: %s %s\n", prog->name, prog->synopsis);
    if (prog->about) {
        fputc('\n', out);
        write_paragraphs(out, prog->about);
    }
    char left[128], version_help[96];
    snprintf(version_help, sizeof version_help, "print \"%s %s\" and exit", prog->name,
             swat_version());
    const swat_cli_option builtin[] = {
        {"help", KEY_HELP, NULL, "print this help and exit"},
        {"version", KEY_VERSION, NULL, version_help},
        {0},
    };
    int col = 0;
    for (int pass = 0; pass < 2; pass++)
        for (const swat_cli_option *o = pass ? builtin : prog->options; o && o->name; o++) {
            int w = option_left(left, sizeof left, o->key, o->name, o->value);
            if (w <= MAX_LEFT && w > col) col = w;
        }
    col += 2;
    fprintf(out, "\noptions:\n");
    for (int pass = 0; pass < 2; pass++)
        for (const swat_cli_option *o = pass ? builtin : prog->options; o && o->name; o++) {
            int w = option_left(left, sizeof left, o->key, o->name, o->value);
            fputs(left, out);
            if (w + 2 > col) {
                fprintf(out, "\n%*s", col, "");
            } else {
                fprintf(out, "%*s", col - w, "");
            }
            write_wrapped(out, o->help, col, col);
        }
    if (prog->epilog) {
        fputc('\n', out);
        write_paragraphs(out, prog->epilog);
    }
}

int swat_cli_usage_errf(const swat_cli *cli, char *err, const char *fmt, ...)
{
    char msg[SWAT_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return swat_errf(err, "%s (usage: %s %s; %s --help for more)", msg, cli->prog->name,
                     cli->prog->synopsis, cli->prog->name);
}

/* ---- what the programs share ------------------------------------------------------ */

int swat_cli_precision(const char *flag, const char *value, int *out, char *err)
{
    if (!strcmp(value, "fp32")) *out = SWAT_PREC_FP32;
    else if (!strcmp(value, "bf16")) *out = SWAT_PREC_BF16;
    else return swat_errf(err, "%s %s: expected fp32 or bf16", flag, value);
    return 0;
}

int swat_cli_load_config(swat_config *cfg, const char *path, const char *const *sets, int nsets,
                         swat_config_use use, char *err)
{
    swat_config_defaults(cfg);
    if (swat_config_load_file(cfg, path, err)) return -1;
    for (int i = 0; i < nsets; i++)
        if (swat_config_set(cfg, sets[i], err)) return -1;
    return swat_config_finalize(cfg, use, err);
}

swat_model *swat_cli_load_model(swat_comm *comm, const char *path, const swat_config *cfg,
                                char *err)
{
    int world = swat_comm_size(comm, SWAT_SCOPE_WORLD);
    int rank = swat_comm_rank(comm, SWAT_SCOPE_WORLD);
    swat_model *m = swat_model_create(&cfg->model, (size_t)world);
    size_t lo, hi;
    swat_ckpt_shard(m->nparams_pad, world, rank, &lo, &hi);
    if (swat_ckpt_load(comm, path, m, m->params, NULL, NULL, lo, hi, NULL, err)) {
        swat_model_free(m);
        return NULL;
    }
    if (world > 1) swat_comm_allgather(comm, m->params, hi - lo);
    swat_model_params_changed(m);
    return m;
}
