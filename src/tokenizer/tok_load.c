/* Loading: `.tiktoken` files and npm tiktoken's JSON files, standard-encoding identification by
 * SHA-256, special tokens and pattern choice (docs/tokenizer.md). */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/hf_internal.h"
#include "util/codec.h"
#include "util/io.h"

#define MAX_FILE_BYTES ((size_t)256 << 20)

typedef struct {
    tok_entry *e;
    size_t n, cap;
    uint8_t *buf;  /* decoded token bytes */
    size_t used, bufcap;
} entries;

static int add_entry(entries *es, const uint8_t *tok, size_t tlen, uint64_t rank, uint32_t line, const char *what,
                     const char *unit, tl_err *err)
{
    /* strict standard base64 (padding required, no stray or non-canonical bits), as Rust's base64
     * STANDARD engine that npm tiktoken uses */
    size_t dl;
    if (tl_b64_decode_into((const char *)tok, tlen, es->buf + es->used, es->bufcap - es->used, &dl))
        return tl_errf(err, TL_EINVAL, "%s: %s %u: token '%.*s' is not valid base64", what, unit, line,
                       (int)(tlen > 40 ? 40 : tlen), (const char *)tok);
    if (rank >= TOK_MAX_ID)
        return tl_errf(err, TL_EINVAL, "%s: %s %u: rank %llu is too large (ranks must be below %u)", what, unit, line,
                       (unsigned long long)rank, TOK_MAX_ID);
    if (es->n == es->cap) {
        size_t cap = es->cap ? es->cap * 2 : 4096;
        tok_entry *ne = realloc(es->e, cap * sizeof *ne);
        if (!ne)
            return tl_errf(err, TL_ENOMEM, "%s: out of memory", what);
        es->e = ne;
        es->cap = cap;
    }
    es->e[es->n++] = (tok_entry){(uint32_t)es->used, (uint32_t)dl, (uint32_t)rank, line};
    es->used += dl;
    return 0;
}

/* Decimal digits only; caps at TOK_MAX_ID so huge numbers cannot overflow. -1 if not a number. */
static int64_t parse_rank(const uint8_t *s, size_t n)
{
    if (n == 0)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        if (v < TOK_MAX_ID)
            v = v * 10 + (s[i] - '0');
    }
    return (int64_t)(v > TOK_MAX_ID ? TOK_MAX_ID : v);
}

/* The line starting at p (< end): its length without the "\n" or "\r\n" that ends it; *next is
 * where the following line starts (past end after the last line). */
static size_t line_at(const uint8_t *p, const uint8_t *end, const uint8_t **next)
{
    const uint8_t *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol)
        eol = end;
    *next = eol + 1;
    size_t l = (size_t)(eol - p);
    if (l && p[l - 1] == '\r')
        l--;
    return l;
}

/* `.tiktoken`: one "BASE64 RANK" per line; empty lines are skipped, a trailing \r is allowed. */
static int parse_tiktoken(const uint8_t *d, size_t len, const char *what, entries *es, tl_err *err)
{
    uint32_t line = 0;
    const uint8_t *p = d, *end = d + len;
    while (p < end) {
        line++;
        const uint8_t *next;
        size_t l = line_at(p, end, &next);
        if (l) {
            const uint8_t *sp = memchr(p, ' ', l);
            if (!sp || sp == p || sp + 1 == p + l || memchr(sp + 1, ' ', (size_t)(p + l - sp - 1)))
                return tl_errf(err, TL_EINVAL, "%s: line %u: expected 'BASE64 RANK'", what, line);
            int64_t r = parse_rank(sp + 1, (size_t)(p + l - sp - 1));
            if (r < 0)
                return tl_errf(err, TL_EINVAL, "%s: line %u: rank is not a non-negative whole number", what, line);
            if (r >= TOK_MAX_ID)
                return tl_errf(err, TL_EINVAL, "%s: line %u: rank %.*s is too large (ranks must be below %u)", what,
                               line, (int)(p + l - sp - 1 > 24 ? 24 : p + l - sp - 1), (const char *)sp + 1, TOK_MAX_ID);
            if (add_entry(es, p, (size_t)(sp - p), (uint64_t)r, line, what, "line", err))
                return err ? err->code : TL_EINVAL;
        }
        p = next;
    }
    return 0;
}

