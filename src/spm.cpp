/* SPDX-License-Identifier: MIT */
/* spm.cpp: the SentencePiece shim behind include/swat/tokenizer.h; the only
 * C++ of swat, over Debian's libsentencepiece (0.1.97, the library Llama-2's
 * tokenizer.model is made for).
 *
 * Why it is shaped so:
 *   - C callers only: every entry point is extern "C", catches every C++
 *     exception and turns a non-OK util::Status into one line in err that
 *     names the file. Nothing of SentencePiece leaks into the headers.
 *   - Per-token work never comes back here. Loading builds a table of what
 *     each id prints as and how many bytes it counts for (decoding is a table
 *     lookup); the encoder is the only per-document call, and it appends to a
 *     caller-owned swat_ids so the encoder's buffers are reused across
 *     documents.
 *   - Training takes the sentences already sampled by the caller (the sample
 *     is ours: seeded and independent of the rank count), through a
 *     SentenceIterator over memory, with the settings of Llama-2's tokenizer
 *     spelled out in one table (llama2_settings); the model comes back as
 *     bytes, so the caller writes files atomically and the model's bytes do
 *     not depend on the output path. */
#include "swat/tokenizer.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

/* What one id stands for in text. */
struct piece_info {
    uint32_t off, len; /* into swat_tok::text */
    int bytes;         /* counted for bits per byte */
};

/* A status message on one line, shortened, without the source location and
 * failed condition SentencePiece's CHECK macros put first
 * ("./src/x.cc(580) [cond] message"). */
