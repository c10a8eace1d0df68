/* SPDX-License-Identifier: MIT */
/* test_cli.c: the command-line parser of cli.c (on getopt_long), the
 * config-plus---set helper and swat_mkdir_p.
 *
 * Every program's command line goes through swat_cli_next, so what it must
 * guarantee is checked here once, on a table shaped like the programs'
 * (values, flags, a letter alias): both value spellings give the same
 * result, positional arguments keep their place, and every mistake is one
 * line that names the option and what was expected. The programs' own
 * answers (--help on stdout, --version, exit statuses) are checked end to end
 * by tests/run_cli.sh. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "swat/cli.h"

enum { OPT_DATA = 256, OPT_MAX_SAMPLES, OPT_MAX_TOKENS, OPT_POSITIONS, OPT_SEED };

static const swat_cli_option options[] = {
    {"data", OPT_DATA, "FILE", "the tokens"},
    {"max-samples", OPT_MAX_SAMPLES, "N", "samples scored"},
    {"max-tokens", OPT_MAX_TOKENS, "N", "tokens generated"},
    {"positions", OPT_POSITIONS, NULL, "a flag"},
    {"seed", OPT_SEED, "S", "a number that may be negative in a test"},
    {"out", 'o', "PREFIX",
     "a letter alias, and a help text long enough to be wrapped over more than one line of "
     "the usage, which must stay within 79 columns whatever the words"},
    {0},
};

static const swat_cli_program program = {
    "swat-test", "IN [options]",
    "About it: a paragraph long enough to need wrapping, since the usage wraps the texts of a "
    "program to 79 columns as it does the help of its options.\n  An indented line.",
    "Epilog.", options, 0};
/* the same, taking one positional argument */
static const swat_cli_program one_arg = {"swat-one", "IN", NULL, NULL, options, 1};

/* The table parse() walks with. */
static const swat_cli_program *g_prog = &program;

/* One parsed element: its key and value (or the error line). */
typedef struct item {
    int key;
    char value[128];
    char flag[64];
} item;

/* Parses argv (NULL-terminated) into items; returns the final status. */
static int parse(item *out, int *n, const char *first, ...)
{
    static char copies[32][64]; /* getopt_long takes char *argv[] */
    char *argv[32] = {copies[0]};
    int argc = 1;
    strcpy(copies[0], "swat-test");
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && argc < 31; a = va_arg(ap, const char *)) {
        snprintf(copies[argc], sizeof copies[argc], "%s", a);
        argv[argc] = copies[argc];
        argc++;
    }
    va_end(ap);
    argv[argc] = NULL;
    swat_cli cli;
    swat_cli_init(&cli, g_prog, argc, argv, 1);
    char err[SWAT_ERR_LEN] = "";
    const char *val;
    int key;
    *n = 0;
    while ((key = swat_cli_next(&cli, &val, err)) > 0) {
        out[*n].key = key;
        snprintf(out[*n].value, sizeof out[*n].value, "%s", val ? val : "(null)");
        snprintf(out[*n].flag, sizeof out[*n].flag, "%s", cli.flag ? cli.flag : "(null)");
        ++*n;
    }
    if (key == SWAT_CLI_ERROR) {
        out[*n].key = key;
        snprintf(out[*n].value, sizeof out[*n].value, "%s", err);
        assert_null(strchr(err, '\n'));
    }
    return key;
}
#define PARSE(out, n, ...) parse(out, n, __VA_ARGS__, (const char *)NULL)

static void expect_in(const char *msg, const char *piece)
{
    if (!strstr(msg, piece)) fail_msg("message \"%s\" lacks \"%s\"", msg, piece);
}

static void test_value_forms_agree(void **state)
{
    (void)state;
    item a[8], b[8];
    int na, nb;
    assert_int_equal(PARSE(a, &na, "in", "--data", "x.bin", "--seed", "-5", "-o", "p"), SWAT_CLI_END);
    assert_int_equal(PARSE(b, &nb, "in", "--data=x.bin", "--seed=-5", "--out=p"), SWAT_CLI_END);
    assert_int_equal(na, 4);
    assert_int_equal(nb, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(a[i].key, b[i].key);
        assert_string_equal(a[i].value, b[i].value);
    }
    assert_int_equal(a[1].key, OPT_DATA);
    assert_string_equal(a[1].value, "x.bin");
    assert_string_equal(a[1].flag, "--data");
    /* a value may start with '-' */
    assert_string_equal(a[2].value, "-5");
    /* the letter alias reports the long name */
    assert_int_equal(a[3].key, 'o');
    assert_string_equal(a[3].flag, "--out");
    /* -oVALUE, as getopt allows */
    assert_int_equal(PARSE(a, &na, "-op"), SWAT_CLI_END);
    assert_int_equal(a[0].key, 'o');
    assert_string_equal(a[0].value, "p");
    /* an empty value is a value */
    assert_int_equal(PARSE(a, &na, "--data="), SWAT_CLI_END);
    assert_string_equal(a[0].value, "");
}