/* npm tiktoken's bpe_ranks string: either the plain form above, or (first character '!') lines of
 * "! OFFSET TOKEN TOKEN ..." where the k-th token (from 0) has rank OFFSET + k. */
static int parse_bpe_ranks(const uint8_t *d, size_t len, const char *what, entries *es, tl_err *err)
{
    if (len == 0)
        return tl_errf(err, TL_EINVAL, "%s: bpe_ranks is empty", what);
    if (d[0] != '!')
        return parse_tiktoken(d, len, what, es, err);
    uint32_t line = 0;
    const uint8_t *p = d, *end = d + len;
    while (p < end) {
        line++;
        const uint8_t *next, *le = p + line_at(p, end, &next);
        const uint8_t *f = memchr(p, ' ', (size_t)(le - p));
        if (!f)
            return tl_errf(err, TL_EINVAL, "%s: bpe_ranks line %u: expected '! OFFSET TOKEN...'", what, line);
        const uint8_t *o = f + 1, *oe = memchr(o, ' ', (size_t)(le - o));
        if (!oe)
            oe = le;
        int64_t off = parse_rank(o, (size_t)(oe - o));
        if (off < 0)
            return tl_errf(err, TL_EINVAL, "%s: bpe_ranks line %u: offset is not a non-negative whole number", what,
                           line);
        uint64_t rank = (uint64_t)off;
        for (const uint8_t *q = oe; q < le; rank++) {
            q++;
            const uint8_t *te = memchr(q, ' ', (size_t)(le - q));
            if (!te)
                te = le;
            if (add_entry(es, q, (size_t)(te - q), rank, line, what, "bpe_ranks line", err))
                return err ? err->code : TL_EINVAL;
            q = te;
        }
        p = next;
    }
    return 0;
}

typedef struct {
    const char *pat_str;       /* NULL if absent */
    tok_special_spec *special; /* texts point into the json tree */
    size_t n_special;
    long long explicit_n;      /* -1 if absent */
} json_meta;

static int parse_json(const uint8_t *d, size_t len, const char *what, entries *es, json_meta *m, json_t **root,
                      tl_err *err)
{
    json_error_t je;
    m->explicit_n = -1;
    *root = json_loadb((const char *)d, len, JSON_REJECT_DUPLICATES, &je);
    if (!*root)
        return tl_errf(err, TL_EINVAL, "%s: line %d column %d: %s", what, je.line, je.column, je.text);
    if (!json_is_object(*root))
        return tl_errf(err, TL_EINVAL, "%s: expected a JSON object with bpe_ranks, pat_str, special_tokens", what);
    json_t *br = json_object_get(*root, "bpe_ranks"), *ps = json_object_get(*root, "pat_str");
    json_t *st = json_object_get(*root, "special_tokens"), *nv = json_object_get(*root, "explicit_n_vocab");
    if (!br)
        return tl_errf(err, TL_EINVAL, "%s: field 'bpe_ranks' is missing", what);
    if (!json_is_string(br))
        return tl_errf(err, TL_EINVAL, "%s: field 'bpe_ranks' must be a string", what);
    if (ps && !json_is_string(ps))
        return tl_errf(err, TL_EINVAL, "%s: field 'pat_str' must be a string", what);
    if (ps && strlen(json_string_value(ps)) != json_string_length(ps))
        return tl_errf(err, TL_EINVAL, "%s: field 'pat_str' contains a NUL character", what);
    if (st && !json_is_object(st))
        return tl_errf(err, TL_EINVAL, "%s: field 'special_tokens' must be an object of token ids", what);
    if (nv && (!json_is_integer(nv) || json_integer_value(nv) < 0))
        return tl_errf(err, TL_EINVAL, "%s: field 'explicit_n_vocab' must be a non-negative integer", what);
    m->pat_str = ps ? json_string_value(ps) : NULL;
    m->explicit_n = nv ? json_integer_value(nv) : -1;
    if (st && json_object_size(st)) {
        m->special = calloc(json_object_size(st), sizeof *m->special);
        if (!m->special)
            return tl_errf(err, TL_ENOMEM, "%s: out of memory", what);
        const char *k;
        json_t *v;
        json_object_foreach(st, k, v) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= TOK_MAX_ID)
                return tl_errf(err, TL_EINVAL, "%s: special_tokens: '%.64s' must map to an integer id in [0, %u)", what,
                               k, TOK_MAX_ID);
            m->special[m->n_special++] = (tok_special_spec){k, (uint32_t)json_integer_value(v)};
        }
    }
    size_t bl = json_string_length(br);
    es->buf = malloc(bl + 1);
    es->bufcap = bl; /* decoded tokens are shorter than their base64 text */
    if (!es->buf)
        return tl_errf(err, TL_ENOMEM, "%s: out of memory", what);
    return parse_bpe_ranks((const uint8_t *)json_string_value(br), bl, what, es, err);
}

