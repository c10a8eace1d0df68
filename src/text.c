/* SPDX-License-Identifier: MIT */
/* text.c: UTF-8 checking, cutting and streaming repair, and the JSON member
 * reader of JSON Lines corpora (see text.h).
 *
 * UTF-8 (RFC 3629, the Unicode Standard's Table 3-7): a lead byte fixes the
 * length and the range of the second byte (E0 needs A0–BF against overlongs,
 * ED 80–9F against surrogates, F0 90–BF, F4 80–8F against > U+10FFFF); later
 * bytes are 80–BF. utf8_step() decides one character from its first bytes and
 * serves the checker, the cutter and the sanitizer alike, so the three cannot
 * disagree about what is valid. The checker skips runs of ASCII eight bytes at
 * a time: corpus text is mostly ASCII and every document goes through it.
 *
 * JSON (RFC 8259) is parsed strictly — one object per line, no trailing
 * commas, no comments, control characters escaped, \u escapes paired into
 * valid scalar values — because a line we half-understand would put wrong
 * text into the token stream silently. Only the member asked for is decoded;
 * every other value is checked and skipped without copying. Nesting is capped
 * (JSON_MAX_DEPTH) so a hostile line cannot exhaust the stack. */
#include "swat/text.h"

#include <string.h>

/* ---- buffers ------------------------------------------------------------------- */

void swat_buf_reserve(swat_buf *b, size_t more)
{
    if (b->cap - b->n >= more) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->n < more) {
        SWAT_ASSERT(cap <= SIZE_MAX / 2);
        cap *= 2;
    }
    char *p = swat_malloc(cap);
    if (b->n) memcpy(p, b->p, b->n);
    swat_free(b->p);
    b->p = p;
    b->cap = cap;
}

void swat_buf_free(swat_buf *b)
{
    swat_free(b->p);
    *b = (swat_buf){0};
}

/* ---- UTF-8 ----------------------------------------------------------------------- */

/* One character at s[0, n), n ≥ 1. Returns its length (1–4) when valid; −k
 * when invalid, k ≥ 1 being the length of its maximal subpart (the bytes one
 * U+FFFD replaces); 0 when s is a valid but incomplete beginning. */
static int utf8_step(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int len;
    unsigned lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return -1; /* 80–C1, F5–FF never start a character */
    for (int k = 1; k < len; k++) {
        if ((size_t)k >= n) return 0;
        unsigned b = s[k];
        if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return -k;
    }
    return len;
}

size_t swat_utf8_valid(const void *sv, size_t n)
{
    const unsigned char *s = sv;
    size_t i = 0;
    while (i < n) {
        /* ASCII runs eight bytes at a time */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & UINT64_C(0x8080808080808080)) break;
            i += 8;
        }
        if (i >= n) break;
        int k = utf8_step(s + i, n - i);
        if (k <= 0) return i;
        i += (size_t)k;
    }
    return n;
}

size_t swat_utf8_cut(const void *sv, size_t n, size_t max)
{
    const unsigned char *s = sv;
    if (n <= max) return n;
    size_t i = max;
    /* back up over continuation bytes to the start of the character at max */
    while (i > 0 && (s[i] & 0xC0) == 0x80) i--;
    return i;
}

static size_t put_replacement(char *out)
{
    memcpy(out, "\xEF\xBF\xBD", 3); /* U+FFFD */
    return 3;
}

/* Sanitizes s[0, n): complete characters and U+FFFDs to out; returns the
 * bytes consumed (an incomplete valid tail is left unconsumed). */
static size_t sanitize(const unsigned char *s, size_t n, char *out, size_t *written)
{
    size_t i = 0, w = *written;
    while (i < n) {
        int k = utf8_step(s + i, n - i);
        if (k == 0) break;
        if (k > 0) {
            memcpy(out + w, s + i, (size_t)k);
            w += (size_t)k;
            i += (size_t)k;
        } else {
            w += put_replacement(out + w);
            i += (size_t)-k;
        }
    }
    *written = w;
    return i;
}

size_t swat_utf8_put(swat_utf8_stream *st, const void *in, size_t n, char *out)
{
    const unsigned char *s = in;
    size_t w = 0;
    /* finish the held-back sequence first, a byte at a time: it needs at most
     * three more to be decided, and what it does not use is input again */
    while (st->n > 0 && n > 0) {
        st->pend[st->n++] = *s++;
        n--;
        size_t used = sanitize(st->pend, (size_t)st->n, out, &w);
        memmove(st->pend, st->pend + used, (size_t)st->n - used);
        st->n -= (int)used;
    }
    size_t used = sanitize(s, n, out, &w);
    SWAT_ASSERT(n - used <= 3 && (st->n == 0 || used == n));
    memcpy(st->pend + st->n, s + used, n - used);
    st->n += (int)(n - used);
    return w;
}

size_t swat_utf8_flush(swat_utf8_stream *st, char *out)
{
    if (st->n == 0) return 0;
    st->n = 0; /* a valid beginning cut off: one maximal subpart */
    return put_replacement(out);
}

