/* SPDX-License-Identifier: MIT */
/* swat-tokenize train|encode: a text corpus to a SentencePiece tokenizer and
 * to llm.c token shards (docs/data-formats.md).
 *
 *   swat-tokenize train --vocab-size N [--model-type bpe|unigram]
 *       [--input-sentences N] [--jsonl-key KEY] [--threads N] [--verbose]
 *       --out PREFIX FILE...
 *   swat-tokenize encode --tokenizer M.model --out-dir DIR [--name NAME]
 *       [--shard-tokens N] [--val-tokens N] [--jsonl-key KEY]
 *       [--round-bytes N] FILE...
 *
 * Documents (corpus.h): each line of a .jsonl file is a JSON object whose
 * string member KEY (default "text") is one document; any other file is one
 * document. Both subcommands read the same documents.
 *
 * train: the training sentences are the non-empty lines of the documents,
 * lines longer than SentencePiece's max_sentence_length cut at UTF-8
 * boundaries into pieces of at most that many bytes. --input-sentences of
 * them are kept by bottom-k sampling: every sentence gets a 64-bit key hashed
 * from (file, offset of its document, offset in the document) with a fixed
 * seed, and the k smallest keys win. The sample is a pure function of the
 * input (not of file reading order or rank count), uniform, and one pass with
 * a k-entry heap. Rank 0 reads and trains (SentencePiece's trainer is one
 * multi-threaded process); other ranks wait. PREFIX.model and PREFIX.vocab
 * are written to temporaries and renamed.
 *
 * encode: each document becomes [bos] + its ids; their concatenation is the
 * stream; its first --val-tokens tokens go to DIR/NAME_val_000000.bin, the
 * rest to DIR/NAME_train_000001.bin, … of --shard-tokens each. The work goes
 * in rounds: in round j, rank r reads the documents that start in span range
 * [(jK + r)·R, (jK + r + 1)·R) (R = --round-bytes, K ranks) and encodes them
 * into memory; one all-gather of the ranks' token counts gives every rank the
 * stream offset of its tokens (the global count so far plus an exclusive
 * prefix sum), and each rank pwrites its tokens at their place in the shard
 * files, whose boundaries follow from the offset alone. Documents, stream and
 * files are therefore the same for any K, and memory is R bytes of input plus
 * their tokens plus the largest document, never the corpus. Files are written
 * into a temporary directory inside DIR; when every round has succeeded rank
 * 0 writes the headers (counts are known only then), renames the shards into
 * DIR, removes shards an earlier run left under the same names, and removes
 * the temporary directory. On any error or SIGINT/SIGTERM the temporary
 * directory is removed and no shard of the run remains.
 *
 * The summary's wait_share is the mean fraction of the run the ranks spent
 * blocked in the rounds' collectives, waiting for the slowest rank of a round;
 * cpu_s the CPU time of all ranks, so that tokens_per_cpu_s measures the
 * encoder where the ranks share their cores with other work.
 *
 * Progress (documents, tokens/s, MB/s, ETA) goes to standard error from rank
 * 0 on lines that start with the subcommand ("encode: 12.5% | …"); a line
 * that starts with "swat-tokenize:" is an error. The last line of standard
 * output is a JSON summary. Exit 0; 2 on bad
 * input (arguments, input files, tokenizer, an output directory that cannot
 * be written), with one line from rank 0; 1 when writing fails mid-run or the
 * run is interrupted. */
#include "swat/cli.h"
#include "swat/comm.h"
#include "swat/common.h"
#include "swat/corpus.h"
#include "swat/metrics.h"
#include "swat/rng.h"
#include "swat/text.h"
#include "swat/tokenizer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

enum { EXIT_FAILED = 1, EXIT_BAD_INPUT = 2 };

#define LLMC_HEADER_INTS 256
#define LLMC_MAGIC_U16 20240520
#define LLMC_MAGIC_U32 20240801
#define MAX_SHARDS 999999         /* six digits keep the byte order of the names */
#define SAMPLE_SEED 0x73776174ULL /* "swat": the fixed seed of the sentence sample */
#define ROUND_MIN ((int64_t)64 << 10) /* default --round-bytes: 64 KiB … */
#define ROUND_MAX ((int64_t)4 << 20)  /* … to 4 MiB */

static volatile sig_atomic_t stop_signal;
static void on_signal(int sig) { stop_signal = sig; }

/* ---- arguments ------------------------------------------------------------------- */

typedef struct args {
    int encode;        /* else train */
    char **files;
    int nfiles;
    const char *jsonl_key;
    /* train */
    int64_t vocab_size, input_sentences, threads;
    int unigram, verbose;
    const char *out;
    /* encode */
    const char *tokenizer, *out_dir, *name;
    int64_t shard_tokens, val_tokens, round_bytes;
    double progress; /* seconds between progress lines */
} args;

enum {
    OPT_VOCAB = 256, OPT_TYPE, OPT_SENTENCES, OPT_KEY, OPT_THREADS, OPT_VERBOSE, OPT_OUT,
    OPT_TOKENIZER, OPT_OUT_DIR, OPT_NAME, OPT_SHARD, OPT_VAL, OPT_ROUND, OPT_PROGRESS
};

/* The options both subcommands take. */
#define OPTION_JSONL_KEY                                                                           \
    {"jsonl-key", OPT_KEY, "KEY",                                                                  \
     "the string member of each .jsonl line that is the document (default text)"}
#define OPTION_PROGRESS                                                                            \
    {"progress", OPT_PROGRESS, "S", "seconds between progress lines on stderr (default 2; 0: "     \
                                    "every round)"}
#define DOCUMENTS_TEXT                                                                             \
    "Documents: each line of a .jsonl file is a JSON object whose string member KEY (default "     \
    "\"text\") is one document; any other file is one document. Text must be UTF-8."