static void sha256_hex(const uint8_t *d, size_t n, char out[65])
{
    unsigned char h[32];
    unsigned int hl = 0;
    if (!EVP_Digest(d, n, h, &hl, EVP_sha256(), NULL) || hl != 32) {
        out[0] = 0;
        return;
    }
    tl_hex(h, 32, out);
}

/* "dir/cl100k_base.tiktoken" -> the spec named cl100k_base (a file that claims to be standard). */
static const tok_spec *claimed_spec(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    char name[64];
    size_t n = strlen(b);
    if (n >= sizeof name)
        return NULL;
    memcpy(name, b, n + 1);
    char *dot = strrchr(name, '.');
    if (dot && (strcmp(dot, ".tiktoken") == 0 || strcmp(dot, ".json") == 0))
        *dot = 0;
    for (const tok_spec *s = tok_specs; s->name; s++)
        if (strcmp(name, s->encoding) == 0)
            return s;
    return NULL;
}

void tl_tokenizer_free(tl_tokenizer *t)
{
    if (!t)
        return;
    tok_vocab_free(t);
    for (int i = 0; i < t->n_special; i++)
        free(t->special[i].text);
    free(t->special);
    pcre2_code_free(t->re);
    free(t->warning);
    hf_free(t->hf);
    free(t);
}

/* A JSON object with a "model" member: a Hugging Face tokenizer.json (npm tiktoken files have bpe_ranks). */
static int is_hf_json(const uint8_t *d, size_t n)
{
    json_t *r = json_loadb((const char *)d, n, 0, NULL);
    int hf = json_is_object(r) && json_object_get(r, "model") && !json_object_get(r, "bpe_ranks");
    json_decref(r);
    return hf;
}

tl_tokenizer *tl_tokenizer_load_hf_mem(const uint8_t *json, size_t len, const uint8_t *config, size_t config_len,
                                       const char *name, tl_err *err)
{
    const char *what = name ? name : "tokenizer.json";
    if (len > MAX_FILE_BYTES) {
        tl_errf(err, TL_EINVAL, "%s: larger than %zu bytes", what, MAX_FILE_BYTES);
        return NULL;
    }
    tl_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        tl_errf(err, TL_ENOMEM, "%s: out of memory", what);
        return NULL;
    }
    if (hf_load(t, json, len, config, config_len, what, err)) {
        tl_tokenizer_free(t);
        return NULL;
    }
    return t;
}

static tl_tokenizer *load_mem_cfg(const uint8_t *data, size_t len, const char *name, const char *pattern,
                                  const uint8_t *cfg, size_t cfg_len, tl_err *err);

tl_tokenizer *tl_tokenizer_load_mem(const uint8_t *data, size_t len, const char *name, const char *pattern, tl_err *err)
{
    return load_mem_cfg(data, len, name, pattern, NULL, 0, err);
}