static void test_positional_in_place(void **state)
{
    (void)state;
    item it[8];
    int n;
    assert_int_equal(PARSE(it, &n, "--positions", "one", "--data", "d", "two"), SWAT_CLI_END);
    assert_int_equal(n, 4);
    assert_int_equal(it[0].key, OPT_POSITIONS);
    assert_string_equal(it[0].value, "(null)");
    assert_int_equal(it[1].key, SWAT_CLI_ARG);
    assert_string_equal(it[1].value, "one");
    assert_int_equal(it[2].key, OPT_DATA);
    assert_int_equal(it[3].key, SWAT_CLI_ARG);
    assert_string_equal(it[3].value, "two");
    /* after "--" everything is positional, options included */
    assert_int_equal(PARSE(it, &n, "a", "--", "--data", "-o"), SWAT_CLI_END);
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++) assert_int_equal(it[i].key, SWAT_CLI_ARG);
    assert_string_equal(it[1].value, "--data");
    assert_string_equal(it[2].value, "-o");
    /* "-" alone is an argument (standard input, by convention) */
    assert_int_equal(PARSE(it, &n, "-"), SWAT_CLI_END);
    assert_int_equal(it[0].key, SWAT_CLI_ARG);
    /* POSIXLY_CORRECT must not stop the scan at the first positional */
    setenv("POSIXLY_CORRECT", "1", 1);
    int rc = PARSE(it, &n, "one", "--positions");
    unsetenv("POSIXLY_CORRECT");
    assert_int_equal(rc, SWAT_CLI_END);
    assert_int_equal(n, 2);
    assert_int_equal(it[1].key, OPT_POSITIONS);
}

static void test_prefixes(void **state)
{
    (void)state;
    item it[8];
    int n;
    /* an unambiguous prefix is the option, reported by its full name */
    assert_int_equal(PARSE(it, &n, "--max-t", "5", "--pos"), SWAT_CLI_END);
    assert_int_equal(it[0].key, OPT_MAX_TOKENS);
    assert_string_equal(it[0].flag, "--max-tokens");
    assert_int_equal(it[1].key, OPT_POSITIONS);
    /* an ambiguous one is named with its candidates */
    assert_int_equal(PARSE(it, &n, "--max", "5"), SWAT_CLI_ERROR);
    expect_in(it[n].value, "'--max' is ambiguous");
    expect_in(it[n].value, "--max-samples, --max-tokens");
}

static void test_errors(void **state)
{
    (void)state;
    item it[8];
    int n;
    assert_int_equal(PARSE(it, &n, "in", "--frobnicate"), SWAT_CLI_ERROR);
    expect_in(it[n].value, "unknown option '--frobnicate'");
    expect_in(it[n].value, "swat-test --help");
    assert_int_equal(PARSE(it, &n, "--frobnicate=3"), SWAT_CLI_ERROR);
    expect_in(it[n].value, "unknown option '--frobnicate'");
    assert_int_equal(PARSE(it, &n, "-x"), SWAT_CLI_ERROR);
    expect_in(it[n].value, "unknown option '-x'");
    /* a missing value names the option and what it takes */
    assert_int_equal(PARSE(it, &n, "in", "--data"), SWAT_CLI_ERROR);
    expect_in(it[n].value, "--data needs a value: FILE");
    assert_int_equal(PARSE(it, &n, "-o"), SWAT_CLI_ERROR);
    expect_in(it[n].value, "-o (--out) needs a value: PREFIX");
    /* a flag refuses a value */
    assert_int_equal(PARSE(it, &n, "--positions=yes"), SWAT_CLI_ERROR);
    expect_in(it[n].value, "--positions takes no value (got '--positions=yes')");
    assert_int_equal(PARSE(it, &n, "--help=1"), SWAT_CLI_ERROR);
    expect_in(it[n].value, "--help takes no value");
    /* the elements before the error were delivered */
    assert_int_equal(n, 0);
    assert_int_equal(PARSE(it, &n, "a", "--data", "d", "--bad"), SWAT_CLI_ERROR);
    assert_int_equal(n, 2);
}

static void test_max_args(void **state)
{
    (void)state;
    item it[8];
    int n;
    g_prog = &one_arg;
    int ok = PARSE(it, &n, "--positions", "a", "--data", "d");
    int extra = PARSE(it, &n, "a", "--positions", "b");
    char msg[SWAT_ERR_LEN];
    snprintf(msg, sizeof msg, "%s", it[n].value);
    int after_dashes = PARSE(it, &n, "a", "--", "b");
    g_prog = &program;
    assert_int_equal(ok, SWAT_CLI_END);
    assert_int_equal(extra, SWAT_CLI_ERROR);
    expect_in(msg, "unexpected argument 'b' (usage: swat-one IN; swat-one --help for more)");
    assert_int_equal(after_dashes, SWAT_CLI_ERROR);
    /* 0 takes any number */
    assert_int_equal(PARSE(it, &n, "a", "b", "c"), SWAT_CLI_END);
    assert_int_equal(n, 3);
}