#define EXIT_TEXT                                                                                  \
    "exit status: 0 done, 2 bad input (one line on stderr), 1 a write failed or the run was "      \
    "interrupted."

static const swat_cli_option train_options[] = {
    {"vocab-size", OPT_VOCAB, "N", "pieces of the tokenizer (required)"},
    {"out", OPT_OUT, "PREFIX", "writes PREFIX.model and PREFIX.vocab (required)"},
    {"model-type", OPT_TYPE, "bpe|unigram", "SentencePiece's algorithm (default bpe)"},
    {"input-sentences", OPT_SENTENCES, "N",
     "training sentences sampled from the documents' non-empty lines with a fixed seed "
     "(default 1000000)"},
    OPTION_JSONL_KEY,
    {"threads", OPT_THREADS, "N",
     "SentencePiece's trainer threads (default 16; unigram models depend on it)"},
    {"verbose", OPT_VERBOSE, NULL, "SentencePiece's own log on stderr"},
    OPTION_PROGRESS,
    {0},
};

static const swat_cli_option encode_options[] = {
    {"tokenizer", OPT_TOKENIZER, "M.model", "the SentencePiece model (required)"},
    {"out-dir", OPT_OUT_DIR, "DIR", "where the shards go; created if missing (required)"},
    {"name", OPT_NAME, "NAME", "shard names NAME_val_000000.bin, NAME_train_000001.bin, ... "
                               "(default data)"},
    {"shard-tokens", OPT_SHARD, "N", "tokens per train shard (default 100000000)"},
    {"val-tokens", OPT_VAL, "N",
     "the first N tokens of the stream go to the val shard (default 0: no val shard)"},
    OPTION_JSONL_KEY,
    {"round-bytes", OPT_ROUND, "N",
     "input each rank takes per round (default: 4 MiB, less for a small input: at least 16 "
     "rounds a rank, at least 64 KiB)"},
    OPTION_PROGRESS,
    {0},
};

static const swat_cli_program train_program = {
    "swat-tokenize",
    "train --vocab-size N --out PREFIX [options] FILE...",
    "Trains a SentencePiece tokenizer with Llama-2's settings (unk 0, bos 1, eos 2, byte "
    "fallback) on a seeded sample of the documents' non-empty lines and writes PREFIX.model "
    "and PREFIX.vocab. Rank 0 trains; run it on one rank.\n" DOCUMENTS_TEXT,
    "The last line of stdout is a JSON summary.\n" EXIT_TEXT,
    train_options,
    0,
};

static const swat_cli_program encode_program = {
    "swat-tokenize",
    "encode --tokenizer M.model --out-dir DIR [options] FILE...",
    "Encodes every document as [bos] + ids into llm.c token shards: DIR/NAME_val_000000.bin "
    "(the first --val-tokens tokens), then DIR/NAME_train_000001.bin, ... of --shard-tokens "
    "each; shards of NAME an earlier run left in DIR are replaced. An MPI program: mpirun -n K "
    "writes the same files as one rank.\n" DOCUMENTS_TEXT,
    "Progress goes to stderr; the last line of stdout is a JSON summary.\n" EXIT_TEXT,
    encode_options,
    0,
};

/* Without a subcommand: --help (both synopses) and --version. */
static const swat_cli_program top_program = {
    "swat-tokenize",
    "train|encode [options] FILE...",
    "A text corpus to a SentencePiece tokenizer and to llm.c token shards "
    "(docs/data-formats.md):\n"
    "  swat-tokenize train --vocab-size N --out PREFIX [options] FILE...\n"
    "  swat-tokenize encode --tokenizer M.model --out-dir DIR [options] FILE...\n"
    "swat-tokenize train --help and swat-tokenize encode --help list their options.",
    EXIT_TEXT,
    NULL,
    0,
};

/* The first option of argv (before any "--") that is one of other's and not
 * one of mine, so that it is refused by name; NULL if there is none. */
static const char *other_option(char **argv, int argc, const swat_cli_option *mine,
                                const swat_cli_option *other)
{
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "--")) break;
        if (strncmp(s, "--", 2) != 0) continue;
        size_t len = strcspn(s + 2, "=");
        int in_mine = 0;
        for (const swat_cli_option *o = mine; o->name; o++)
            in_mine |= strlen(o->name) == len && !strncmp(o->name, s + 2, len);
        if (in_mine) continue;
        for (const swat_cli_option *o = other; o->name; o++)
            if (strlen(o->name) == len && !strncmp(o->name, s + 2, len)) return o->name;
    }
    return NULL;
}

/* Parses argv into a (every rank alike): 0, SWAT_CLI_EXIT after --help or
 * --version (printed unless quiet), or −1 with err. */