static tl_tokenizer *load_mem_cfg(const uint8_t *data, size_t len, const char *name, const char *pattern,
                                  const uint8_t *cfg, size_t cfg_len, tl_err *err)
{
    const char *what = name ? name : "tokenizer";
    const tok_spec *pat_spec = NULL;
    if (pattern && !(pat_spec = tok_spec_find(pattern))) {
        tl_errf(err, TL_EINVAL, "unknown pattern '%s' (known: cl100k, o200k, p50k, p50k_edit, r50k, gpt2)", pattern);
        return NULL;
    }
    if (len == 0) {
        tl_errf(err, TL_EINVAL, "%s: empty file", what);
        return NULL;
    }
    size_t i = 0;
    while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n'))
        i++;
    int is_json = i < len && (data[i] == '{' || data[i] == '[');
    if (is_json && is_hf_json(data, len)) {
        if (pattern) {
            tl_errf(err, TL_EINVAL, "%s: a tokenizer.json carries its own pre-tokenizer; --pattern cannot be used", what);
            return NULL;
        }
        return tl_tokenizer_load_hf_mem(data, len, cfg, cfg_len, what, err);
    }
    char sha[65];
    sha256_hex(data, len, sha);

    /* identity: the published file whose digest matches; ties (p50k/p50k_edit, r50k/gpt2 share
     * files) go to the name the file carries, then to the requested pattern */
    const tok_spec *claimed = name ? claimed_spec(name) : NULL, *known = NULL;
    for (const tok_spec *s = tok_specs; s->name; s++) {
        if (strcmp(sha, is_json ? s->json_sha : s->tiktoken_sha) != 0)
            continue;
        if (!known || s == claimed || (s == pat_spec && known != claimed))
            known = s;
    }

    tl_tokenizer *t = calloc(1, sizeof *t);
    entries es = {0};
    json_meta meta = {0};
    json_t *root = NULL;
    if (!t) {
        tl_errf(err, TL_ENOMEM, "%s: out of memory", what);
        return NULL;
    }
    int rc;
    if (is_json) {
        rc = parse_json(data, len, what, &es, &meta, &root, err);
    } else {
        es.buf = malloc(len + 1);
        es.bufcap = len;
        rc = es.buf ? parse_tiktoken(data, len, what, &es, err) : tl_errf(err, TL_ENOMEM, "%s: out of memory", what);
    }
    if (!rc)
        rc = tok_vocab_build(t, es.buf, es.e, es.n, what, is_json ? "bpe_ranks line" : "line", err);

    /* special tokens: the JSON's own; a standard .tiktoken's published ones; otherwise <|endoftext|>
     * right after the largest rank, so trained vocabularies get an end-of-text id */
    if (!rc) {
        if (is_json) {
            rc = tok_vocab_add_specials(t, meta.special, meta.n_special, what, err);
            if (!rc && meta.explicit_n >= 0 && (long long)(es.n + meta.n_special) != meta.explicit_n)
                rc = tl_errf(err, TL_EINVAL, "%s: explicit_n_vocab is %lld but the file has %zu tokens", what,
                             meta.explicit_n, es.n + meta.n_special);
        } else if (known) {
            const tok_spec *s = pat_spec && strcmp(pat_spec->tiktoken_sha, known->tiktoken_sha) == 0 ? pat_spec : known;
            size_t ns = 0;
            while (ns < 6 && s->special[ns].text)
                ns++;
            rc = tok_vocab_add_specials(t, s->special, ns, what, err);
        } else {
            tok_special_spec eot = {"<|endoftext|>", t->n_ids};
            rc = tok_vocab_add_specials(t, &eot, 1, what, err);
        }
    }

    /* pattern: the caller's; else the JSON's pat_str; else the standard encoding's; else cl100k */
    const char *pat = NULL, *pname = NULL;
    if (pat_spec) {
        pat = pat_spec->pat;
        pname = pat_spec->name;
    } else if (is_json && meta.pat_str) {
        const tok_spec *s = tok_spec_by_pat(meta.pat_str);
        pat = meta.pat_str;
        pname = s ? s->name : "custom";
    } else {
        const tok_spec *s = known ? known : claimed ? claimed : tok_spec_find("cl100k");
        pat = s->pat;
        pname = s->name;
    }
    if (!rc)
        rc = tok_compile_pattern(t, pat, what, err);
    if (!rc) {
        snprintf(t->pattern, sizeof t->pattern, "%s", pname);
        snprintf(t->encoding, sizeof t->encoding, "%s", known ? known->encoding : "custom");
        if (!known && claimed) {
            char w[512];
            snprintf(w, sizeof w,
                     "%s: named like the standard %s %s file, but its SHA-256 %.16s... does not match the published "
                     "%.16s...; loaded as a custom encoding",
                     what, claimed->encoding, is_json ? "JSON" : ".tiktoken", sha,
                     is_json ? claimed->json_sha : claimed->tiktoken_sha);
            t->warning = strdup(w);
        }
    }
    free(es.e);
    free(es.buf);
    free(meta.special);
    json_decref(root);
    if (rc) {
        tl_tokenizer_free(t);
        return NULL;
    }
    return t;
}