static void test_help_and_version(void **state)
{
    (void)state;
    item it[8];
    int n;
    assert_int_equal(PARSE(it, &n, "--help"), SWAT_CLI_EXIT);
    assert_int_equal(PARSE(it, &n, "in", "-h", "--frobnicate"), SWAT_CLI_EXIT);
    assert_int_equal(PARSE(it, &n, "--version"), SWAT_CLI_EXIT);
    assert_int_equal(PARSE(it, &n, "--vers"), SWAT_CLI_EXIT);

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    swat_cli_usage(&program, f);
    fclose(f);
    expect_in(text, "usage: swat-test IN [options]\n");
    expect_in(text, "\nAbout it: a paragraph");
    expect_in(text, "\n  An indented line.\n");
    expect_in(text, "Epilog.");
    for (const swat_cli_option *o = options; o->name; o++) {
        char want[64];
        snprintf(want, sizeof want, "--%s%s%s", o->name, o->value ? " " : "", o->value ? o->value : "");
        expect_in(text, want);
    }
    expect_in(text, "-o, --out PREFIX");
    expect_in(text, "-h, --help");
    char version[64];
    snprintf(version, sizeof version, "\"swat-test %s\"", swat_version());
    expect_in(text, version);
    /* wrapped to 79 columns; the long help spans lines */
    int lines = 0;
    for (char *line = text, *end; *line; line = end + 1) {
        end = strchr(line, '\n');
        assert_non_null(end);
        if (end - line > 79) fail_msg("line longer than 79 columns: %.*s", (int)(end - line), line);
        lines++;
    }
    assert_true(lines > 12);
    free(text);
}

/* The version is MAJOR.MINOR.PATCH (CMake checks the VERSION file too). */
static void test_version_string(void **state)
{
    (void)state;
    unsigned a, b, c;
    int used = 0;
    assert_int_equal(sscanf(swat_version(), "%u.%u.%u%n", &a, &b, &c, &used), 3);
    assert_true(swat_version()[used] == '\0' || swat_version()[used] == '-' ||
                swat_version()[used] == '+');
}

static void test_load_config(void **state)
{
    (void)state;
    char path[] = "/tmp/swat-test-cli-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "[model]\nhidden_size = 64\nnum_hidden_layers = 2\nnum_heads = 4\n"
                       "window_size = 16\n[train]\nlr = 0.5\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    swat_config cfg;
    char err[SWAT_ERR_LEN] = "";
    /* --set after the file, in order: the last one wins */
    const char *sets[] = {"train.lr=0.25", "model.num_hidden_layers=3", "train.lr=0.125"};
    assert_int_equal(swat_cli_load_config(&cfg, path, sets, 3, SWAT_CONFIG_FOR_MODEL, err), 0);
    assert_true(cfg.train.lr == 0.125);
    assert_int_equal(cfg.model.num_hidden_layers, 3);
    /* finalized: the derived width is resolved */
    assert_int_equal(cfg.model.intermediate_size, 256);
    /* for training the training keys are required */
    assert_int_not_equal(swat_cli_load_config(&cfg, path, NULL, 0, SWAT_CONFIG_FOR_TRAINING, err), 0);
    expect_in(err, "is required");
    /* a bad override is named */
    const char *bad[] = {"train.lr"};
    assert_int_not_equal(swat_cli_load_config(&cfg, path, bad, 1, SWAT_CONFIG_FOR_MODEL, err), 0);
    expect_in(err, "--set train.lr: expected section.key=value");
    unlink(path);
    assert_int_not_equal(swat_cli_load_config(&cfg, path, NULL, 0, SWAT_CONFIG_FOR_MODEL, err), 0);
    expect_in(err, path);
}

static void test_mkdir_p(void **state)
{
    (void)state;
    char root[] = "/tmp/swat-test-mkdir-XXXXXX", path[256], err[SWAT_ERR_LEN];
    assert_non_null(mkdtemp(root));
    snprintf(path, sizeof path, "%s/a/b//c/", root);
    assert_int_equal(swat_mkdir_p(path, err), 0);
    struct stat sb;
    snprintf(path, sizeof path, "%s/a/b/c", root);
    assert_int_equal(stat(path, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(swat_mkdir_p(path, err), 0); /* exists: fine */
    /* a file in the way */
    snprintf(path, sizeof path, "%s/file", root);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_not_equal(swat_mkdir_p(path, err), 0);
    expect_in(err, "is not a directory");
    snprintf(path, sizeof path, "%s/file/sub", root);
    assert_int_not_equal(swat_mkdir_p(path, err), 0);
    expect_in(err, "cannot create directory");
    expect_in(err, "file/sub");
    assert_int_not_equal(swat_mkdir_p("", err), 0);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_value_forms_agree),
        cmocka_unit_test(test_positional_in_place),
        cmocka_unit_test(test_prefixes),
        cmocka_unit_test(test_max_args),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_help_and_version),
        cmocka_unit_test(test_version_string),
        cmocka_unit_test(test_load_config),
        cmocka_unit_test(test_mkdir_p),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