static int parse_args(args *a, int argc, char **argv, int quiet, char *err)
{
    *a = (args){.jsonl_key = "text", .input_sentences = 1000000, .threads = 16, .name = "data",
                .shard_tokens = 100000000, .round_bytes = 0, .progress = 2.0};
    swat_cli cli;
    const char *val;
    int key;
    const char *sub = argc >= 2 ? argv[1] : NULL;
    if (!sub || (strcmp(sub, "train") != 0 && strcmp(sub, "encode") != 0)) {
        /* no subcommand: only --help and --version are answered */
        swat_cli_init(&cli, &top_program, argc, argv, quiet);
        key = swat_cli_next(&cli, &val, err);
        if (key == SWAT_CLI_EXIT || key == SWAT_CLI_ERROR) return key;
        if (key == SWAT_CLI_ARG)
            return swat_errf(err, "unknown subcommand '%.60s': expected train or encode", val);
        return swat_errf(err, "missing subcommand: train or encode (swat-tokenize --help)");
    }
    a->encode = !strcmp(sub, "encode");
    const swat_cli_program *prog = a->encode ? &encode_program : &train_program;
    const swat_cli_option *other = a->encode ? train_options : encode_options;
    const char *misplaced = other_option(argv + 2, argc - 2, prog->options, other);
    if (misplaced)
        return swat_errf(err, "--%s is an option of 'swat-tokenize %s', not of '%s'", misplaced,
                         a->encode ? "train" : "encode", sub);
    /* the subcommand plays argv[0] */
    swat_cli_init(&cli, prog, argc - 1, argv + 1, quiet);
    a->files = swat_malloc(sizeof(char *) * (size_t)argc); /* freed by main */
    while ((key = swat_cli_next(&cli, &val, err)) > 0) {
        const char *opt = cli.flag;
        switch (key) {
        case SWAT_CLI_ARG: a->files[a->nfiles++] = (char *)val; break;
        case OPT_KEY: a->jsonl_key = val; break;
        case OPT_VOCAB:
            if (swat_arg_i64(opt, val, 1, &a->vocab_size, err)) return -1;
            if (a->vocab_size > INT32_MAX)
                return swat_errf(err, "--vocab-size %s: at most %d", val, INT32_MAX);
            break;
        case OPT_TYPE:
            if (!strcmp(val, "bpe")) a->unigram = 0;
            else if (!strcmp(val, "unigram")) a->unigram = 1;
            else return swat_errf(err, "--model-type %.40s: expected bpe or unigram", val);
            break;
        case OPT_SENTENCES:
            if (swat_arg_i64(opt, val, 1, &a->input_sentences, err)) return -1;
            break;
        case OPT_THREADS:
            if (swat_arg_i64(opt, val, 1, &a->threads, err)) return -1;
            if (a->threads > 1024) return swat_errf(err, "--threads %s: at most 1024", val);
            break;
        case OPT_VERBOSE: a->verbose = 1; break;
        case OPT_PROGRESS:
            if (swat_arg_f64(opt, val, 0, 0, 1e6, &a->progress, err)) return -1;
            break;
        case OPT_OUT: a->out = val; break;
        case OPT_TOKENIZER: a->tokenizer = val; break;
        case OPT_OUT_DIR: a->out_dir = val; break;
        case OPT_NAME: a->name = val; break;
        case OPT_SHARD:
        case OPT_VAL: {
            int64_t *v = key == OPT_SHARD ? &a->shard_tokens : &a->val_tokens;
            if (swat_arg_i64(opt, val, key == OPT_SHARD ? 1 : 0, v, err)) return -1;
            /* the llm.c header holds the count in an int32 */
            if (*v > INT32_MAX)
                return swat_errf(err, "%s %s: at most %d (the llm.c header's count is an int32)",
                                 opt, val, INT32_MAX);
            break;
        }
        case OPT_ROUND:
            if (swat_arg_i64(opt, val, 1, &a->round_bytes, err)) return -1;
            if (a->round_bytes > ((int64_t)1 << 40))
                return swat_errf(err, "--round-bytes %s: at most 2^40", val);
            break;
        }
    }
    if (key != SWAT_CLI_END) return key;
    if (a->encode) {
        if (!a->tokenizer) return swat_cli_usage_errf(&cli, err, "encode needs --tokenizer M.model");
        if (!a->out_dir) return swat_cli_usage_errf(&cli, err, "encode needs --out-dir DIR");
        if (!a->name[0] || strchr(a->name, '/') || strlen(a->name) > 200)
            return swat_errf(err, "--name '%.60s': expected 1 to 200 characters, no '/'",
                             a->name);
    } else {
        if (!a->vocab_size) return swat_cli_usage_errf(&cli, err, "train needs --vocab-size N");
        if (!a->out || !a->out[0])
            return swat_cli_usage_errf(&cli, err, "train needs --out PREFIX");
        if (strlen(a->out) > SWAT_PATH_LEN - 32)
            return swat_errf(err, "--out %.60s...: path too long", a->out);
    }
    if (a->nfiles == 0)
        return swat_cli_usage_errf(&cli, err, "%s needs at least one input FILE", sub);
    if (!a->jsonl_key[0] || strlen(a->jsonl_key) > SWAT_JSON_MAX_KEY)
        return swat_errf(err, "--jsonl-key '%.40s': expected 1 to %d bytes", a->jsonl_key,
                         SWAT_JSON_MAX_KEY);
    return 0;
}

/* ---- shared helpers -------------------------------------------------------------------- */