tl_tokenizer *tl_tokenizer_load(const char *path, const char *pattern, tl_err *err)
{
    uint8_t *d = NULL;
    size_t n = 0;
    if (tl_read_file(path, MAX_FILE_BYTES, &d, &n, err))
        return NULL;
    /* a tokenizer.json reads the tokenizer_config.json beside it (BOS/EOS, clean-up) */
    uint8_t *cfg = NULL;
    size_t cfg_len = 0;
    char cpath[4096];
    const char *slash = strrchr(path, '/');
    size_t dl = slash ? (size_t)(slash - path) : 0;
    if (dl + sizeof "/tokenizer_config.json" < sizeof cpath) {
        snprintf(cpath, sizeof cpath, "%.*s%stokenizer_config.json", (int)dl, path, slash ? "/" : "");
        if (tl_is_file(cpath) && is_hf_json(d, n) && tl_read_file(cpath, 16u << 20, &cfg, &cfg_len, err)) {
            free(d);
            return NULL;
        }
    }
    tl_tokenizer *t = load_mem_cfg(d, n, path, pattern, cfg, cfg_len, err);
    free(cfg);
    free(d);
    return t;
}

tl_tokenizer *tl_tokenizer_load_model_dir(const char *dir, const char *pattern, tl_err *err)
{
    static const char *names[] = {"tokenizer.tiktoken", "tokenizer.json"};
    char path[4096];
    for (size_t i = 0; i < 2; i++) {
        if (tl_path_join(path, sizeof path, dir, names[i]) == 0 && tl_is_file(path))
            return tl_tokenizer_load(path, pattern, err);
    }
    tl_errf(err, TL_ENOTFOUND, "%s: no tokenizer.tiktoken or tokenizer.json in the model directory", dir);
    return NULL;
}

const uint8_t *tl_tokenizer_token_bytes(const tl_tokenizer *t, uint32_t id, size_t *len)
{
    if (!t || id >= t->n_ids || !t->tok_len[id])
        return NULL;
    if (len)
        *len = t->tok_len[id];
    return t->arena + t->tok_off[id];
}

uint32_t tl_tokenizer_vocab_size(const tl_tokenizer *t) { return t ? t->n_ids : 0; }
const char *tl_tokenizer_pattern_name(const tl_tokenizer *t) { return t ? t->pattern : "none"; }
const char *tl_tokenizer_encoding_name(const tl_tokenizer *t) { return t ? t->encoding : "none"; }
const char *tl_tokenizer_warning(const tl_tokenizer *t) { return t ? t->warning : NULL; }

int64_t tl_tokenizer_special_id(const tl_tokenizer *t, const char *text)
{
    for (int i = 0; t && i < t->n_special; i++)
        if (strcmp(t->special[i].text, text) == 0)
            return t->special[i].id;
    return -1;
}

int tl_tokenizer_id_is_special(const tl_tokenizer *t, uint32_t id)
{
    return t && id < t->n_ids && t->tok_is_special[id];
}