std::string one_line(const char *msg)
{
    std::string s(msg ? msg : "");
    for (char &c : s)
        if (c == '\n' || c == '\r') c = ' ';
    if (s.compare(0, 6, "./src/") == 0) {
        size_t close = s.find("] ");
        s = close == std::string::npos ? std::string() : s.substr(close + 2);
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    if (s.size() > 200) s = s.substr(0, 200) + "...";
    return s;
}

/* Value of a byte-fallback piece "<0xNN>", or −1. */
int byte_piece_value(const std::string &p)
{
    if (p.size() != 6 || p.compare(0, 3, "<0x") != 0 || p[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = p[(size_t)i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10
                : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

const char kSpaceSymbol[] = "\xe2\x96\x81"; /* U+2581 LOWER ONE EIGHTH BLOCK */

} // namespace

struct swat_tok {
    sentencepiece::SentencePieceProcessor sp;
    std::string model;             /* the bytes loaded */
    std::string text;              /* arena of every piece's text */
    std::vector<piece_info> info;  /* [pieces] */
    std::vector<std::string> raw;  /* [pieces] the pieces as stored */
    std::vector<float> score;      /* [pieces] */
};

namespace {

void build_tables(swat_tok *t)
{
    const int n = t->sp.GetPieceSize();
    t->info.resize((size_t)n);
    t->raw.resize((size_t)n);
    t->score.resize((size_t)n);
    const int unk = t->sp.unk_id();
    const std::string unk_surface = unk >= 0 ? t->sp.DecodeIds({unk}) : std::string();
    for (int id = 0; id < n; id++) {
        const std::string &p = t->sp.IdToPiece(id);
        t->raw[(size_t)id] = p;
        t->score[(size_t)id] = t->sp.GetScore(id);
        std::string s;
        int bytes;
        int b = t->sp.IsByte(id) ? byte_piece_value(p) : -1;
        if (t->sp.IsControl(id)) {
            bytes = 0;
        } else if (t->sp.IsUnknown(id)) {
            s = unk_surface;
            bytes = 0;
        } else if (b >= 0) {
            s.assign(1, (char)b);
            bytes = 1;
        } else {
            for (size_t i = 0; i < p.size();) {
                if (p.compare(i, 3, kSpaceSymbol) == 0) {
                    s += ' ';
                    i += 3;
                } else {
                    s += p[i++];
                }
            }
            bytes = (int)s.size();
        }
        t->info[(size_t)id] = piece_info{(uint32_t)t->text.size(), (uint32_t)s.size(), bytes};
        t->text += s;
    }
}

int load(swat_tok **out, std::string &&bytes, const char *origin, char *err)
{
    *out = nullptr;
    swat_tok *t = nullptr;
    try {
        t = new swat_tok();
        t->model = std::move(bytes);
        if (t->model.empty()) {
            delete t;
            return swat_errf(err, "%s: empty file, not a SentencePiece model", origin);
        }
        auto st = t->sp.LoadFromSerializedProto(t->model);
        if (!st.ok()) {
            /* the parser's message is a source location: say what it means */
            std::string why = one_line(st.error_message());
            if (why.empty()) why = "its bytes do not parse as a ModelProto";
            delete t;
            return swat_errf(err, "%s: not a SentencePiece model (%s)", origin, why.c_str());
        }
        if (t->sp.GetPieceSize() <= 0) {
            delete t;
            return swat_errf(err, "%s: a SentencePiece model without pieces", origin);
        }
        build_tables(t);
    } catch (const std::bad_alloc &) {
        delete t;
        return swat_errf(err, "%s: out of memory loading the tokenizer", origin);
    } catch (const std::exception &e) {
        delete t;
        return swat_errf(err, "%s: not a SentencePiece model (%s)", origin, one_line(e.what()).c_str());
    }
    *out = t;
    return 0;
}

/* The sentences of swat_tok_train, one after another. */
class memory_sentences : public sentencepiece::SentenceIterator {
  public:
    memory_sentences(const char *const *text, const size_t *len, size_t n)
        : text_(text), len_(len), n_(n)
    {
        fill();
    }
    bool done() const override { return i_ >= n_; }
    void Next() override
    {
        i_++;
        fill();
    }
    const std::string &value() const override { return cur_; }
    sentencepiece::util::Status status() const override { return {}; }

  private:
    void fill()
    {
        if (i_ < n_) cur_.assign(text_[i_], len_[i_]);
    }
    const char *const *text_;
    const size_t *len_;
    size_t n_, i_ = 0;
    std::string cur_;
};

/* Llama-2's tokenizer settings (its tokenizer.model's trainer_spec and
 * normalizer_spec), minus input handling: the caller has sampled and cut the
 * sentences, so SentencePiece takes all of them as they come. */
std::unordered_map<std::string, std::string> llama2_settings(const swat_tok_train_opts *o)
{
    return {
        {"model_type", o->unigram ? "unigram" : "bpe"},
        {"vocab_size", std::to_string(o->vocab_size)},
        {"normalization_rule_name", "identity"}, /* text as it is … */
        {"remove_extra_whitespaces", "false"},   /* … newlines and runs of spaces kept */
        {"add_dummy_prefix", "true"},
        {"input_sentence_size", "0"}, /* every sentence given (sampled by the caller) */
        {"shuffle_input_sentence", "false"},
        {"max_sentence_length", std::to_string(SWAT_TOK_MAX_SENTENCE)},
        {"seed_sentencepiece_size", "1000000"},
        {"character_coverage", "0.99995"},
        {"byte_fallback", "true"}, /* any UTF-8 encodes without unk */
        {"split_digits", "true"},
        {"split_by_unicode_script", "true"},
        {"split_by_whitespace", "true"},
        {"split_by_number", "true"},
        {"max_sentencepiece_length", "16"},
        {"allow_whitespace_only_pieces", "true"},
        {"unk_id", "0"},
        {"bos_id", "1"},
        {"eos_id", "2"},
        {"pad_id", "-1"},
        {"num_threads", std::to_string(o->threads > 0 ? o->threads : 16)},
        {"minloglevel", o->verbose ? "0" : "2"},
    };
}

} // namespace

extern "C" {

void swat_ids_push(swat_ids *ids, int32_t id)
{
    if (ids->n == ids->cap) {
        size_t cap = ids->cap ? 2 * ids->cap : 4096;
        int32_t *grown = (int32_t *)swat_malloc(sizeof(int32_t) * cap);
        if (ids->n) memcpy(grown, ids->v, sizeof(int32_t) * ids->n);
        swat_free(ids->v);
        ids->v = grown;
        ids->cap = cap;
    }
    ids->v[ids->n++] = id;
}

int swat_tok_load_file(swat_tok **out, const char *path, char *err)
{
    *out = nullptr;
    std::string bytes;
    try {
        std::ifstream f(path, std::ios::binary);
        if (!f) return swat_errf(err, "%s: %s", path, strerror(errno));
        std::ostringstream ss;
        ss << f.rdbuf();
        if (f.bad()) return swat_errf(err, "%s: read error", path);
        bytes = ss.str();
    } catch (const std::exception &) {
        return swat_errf(err, "%s: cannot read the tokenizer", path);
    }
    return load(out, std::move(bytes), path, err);
}

int swat_tok_load_bytes(swat_tok **out, const void *bytes, size_t n, const char *origin, char *err)
{
    *out = nullptr;
    try {
        return load(out, std::string((const char *)bytes, n), origin, err);
    } catch (const std::exception &) {
        return swat_errf(err, "%s: out of memory loading the tokenizer", origin);
    }
}

void swat_tok_free(swat_tok *t) { delete t; }

const void *swat_tok_model_bytes(const swat_tok *t, size_t *n)
{
    *n = t->model.size();
    return t->model.data();
}

int64_t swat_tok_size(const swat_tok *t) { return (int64_t)t->info.size(); }
int32_t swat_tok_bos(const swat_tok *t) { return t->sp.bos_id(); }
int32_t swat_tok_eos(const swat_tok *t) { return t->sp.eos_id(); }
int32_t swat_tok_unk(const swat_tok *t) { return t->sp.unk_id(); }

int swat_tok_encode(const swat_tok *t, const char *text, size_t len, swat_ids *out, char *err)
{
    /* SentencePiece's Encode wants a vector; one per thread, reused */
    static thread_local std::vector<int> ids;
    try {
        ids.clear();
        auto st = t->sp.Encode(std::string_view(text, len), &ids);
        if (!st.ok())
            return swat_errf(err, "tokenizer: cannot encode (%s)", one_line(st.error_message()).c_str());
    } catch (const std::bad_alloc &) {
        return swat_errf(err, "tokenizer: out of memory encoding %zu bytes", len);
    }
    if (out->cap - out->n < ids.size()) {
        size_t cap = out->cap ? out->cap : 4096;
        while (cap - out->n < ids.size()) cap *= 2;
        int32_t *grown = (int32_t *)swat_malloc(sizeof(int32_t) * cap);
        if (out->n) memcpy(grown, out->v, sizeof(int32_t) * out->n);
        swat_free(out->v);
        out->v = grown;
        out->cap = cap;
    }
    for (size_t i = 0; i < ids.size(); i++) out->v[out->n + i] = (int32_t)ids[i];
    out->n += ids.size();
    return 0;
}

const char *swat_tok_piece(const swat_tok *t, int32_t id)
{
    SWAT_ASSERT(id >= 0 && (size_t)id < t->raw.size());
    return t->raw[(size_t)id].c_str();
}

float swat_tok_score(const swat_tok *t, int32_t id)
{
    SWAT_ASSERT(id >= 0 && (size_t)id < t->score.size());
    return t->score[(size_t)id];
}

const char *swat_tok_piece_text(const swat_tok *t, int32_t id, size_t *len)
{
    SWAT_ASSERT(id >= 0 && (size_t)id < t->info.size());
    const piece_info &p = t->info[(size_t)id];
    *len = p.len;
    return t->text.data() + p.off;
}

int swat_tok_piece_bytes(const swat_tok *t, int32_t id)
{
    SWAT_ASSERT(id >= 0 && (size_t)id < t->info.size());
    return t->info[(size_t)id].bytes;
}

int swat_tok_train(const swat_tok_train_opts *o, const char *const *text, const size_t *len,
                   size_t n, char **model, size_t *model_len, char **vocab, char *err)
{
    *model = nullptr;
    *vocab = nullptr;
    *model_len = 0;
    try {
        memory_sentences it(text, len, n);
        std::string proto;
        auto st = sentencepiece::SentencePieceTrainer::Train(llama2_settings(o), &it, &proto);
        if (!st.ok()) {
            std::string why = one_line(st.error_message());
            long a = 0, b = 0;
            if (sscanf(why.c_str(), "Vocabulary size is smaller than required_chars. %ld vs %ld",
                       &a, &b) == 2)
                return swat_errf(err, "--vocab-size %ld is too small for this text: it needs at least "
                                 "%ld pieces (its characters, the 256 byte pieces, unk, bos, eos)",
                            a, b);
            return swat_errf(err, "SentencePiece training failed: %s", why.c_str());
        }
        swat_tok *t = nullptr;
        if (load(&t, std::string(proto), "the trained model", err)) return -1;
        /* the .vocab file SentencePiece's spm_train writes: piece, tab, score */
        std::ostringstream v;
        for (size_t i = 0; i < t->raw.size(); i++) v << t->raw[i] << '\t' << t->score[i] << '\n';
        swat_tok_free(t);
        std::string vs = v.str();
        *model = (char *)swat_malloc(proto.size() ? proto.size() : 1);
        memcpy(*model, proto.data(), proto.size());
        *model_len = proto.size();
        *vocab = (char *)swat_malloc(vs.size() + 1);
        memcpy(*vocab, vs.c_str(), vs.size() + 1);
    } catch (const std::bad_alloc &) {
        return swat_errf(err, "SentencePiece training: out of memory (fewer --input-sentences?)");
    } catch (const std::exception &e) {
        return swat_errf(err, "SentencePiece training failed: %s", one_line(e.what()).c_str());
    }
    return 0;
}

} // extern "C"