static int write_full(int fd, const void *buf, size_t len, int64_t off)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = pwrite(fd, p, len, (off_t)off);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
        off += w;
    }
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Writes data to path through path.tmp-<pid>, fsync, rename. */
static int write_file_atomic(const char *path, const void *data, size_t len, char *err)
{
    char tmp[SWAT_PATH_LEN + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return swat_errf(err, "%s: cannot create: %s", path, strerror(errno));
    int rc = write_full(fd, data, len, 0) || fsync(fd);
    int saved = errno;
    if (close(fd) != 0 && !rc) rc = -1, saved = errno;
    if (!rc && rename(tmp, path) != 0) rc = -1, saved = errno;
    if (rc) {
        unlink(tmp);
        return swat_errf(err, "%s: cannot write: %s", path, strerror(saved));
    }
    return 0;
}

/* "1.23M" */
static void human(char *buf, size_t n, double v)
{
    if (v >= 1e9) snprintf(buf, n, "%.2fG", v * 1e-9);
    else if (v >= 1e6) snprintf(buf, n, "%.2fM", v * 1e-6);
    else if (v >= 1e4) snprintf(buf, n, "%.1fk", v * 1e-3);
    else snprintf(buf, n, "%.0f", v);
}

/* A JSON string literal of s (quotes, backslashes and control characters escaped). */
static void json_string_out(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

/* ---- train ------------------------------------------------------------------------------ */

typedef struct sample {
    uint64_t key;
    int64_t doc, at; /* span position of its document, offset in the document */
    char *text;
    uint32_t len;
} sample;

/* Key order, then stream order (ties of 64-bit keys are next to impossible,
 * but the order must be total for the sample to be a function of the input). */
static int sample_after(const sample *a, const sample *b)
{
    if (a->key != b->key) return a->key > b->key;
    if (a->doc != b->doc) return a->doc > b->doc;
    return a->at > b->at;
}

static int by_stream(const void *x, const void *y)
{
    const sample *a = x, *b = y;
    if (a->doc != b->doc) return a->doc < b->doc ? -1 : 1;
    return (a->at > b->at) - (a->at < b->at);
}

static uint64_t sentence_key(int64_t doc, int64_t at)
{
    swat_rng r;
    swat_rng_seed(&r, SAMPLE_SEED, (uint64_t)doc);
    swat_rng_seed(&r, swat_rng_next(&r), (uint64_t)at);
    return swat_rng_next(&r);
}

/* The k smallest keys: a max-heap of at most cap samples. */
typedef struct heap {
    sample *v;
    size_t n, cap;
} heap;

static void sift_down(heap *h, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && sample_after(&h->v[l], &h->v[m])) m = l;
        if (r < h->n && sample_after(&h->v[r], &h->v[m])) m = r;
        if (m == i) return;
        sample t = h->v[i];
        h->v[i] = h->v[m];
        h->v[m] = t;
        i = m;
    }
}