/* ---- JSON ------------------------------------------------------------------------ */

#define JSON_MAX_DEPTH 256

typedef struct json {
    const unsigned char *s;
    size_t n, i;
    const char *why;
    size_t at;
} json;

static int json_fail(json *p, const char *why)
{
    if (!p->why) {
        p->why = why;
        p->at = p->i;
    }
    return -1;
}

static void json_ws(json *p)
{
    while (p->i < p->n) {
        unsigned char c = p->s[p->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->i++;
    }
}

static int hex4(json *p, unsigned *out)
{
    if (p->n - p->i < 4) return json_fail(p, "malformed JSON: \\u needs four hex digits");
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        unsigned char c = p->s[p->i + (size_t)k];
        unsigned d = c >= '0' && c <= '9' ? c - '0' + 0u : c >= 'a' && c <= 'f' ? c - 'a' + 10u
                     : c >= 'A' && c <= 'F' ? c - 'A' + 10u : 16u;
        if (d == 16) return json_fail(p, "malformed JSON: \\u needs four hex digits");
        v = v * 16 + d;
    }
    p->i += 4;
    *out = v;
    return 0;
}

static size_t utf8_encode(unsigned cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A string at p->i (the opening quote). Decoded into out when out is not
 * NULL (appended), else only checked. *raw_escaped tells whether it held any
 * escape (then its raw bytes are not its value). */
static int json_string(json *p, swat_buf *out, int *raw_escaped)
{
    SWAT_ASSERT(p->s[p->i] == '"');
    p->i++;
    if (raw_escaped) *raw_escaped = 0;
    for (;;) {
        size_t run = p->i;
        while (run < p->n && p->s[run] != '"' && p->s[run] != '\\' && p->s[run] >= 0x20) run++;
        if (out && run > p->i) {
            swat_buf_reserve(out, run - p->i);
            memcpy(out->p + out->n, p->s + p->i, run - p->i);
            out->n += run - p->i;
        }
        p->i = run;
        if (p->i >= p->n) return json_fail(p, "malformed JSON: unterminated string");
        unsigned char c = p->s[p->i];
        if (c == '"') {
            p->i++;
            return 0;
        }
        if (c < 0x20) return json_fail(p, "malformed JSON: control character in a string");
        /* an escape */
        if (raw_escaped) *raw_escaped = 1;
        if (p->i + 1 >= p->n) return json_fail(p, "malformed JSON: unterminated string");
        char e = (char)p->s[p->i + 1], lit;
        p->i += 2;
        switch (e) {
        case '"': lit = '"'; break;
        case '\\': lit = '\\'; break;
        case '/': lit = '/'; break;
        case 'b': lit = '\b'; break;
        case 'f': lit = '\f'; break;
        case 'n': lit = '\n'; break;
        case 'r': lit = '\r'; break;
        case 't': lit = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            p->i -= 2; /* report the escape's position */
            size_t esc = p->i;
            p->i += 2;
            if (hex4(p, &cp)) return -1;
            if (cp >= 0xDC00 && cp <= 0xDFFF) {
                p->i = esc;
                return json_fail(p, "invalid UTF-8: \\u escape of a lone low surrogate");
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (p->n - p->i < 6 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u') {
                    p->i = esc;
                    return json_fail(p, "invalid UTF-8: \\u escape of a lone high surrogate");
                }
                p->i += 2;
                if (hex4(p, &lo)) return -1;
                if (lo < 0xDC00 || lo > 0xDFFF) {
                    p->i = esc;
                    return json_fail(p, "invalid UTF-8: \\u escape of a lone high surrogate");
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (out) {
                swat_buf_reserve(out, 4);
                out->n += utf8_encode(cp, out->p + out->n);
            }
            continue;
        }
        default: p->i -= 2; return json_fail(p, "malformed JSON: unknown escape in a string");
        }
        if (out) {
            swat_buf_reserve(out, 1);
            out->p[out->n++] = lit;
        }
    }
}

static int json_number(json *p)
{
    size_t i = p->i;
    const unsigned char *s = p->s;
    if (i < p->n && s[i] == '-') i++;
    if (i < p->n && s[i] == '0') i++;
    else if (i < p->n && s[i] >= '1' && s[i] <= '9')
        while (i < p->n && s[i] >= '0' && s[i] <= '9') i++;
    else
        return json_fail(p, "malformed JSON: expected a value");
    if (i < p->n && s[i] == '.') {
        i++;
        if (i >= p->n || s[i] < '0' || s[i] > '9') {
            p->i = i;
            return json_fail(p, "malformed JSON: digits expected after '.'");
        }
        while (i < p->n && s[i] >= '0' && s[i] <= '9') i++;
    }
    if (i < p->n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < p->n && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= p->n || s[i] < '0' || s[i] > '9') {
            p->i = i;
            return json_fail(p, "malformed JSON: digits expected in the exponent");
        }
        while (i < p->n && s[i] >= '0' && s[i] <= '9') i++;
    }
    p->i = i;
    return 0;
}

static int json_value(json *p, int depth);

/* An object or array at p->i. With key set (the top-level object only), the
 * value of member `key` is decoded into out when it is a string (counted in
 * *found); *bad_at gets the offset of its value when the last such member is
 * not a string, SIZE_MAX otherwise. */
static int json_container(json *p, int depth, const char *key, swat_buf *out, int *found,
                          size_t *bad_at)
{
    if (depth > JSON_MAX_DEPTH) return json_fail(p, "malformed JSON: nested too deeply");
    int obj = p->s[p->i] == '{';
    char close = obj ? '}' : ']';
    p->i++;
    json_ws(p);
    if (p->i < p->n && p->s[p->i] == close) {
        p->i++;
        return 0;
    }
    for (;;) {
        int match = 0;
        if (obj) {
            if (p->i >= p->n || p->s[p->i] != '"')
                return json_fail(p, "malformed JSON: expected a member name in quotes");
            size_t start = p->i + 1;
            int escaped;
            if (key) {
                /* compare the name: raw when it has no escape, else decoded */
                /* decoded names are never longer than raw ones, so `small`
                 * never has to grow (swat_buf_reserve would free it) */
                swat_buf name = {0};
                char small[SWAT_JSON_MAX_KEY + 4];
                size_t before = p->i;
                if (json_string(p, NULL, &escaped)) return -1;
                size_t len = p->i - 1 - start;
                if (!escaped) {
                    match = len == strlen(key) && memcmp(p->s + start, key, len) == 0;
                } else if (len <= SWAT_JSON_MAX_KEY) {
                    name.p = small;
                    name.cap = sizeof small;
                    p->i = before;
                    if (json_string(p, &name, NULL)) return -1;
                    match = name.n == strlen(key) && memcmp(name.p, key, name.n) == 0;
                }
            } else if (json_string(p, NULL, NULL)) {
                return -1;
            }
            json_ws(p);
            if (p->i >= p->n || p->s[p->i] != ':')
                return json_fail(p, "malformed JSON: expected ':' after a member name");
            p->i++;
            json_ws(p);
        }
        if (match && p->i < p->n && p->s[p->i] == '"') {
            out->n = 0; /* the last member of that name wins */
            if (json_string(p, out, NULL)) return -1;
            (*found)++;
            *bad_at = SIZE_MAX;
        } else {
            if (match) *bad_at = p->i;
            if (json_value(p, depth + 1)) return -1;
        }
        json_ws(p);
        if (p->i >= p->n)
            return json_fail(p, obj ? "malformed JSON: unterminated object"
                                    : "malformed JSON: unterminated array");
        if (p->s[p->i] == ',') {
            p->i++;
            json_ws(p);
            continue;
        }
        if (p->s[p->i] == close) {
            p->i++;
            return 0;
        }
        return json_fail(p, obj ? "malformed JSON: expected ',' or '}'"
                                : "malformed JSON: expected ',' or ']'");
    }
}

static int json_literal(json *p, const char *lit)
{
    size_t len = strlen(lit);
    if (p->n - p->i < len || memcmp(p->s + p->i, lit, len) != 0)
        return json_fail(p, "malformed JSON: expected a value");
    p->i += len;
    return 0;
}

static int json_value(json *p, int depth)
{
    if (p->i >= p->n) return json_fail(p, "malformed JSON: expected a value");
    switch (p->s[p->i]) {
    case '{':
    case '[': return json_container(p, depth, NULL, NULL, NULL, NULL);
    case '"': return json_string(p, NULL, NULL);
    case 't': return json_literal(p, "true");
    case 'f': return json_literal(p, "false");
    case 'n': return json_literal(p, "null");
    default: return json_number(p);
    }
}

int swat_json_string_member(const char *line, size_t n, const char *key, swat_buf *out,
                            const char **why, size_t *at)
{
    SWAT_ASSERT(strlen(key) <= SWAT_JSON_MAX_KEY);
    json p = {(const unsigned char *)line, n, 0, NULL, 0};
    out->n = 0;
    size_t bad = swat_utf8_valid(line, n);
    if (bad < n) {
        *why = "invalid UTF-8";
        *at = bad;
        return -1;
    }
    json_ws(&p);
    if (p.i >= n || p.s[p.i] != '{') {
        *why = p.i >= n ? "not a JSON object (empty line)" : "not a JSON object";
        *at = p.i;
        return -1;
    }
    int found = 0;
    size_t bad_at = SIZE_MAX;
    if (json_container(&p, 1, key, out, &found, &bad_at) == 0) {
        json_ws(&p);
        if (p.i < n) json_fail(&p, "malformed JSON: text after the object");
    }
    if (p.why) {
        *why = p.why;
        *at = p.at;
        return -1;
    }
    if (bad_at != SIZE_MAX) {
        *at = bad_at;
        return SWAT_JSON_NOT_STRING;
    }
    *at = 0;
    return found ? 0 : SWAT_JSON_MISSING;
}