static void heap_offer(heap *h, const sample *s, const char *text)
{
    if (h->n == h->cap && !sample_after(&h->v[0], s)) return;
    sample e = *s;
    e.text = malloc(s->len ? s->len : 1);
    if (!e.text) swat_die(12, "out of memory keeping %zu training sentences", h->n);
    memcpy(e.text, text, s->len);
    if (h->n == h->cap) { /* replace the largest */
        free(h->v[0].text);
        h->v[0] = e;
        sift_down(h, 0);
        return;
    }
    size_t i = h->n++;
    h->v[i] = e;
    while (i > 0 && sample_after(&h->v[i], &h->v[(i - 1) / 2])) {
        sample t = h->v[i];
        h->v[i] = h->v[(i - 1) / 2];
        h->v[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

typedef struct train_stats {
    int64_t documents, sentences, sampled, bytes;
    double read_s, train_s;
    int64_t pieces;
} train_stats;

/* Rank 0: sample, train, write. */
static int train_tokenizer(const args *a, train_stats *ts, char *err)
{
    swat_corpus *corpus = NULL;
    swat_corpus_reader *rd = NULL;
    heap h = {0};
    char **texts = NULL;
    size_t *lens = NULL;
    char *model = NULL, *vocab = NULL;
    size_t model_len = 0;
    int rc = -1;
    double t0 = swat_now(), last = t0;

    if (swat_corpus_open(&corpus, a->files, a->nfiles, a->jsonl_key, err)) goto done;
    int64_t span = swat_corpus_span(corpus);
    h.cap = (size_t)a->input_sentences;
    h.v = swat_malloc(sizeof(sample) * (h.cap < 4096 ? h.cap : 4096));
    size_t vcap = h.cap < 4096 ? h.cap : 4096;
    rd = swat_corpus_reader_create(corpus);
    swat_corpus_reader_seek(rd, 0, span);
    swat_doc doc;
    int got;
    while ((got = swat_corpus_reader_next(rd, &doc, err)) == 1) {
        if (stop_signal) {
            swat_errf(err, "interrupted by signal %d", (int)stop_signal);
            goto done;
        }
        ts->documents++;
        ts->bytes += (int64_t)doc.len;
        int64_t where = swat_corpus_position(corpus, doc.file, doc.offset);
        const char *p = doc.text, *end = doc.text + doc.len;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *line_end = nl ? nl : end;
            /* a line longer than SentencePiece takes is cut, not dropped */
            while (p < line_end) {
                size_t k = swat_utf8_cut(p, (size_t)(line_end - p), SWAT_TOK_MAX_SENTENCE);
                SWAT_ASSERT(k > 0);
                sample s = {sentence_key(where, p - doc.text), where, p - doc.text, NULL,
                            (uint32_t)k};
                if (h.n == vcap && vcap < h.cap) { /* grow towards cap */
                    size_t nc = vcap * 2 < h.cap ? vcap * 2 : h.cap;
                    sample *g = swat_malloc(sizeof(sample) * nc);
                    memcpy(g, h.v, sizeof(sample) * h.n);
                    swat_free(h.v);
                    h.v = g;
                    vcap = nc;
                }
                heap_offer(&h, &s, p);
                ts->sentences++;
                p += k;
            }
            p = nl ? nl + 1 : end;
        }
        double now = swat_now();
        if (now - last >= a->progress) {
            int64_t at = swat_corpus_position(corpus, doc.file, doc.offset) + (int64_t)doc.len;
            char eta[32], sent[16];
            swat_format_duration(eta, sizeof eta, (now - t0) * (double)(span - at) / (double)at);
            human(sent, sizeof sent, (double)ts->sentences);
            fprintf(stderr, "train: reading %.1f%% | %lld documents | %s sentences | "
                            "%.1f MB/s | ETA %s\n",
                    100.0 * (double)at / (double)span, (long long)ts->documents, sent,
                    (double)at / (now - t0) * 1e-6, eta);
            last = now;
        }
    }
    if (got < 0) goto done;
    if (h.n == 0) {
        swat_errf(err, "%s%s: no non-empty line to train on", a->files[0],
                  a->nfiles > 1 ? " ..." : "");
        goto done;
    }
    ts->read_s = swat_now() - t0;

    /* SentencePiece gets the sample in stream order, so its result does not
     * depend on the heap's internal order */
    qsort(h.v, h.n, sizeof(sample), by_stream);
    texts = swat_malloc(sizeof(char *) * h.n);
    lens = swat_malloc(sizeof(size_t) * h.n);
    for (size_t i = 0; i < h.n; i++) texts[i] = h.v[i].text, lens[i] = h.v[i].len;
    fprintf(stderr, "train: %lld documents, %lld sentences read in %.1fs; training %s of "
                    "%lld pieces on %zu of them (%lld threads)...\n",
            (long long)ts->documents, (long long)ts->sentences, ts->read_s,
            a->unigram ? "unigram" : "BPE", (long long)a->vocab_size, h.n,
            (long long)a->threads);
    swat_tok_train_opts o = {a->vocab_size, a->unigram, (int)a->threads, a->verbose};
    /* SentencePiece's trainer cannot be interrupted between steps: a signal
     * now ends the process at once (nothing of the output exists yet) */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    double t1 = swat_now();
    if (swat_tok_train(&o, (const char *const *)texts, lens, h.n, &model, &model_len, &vocab,
                       err))
        goto done;
    ts->train_s = swat_now() - t1;
    ts->pieces = a->vocab_size;
    ts->sampled = (int64_t)h.n;

    /* the prefix's directory, then the two files */
    char dir[SWAT_PATH_LEN], path[SWAT_PATH_LEN + 16];
    snprintf(dir, sizeof dir, "%s", a->out);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (swat_mkdir_p(dir, err)) goto done;
    }
    snprintf(path, sizeof path, "%s.model", a->out);
    if (write_file_atomic(path, model, model_len, err)) goto done;
    snprintf(path, sizeof path, "%s.vocab", a->out);
    if (write_file_atomic(path, vocab, strlen(vocab), err)) goto done;
    rc = 0;
done:
    for (size_t i = 0; i < h.n; i++) free(h.v[i].text);
    swat_free(h.v);
    swat_free(texts);
    swat_free(lens);
    swat_free(model);
    swat_free(vocab);
    swat_corpus_reader_free(rd);
    swat_corpus_free(corpus);
    return rc;
}

static int run_train(const args *a, swat_comm *comm, int rank, int world)
{
    char err[SWAT_ERR_LEN] = "";
    train_stats ts = {0};
    int failed = 0;
    if (rank == 0) {
        if (world > 1)
            fprintf(stderr, "train: runs on rank 0 (SentencePiece's trainer is one "
                            "process with --threads %lld); the other %d rank(s) wait\n",
                    (long long)a->threads, world - 1);
        failed = train_tokenizer(a, &ts, err) != 0;
    }
    if (swat_comm_agree(comm, failed, err)) {
        if (rank == 0) fprintf(stderr, "swat-tokenize: %s\n", err);
        return stop_signal ? EXIT_FAILED : EXIT_BAD_INPUT;
    }
    if (rank == 0) {
        fprintf(stderr, "train: wrote %s.model and %s.vocab (training %.1fs)\n", a->out,
                a->out, ts.train_s);
        printf("{\"model\":");
        char path[SWAT_PATH_LEN + 16];
        snprintf(path, sizeof path, "%s.model", a->out);
        json_string_out(stdout, path);
        printf(",\"vocab_size\":%lld,\"model_type\":\"%s\",\"documents\":%lld,"
               "\"text_bytes\":%lld,\"sentences\":%lld,\"sampled\":%lld,\"read_s\":%.3f,"
               "\"train_s\":%.3f}\n",
               (long long)ts.pieces, a->unigram ? "unigram" : "bpe", (long long)ts.documents,
               (long long)ts.bytes, (long long)ts.sentences, (long long)ts.sampled, ts.read_s,
               ts.train_s);
        fflush(stdout);
    }
    return 0;
}

/* ---- encode: the shard files ------------------------------------------------------------- */

/* File k of the stream: 0 is the val file (stream [0, val)), k ≥ 1 train
 * shard k (stream [val + (k−1)·shard, val + k·shard)). */
typedef struct shards {
    const char *name;
    char tmp[SWAT_PATH_LEN]; /* the run's temporary directory inside DIR */
    int64_t val, shard;
    int tsize;               /* bytes per token: 2 or 4 */
    int fd;                  /* open file of this rank, −1 when none */
    int64_t file;
} shards;

static void shard_name(char *buf, size_t n, const char *dir, const char *name, int64_t k)
{
    if (k == 0) snprintf(buf, n, "%s/%s_val_000000.bin", dir, name);
    else snprintf(buf, n, "%s/%s_train_%06lld.bin", dir, name, (long long)k);
}

static int64_t shard_first(const shards *s, int64_t k)
{
    return k == 0 ? 0 : s->val + (k - 1) * s->shard;
}

static int64_t shard_of(const shards *s, int64_t pos)
{
    return pos < s->val ? 0 : (pos - s->val) / s->shard + 1;
}

static int shard_close(shards *s, int sync, char *err)
{
    int rc = 0;
    if (s->fd < 0) return 0;
    if (sync && fdatasync(s->fd) != 0) {
        char path[SWAT_PATH_LEN + 64];
        shard_name(path, sizeof path, s->tmp, s->name, s->file);
        rc = swat_errf(err, "%s: %s", path, strerror(errno));
    }
    close(s->fd);
    s->fd = -1;
    s->file = -1;
    return rc;
}

/* Writes count tokens (tsize bytes each, little-endian) at stream position pos. */
static int shard_write(shards *s, const unsigned char *bytes, int64_t pos, int64_t count,
                       char *err)
{
    char path[SWAT_PATH_LEN + 64];
    while (count > 0) {
        int64_t k = shard_of(s, pos), first = shard_first(s, k);
        int64_t end = k == 0 ? s->val : first + s->shard;
        int64_t m = end - pos < count ? end - pos : count;
        if (k > MAX_SHARDS)
            return swat_errf(err, "more than %d train shards of --shard-tokens %lld: use "
                                  "larger shards", MAX_SHARDS, (long long)s->shard);
        shard_name(path, sizeof path, s->tmp, s->name, k);
        if (s->file != k) {
            if (shard_close(s, 1, err)) return -1;
            s->fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
            if (s->fd < 0) return swat_errf(err, "%s: cannot create: %s", path, strerror(errno));
            s->file = k;
        }
        int64_t off = (int64_t)LLMC_HEADER_INTS * 4 + (pos - first) * s->tsize;
        if (write_full(s->fd, bytes, (size_t)(m * s->tsize), off))
            return swat_errf(err, "%s: write failed at byte %lld: %s", path, (long long)off,
                             strerror(errno));
        bytes += m * s->tsize;
        pos += m;
        count -= m;
    }
    return 0;
}

/* Removes the temporary directory and everything in it. */
static void remove_tmp(const char *tmp)
{
    DIR *d = opendir(tmp);
    struct dirent *e;
    char path[SWAT_PATH_LEN + 300];
    while (d && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", tmp, e->d_name);
        unlink(path);
    }
    if (d) closedir(d);
    rmdir(tmp);
}

/* 1 if e is NAME_val_NNNNNN.bin (kind 0) or NAME_train_NNNNNN.bin (kind 1),
 * with the number in *k. */
static int shard_kind(const char *e, const char *name, int64_t *k)
{
    size_t n = strlen(name);
    if (strncmp(e, name, n) != 0 || e[n] != '_') return -1;
    e += n + 1;
    int kind;
    if (!strncmp(e, "val_", 4)) kind = 0, e += 4;
    else if (!strncmp(e, "train_", 6)) kind = 1, e += 6;
    else return -1;
    int64_t v = 0;
    for (int i = 0; i < 6; i++) {
        if (e[i] < '0' || e[i] > '9') return -1;
        v = v * 10 + (e[i] - '0');
    }
    if (strcmp(e + 6, ".bin") != 0) return -1;
    *k = v;
    return kind;
}

/* Rank 0, after every rank closed its files: headers, renames into DIR, and
 * the shards of an earlier run under the same name that this run does not
 * overwrite. Returns the number of files of the run. */
static int shards_publish(const shards *s, const char *dir, int64_t total, int64_t *ntrain,
                          char *err)
{
    char from[SWAT_PATH_LEN + 64], to[SWAT_PATH_LEN + 300];
    int64_t nval = s->val < total ? s->val : total;
    *ntrain = total > s->val ? (total - s->val + s->shard - 1) / s->shard : 0;
    int64_t first = nval > 0 ? 0 : 1, last = *ntrain;
    for (int64_t k = first; k <= last; k++) {
        int64_t count = k == 0 ? nval : (k < last ? s->shard : total - shard_first(s, k));
        int32_t h[LLMC_HEADER_INTS] = {0};
        unsigned char hb[LLMC_HEADER_INTS * 4];
        h[0] = s->tsize == 2 ? LLMC_MAGIC_U16 : LLMC_MAGIC_U32;
        h[1] = s->tsize == 2 ? 1 : 7; /* llm.c's own writers: version 1 (uint16), 7 (uint32) */
        h[2] = (int32_t)count;
        for (int i = 0; i < LLMC_HEADER_INTS; i++)
            for (int b = 0; b < 4; b++) hb[4 * i + b] = (unsigned char)((uint32_t)h[i] >> (8 * b));
        shard_name(from, sizeof from, s->tmp, s->name, k);
        int fd = open(from, O_WRONLY | O_CLOEXEC);
        int bad = fd < 0 || write_full(fd, hb, sizeof hb, 0) || fsync(fd);
        int saved = errno;
        if (fd >= 0) close(fd);
        struct stat st;
        if (!bad && (stat(from, &st) != 0 ||
                     st.st_size != (off_t)(sizeof hb + (size_t)count * (size_t)s->tsize)))
            return swat_errf(err, "%s: size %lld does not match its %lld tokens (written by "
                                  "another process?)", from, (long long)st.st_size, (long long)count);
        if (bad) return swat_errf(err, "%s: cannot write the header: %s", from, strerror(saved));
    }
    /* every file is complete: rename them in, then drop older shards of the
     * kinds written (a stale train_000009 would otherwise join the glob) */
    for (int64_t k = first; k <= last; k++) {
        shard_name(from, sizeof from, s->tmp, s->name, k);
        shard_name(to, sizeof to, dir, s->name, k);
        if (rename(from, to) != 0) {
            int saved = errno;
            for (int64_t j = first; j < k; j++) {
                shard_name(to, sizeof to, dir, s->name, j);
                unlink(to);
            }
            return swat_errf(err, "cannot rename %s to %s: %s", from, to, strerror(saved));
        }
    }
    DIR *d = opendir(dir);
    struct dirent *e;
    int removed = 0;
    while (d && (e = readdir(d)) != NULL) {
        int64_t k;
        int kind = shard_kind(e->d_name, s->name, &k);
        if (kind < 0 || (kind == 0 && nval == 0) || (kind == 1 && (*ntrain == 0 || k <= last)))
            continue;
        if (kind == 0 && k == 0) continue;
        snprintf(to, sizeof to, "%s/%s", dir, e->d_name);
        if (unlink(to) == 0) removed++;
    }
    if (d) closedir(d);
    if (removed)
        fprintf(stderr, "encode: removed %d shard(s) of %s that an earlier run left in %s\n",
                removed, s->name, dir);
    if (fsync_dir(dir) != 0) return swat_errf(err, "%s: fsync: %s", dir, strerror(errno));
    return 0;
}

/* ---- encode -------------------------------------------------------------------------------- */

enum { R_TOKENS, R_DOCS, R_TEXT, R_FAILED, R_FIELDS };

static int run_encode(const args *a, swat_comm *comm, int rank, int world)
{
    char err[SWAT_ERR_LEN] = "";
    swat_tok *tok = NULL;
    swat_corpus *corpus = NULL;
    swat_corpus_reader *rd = NULL;
    swat_ids ids = {0};
    unsigned char *bytes = NULL;
    size_t bytes_cap = 0;
    int64_t *all = swat_malloc(sizeof(int64_t) * R_FIELDS * (size_t)world);
    shards s = {.name = a->name, .val = a->val_tokens, .shard = a->shard_tokens, .fd = -1,
                .file = -1};
    int status = EXIT_BAD_INPUT, made_tmp = 0;

    /* set-up, every rank: the tokenizer and the files; rank 0: the directory */
    int failed = swat_tok_load_file(&tok, a->tokenizer, err) != 0;
    if (!failed && swat_tok_bos(tok) < 0)
        failed = swat_errf(err, "%s: the tokenizer has no bos piece (documents start with one)",
                           a->tokenizer) != 0;
    if (!failed) failed = swat_corpus_open(&corpus, a->files, a->nfiles, a->jsonl_key, err) != 0;
    if (!failed && rank == 0) {
        char tmpl[sizeof s.tmp];
        failed = swat_mkdir_p(a->out_dir, err) != 0;
        if (!failed && snprintf(tmpl, sizeof tmpl, "%s/.swat-tokenize-XXXXXX", a->out_dir) >=
                           (int)sizeof tmpl)
            failed = swat_errf(err, "--out-dir %.80s...: path too long", a->out_dir) != 0;
        if (!failed && !mkdtemp(tmpl))
            failed = swat_errf(err, "--out-dir %s: cannot write there: %s", a->out_dir,
                               strerror(errno)) != 0;
        if (!failed) {
            memcpy(s.tmp, tmpl, sizeof tmpl);
            made_tmp = 1;
        }
    }
    if (swat_comm_agree(comm, failed, err)) goto done;
    swat_comm_bcast(comm, s.tmp, sizeof s.tmp, 0);
    s.tsize = swat_tok_size(tok) <= 65536 ? 2 : 4;
    int32_t bos = swat_tok_bos(tok);

    /* the rounds */
    /* default rounds: 4 MiB a rank, less when the input would give a rank
     * fewer than 16 of them (a small corpus still reaches every rank) */
    const int64_t span = swat_corpus_span(corpus);
    int64_t R = a->round_bytes;
    if (R == 0) {
        R = span / ((int64_t)world * 16);
        R = R < ROUND_MIN ? ROUND_MIN : R > ROUND_MAX ? ROUND_MAX : R;
    }
    const int64_t per_round = R * world; /* R ≤ 2^40, world < 2^23 */
    int64_t total = 0, docs = 0, text_bytes = 0;
    double t0 = swat_now(), last = t0;
    rd = swat_corpus_reader_create(corpus);
    status = EXIT_FAILED;
    for (int64_t base = 0; base < span; base = span - base > per_round ? base + per_round : span) {
        int64_t from = base + (int64_t)rank * R, to = from + R;
        if (from > span) from = span;
        if (to > span) to = span;
        int64_t mine[R_FIELDS] = {0};
        int bad_input = 0;
        ids.n = 0;
        if (!failed && from < to) {
            swat_corpus_reader_seek(rd, from, to);
            swat_doc doc;
            int got;
            while ((got = swat_corpus_reader_next(rd, &doc, err)) == 1) {
                swat_ids_push(&ids, bos);
                if (swat_tok_encode(tok, doc.text, doc.len, &ids, err)) {
                    got = -1;
                    break;
                }
                mine[R_DOCS]++;
                mine[R_TEXT] += (int64_t)doc.len;
                if (stop_signal) break;
            }
            if (got < 0) failed = bad_input = 1;
        }
        if (stop_signal && !failed)
            failed = swat_errf(err, "interrupted by signal %d", (int)stop_signal) != 0;
        mine[R_TOKENS] = (int64_t)ids.n;
        mine[R_FAILED] = failed ? 1 + bad_input : 0;
        swat_comm_allgather_i64(comm, mine, all, R_FIELDS);
        int first_bad = -1;
        for (int r = 0; r < world && first_bad < 0; r++)
            if (all[r * R_FIELDS + R_FAILED]) first_bad = r;
        if (first_bad >= 0) {
            swat_comm_bcast(comm, err, SWAT_ERR_LEN, first_bad);
            err[SWAT_ERR_LEN - 1] = '\0';
            if (all[first_bad * R_FIELDS + R_FAILED] == 2) status = EXIT_BAD_INPUT;
            goto done;
        }
        int64_t offset = total, round_tokens = 0;
        for (int r = 0; r < world; r++) {
            if (r < rank) offset += all[r * R_FIELDS + R_TOKENS];
            round_tokens += all[r * R_FIELDS + R_TOKENS];
            docs += all[r * R_FIELDS + R_DOCS];
            text_bytes += all[r * R_FIELDS + R_TEXT];
        }
        total += round_tokens;
        /* this rank's tokens at their place in the stream; a failure is
         * reported with the next round's counts (or the final check) */
        if (ids.n > 0) {
            size_t need = ids.n * (size_t)s.tsize;
            if (need > bytes_cap) {
                swat_free(bytes);
                bytes_cap = need + need / 2;
                bytes = swat_malloc(bytes_cap);
            }
            for (size_t i = 0; i < ids.n; i++) {
                uint32_t v = (uint32_t)ids.v[i];
                for (int b = 0; b < s.tsize; b++) bytes[i * (size_t)s.tsize + (size_t)b] = (unsigned char)(v >> (8 * b));
            }
            if (shard_write(&s, bytes, offset, (int64_t)ids.n, err)) failed = 1;
        }
        double now = swat_now();
        int64_t done_bytes = span - base > per_round ? base + per_round : span;
        if (rank == 0 && now - last >= a->progress && done_bytes < span) {
            char eta[32], ntok[16], tps[16];
            double el = now - t0;
            swat_format_duration(eta, sizeof eta, el * (double)(span - done_bytes) / (double)done_bytes);
            human(ntok, sizeof ntok, (double)total);
            human(tps, sizeof tps, (double)total / el);
            fprintf(stderr, "encode: %5.1f%% | %lld documents | %s tokens | %s tok/s | "
                            "%.2f MB/s | ETA %s\n",
                    100.0 * (double)done_bytes / (double)span, (long long)docs, ntok, tps,
                    (double)done_bytes * 1e-6 / el, eta);
            last = now;
        }
    }
    if (shard_close(&s, 1, err)) failed = 1;
    if (swat_comm_agree(comm, failed, err)) goto done;
    if (total == 0) {
        swat_errf(err, "%s%s: the input holds no document", a->files[0], a->nfiles > 1 ? " ..." : "");
        status = EXIT_BAD_INPUT;
        goto done;
    }

    /* every rank has closed its files: rank 0 publishes */
    int64_t ntrain = 0;
    if (rank == 0) {
        failed = shards_publish(&s, a->out_dir, total, &ntrain, err) != 0;
        if (!failed) {
            remove_tmp(s.tmp);
            made_tmp = 0;
        }
    }
    if (swat_comm_agree(comm, failed, err)) goto done;
    double secs = swat_now() - t0;
    /* per rank: time blocked in the rounds' collectives (waiting for slower
     * ranks) and CPU time, in microseconds, summed over the ranks */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    int64_t mine_us[2] = {(int64_t)(swat_comm_stats_get(comm).wait_s * 1e6),
                          (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec +
                              (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec};
    int64_t *us = swat_malloc(sizeof(int64_t) * 2 * (size_t)world), wait_sum = 0, cpu_sum = 0;
    swat_comm_allgather_i64(comm, mine_us, us, 2);
    for (int r = 0; r < world; r++) wait_sum += us[2 * r], cpu_sum += us[2 * r + 1];
    swat_free(us);
    if (rank == 0) {
        int64_t nval = s.val < total ? s.val : total, in = swat_corpus_bytes(corpus);
        char ntok[16], tps[16];
        human(ntok, sizeof ntok, (double)total);
        human(tps, sizeof tps, (double)total / secs);
        fprintf(stderr, "encode: %lld documents, %s tokens (%lld val, %lld train shards) in "
                        "%.1fs on %d rank(s): %s tok/s, %.2f MB/s\n",
                (long long)docs, ntok, (long long)nval, (long long)ntrain, secs, world, tps,
                (double)in * 1e-6 / secs);
        printf("{\"documents\":%lld,\"tokens\":%lld,\"train_shards\":%lld,\"val_tokens\":%lld,"
               "\"input_bytes\":%lld,\"text_bytes\":%lld,\"seconds\":%.3f,\"tokens_per_s\":%.1f,"
               "\"mb_per_s\":%.3f,\"ranks\":%d,\"wait_share\":%.3f,\"cpu_s\":%.2f,"
               "\"tokens_per_cpu_s\":%.1f,\"vocab_size\":%lld,\"token_bytes\":%d,\"out_dir\":",
               (long long)docs, (long long)total, (long long)ntrain, (long long)nval,
               (long long)in, (long long)text_bytes, secs, (double)total / secs,
               (double)in * 1e-6 / secs, world, (double)wait_sum * 1e-6 / world / secs,
               (double)cpu_sum * 1e-6, (double)total / ((double)cpu_sum * 1e-6),
               (long long)swat_tok_size(tok), s.tsize);
        json_string_out(stdout, a->out_dir);
        printf(",\"name\":");
        json_string_out(stdout, a->name);
        printf("}\n");
        fflush(stdout);
    }
    status = 0;
done:
    char ignored[SWAT_ERR_LEN];
    shard_close(&s, 0, ignored); /* after a failure: the files are removed anyway */
    if (status != 0) {
        /* every rank stopped writing before the agreement that got us here */
        if (rank == 0) {
            if (made_tmp) remove_tmp(s.tmp);
            fprintf(stderr, "swat-tokenize: %s\n", err);
        }
    }
    swat_free(all);
    swat_free(bytes);
    swat_free(ids.v);
    swat_corpus_reader_free(rd);
    swat_corpus_free(corpus);
    swat_tok_free(tok);
    return status;
}

int main(int argc, char **argv)
{
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int world = swat_comm_init(&argc, &argv);
    int rank = swat_comm_world_rank();
    swat_comm *comm = swat_comm_create(1);
    char err[SWAT_ERR_LEN] = "";
    args a;
    int status;
    int rc = parse_args(&a, argc, argv, rank != 0, err);
    if (rc == SWAT_CLI_EXIT) {
        status = 0;
    } else if (rc != 0) {
        if (rank == 0) fprintf(stderr, "swat-tokenize: %s\n", err);
        status = EXIT_BAD_INPUT;
    } else {
        status = a.encode ? run_encode(&a, comm, rank, world) : run_train(&a, comm, rank, world);
    }
    swat_free(a.files);
    swat_comm_free(comm);
    swat_comm_finalize();
    return status;
}
