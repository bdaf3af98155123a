/* Loading tokenizer.json (Hugging Face tokenizers) and tokenizer_config.json: validation and the
 * tables the encoder uses (docs/tokenizer.md, "tokenizer.json"). Everything in the file is hostile:
 * every refusal names the file and the JSON field. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include "tokenizer/hf_internal.h"

#define MAX_VOCAB (1u << 22)
#define MAX_ADDED 65536u
#define MAX_TOKEN_BYTES 65536u
#define MAX_ADDED_BYTES (4u << 20)

static uint32_t b2u[256];
static int16_t u2b[512];
static void init_bytes(void)
{
    if (b2u['!'])
        return;
    int n = 0;
    for (int b = 0; b < 512; b++)
        u2b[b] = -1;
    for (int b = 0; b < 256; b++) {
        int keep = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        b2u[b] = keep ? (uint32_t)b : (uint32_t)(256 + n++);
    }
    for (int b = 0; b < 256; b++)
        u2b[b2u[b]] = (int16_t)b;
}
uint32_t hf_byte_char(uint8_t b) { init_bytes(); return b2u[b]; }
int hf_char_byte(uint32_t cp) { init_bytes(); return cp < 512 ? u2b[cp] : -1; }

/* ---- small helpers ---------------------------------------------------------------------------- */

typedef struct {
    const char *what;
    tl_err *err;
} ctx;

#define FAIL(c, ...) tl_errf((c)->err, TL_EINVAL, __VA_ARGS__)

static int get_bool(ctx *c, json_t *o, const char *k, int dflt, const char *field, int *out)
{
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) {
        *out = dflt;
        return 0;
    }
    if (!json_is_boolean(v))
        return FAIL(c, "%s: %s.%s must be true or false", c->what, field, k);
    *out = json_is_true(v);
    return 0;
}

/* A JSON string field as (ptr, len); NULL if absent or null; refuses other types and NUL bytes. */
static int get_str(ctx *c, json_t *o, const char *k, const char *field, const char **s, size_t *n)
{
    json_t *v = json_object_get(o, k);
    *s = NULL;
    *n = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return FAIL(c, "%s: %s.%s must be a string", c->what, field, k);
    *s = json_string_value(v);
    *n = json_string_length(v);
    if (memchr(*s, 0, *n))
        return FAIL(c, "%s: %s.%s contains a NUL character", c->what, field, k);
    return 0;
}

static char *dup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

static const char *type_of(ctx *c, json_t *o, const char *field)
{
    json_t *t = json_object_get(o, "type");
    if (!json_is_string(t)) {
        FAIL(c, "%s: %s.type is missing or not a string", c->what, field);
        return NULL;
    }
    return json_string_value(t);
}

/* normalizers, pre-tokenizers, decoders and post-processors are trees of one shape: an object with
 * a type, a Sequence of them nesting at most 8 deep */
typedef int (*add_fn)(ctx *c, tok_hf *h, json_t *o, const char *field, int depth);

/* The type of one node, or NULL with the error set. */
static const char *node_type(ctx *c, json_t *o, const char *field, int depth, int nullable)
{
    if (!json_is_object(o)) {
        FAIL(c, "%s: %s must be an object%s", c->what, field, nullable ? " or null" : "");
        return NULL;
    }
    if (depth > 8) {
        FAIL(c, "%s: %s: Sequence nested more than 8 deep", c->what, field);
        return NULL;
    }
    return type_of(c, o, field);
}

/* A Sequence node: each item of its array o[key], one level deeper. */
static int add_seq(ctx *c, tok_hf *h, json_t *o, const char *field, int depth, const char *key, add_fn add)
{
    json_t *l = json_object_get(o, key);
    if (!json_is_array(l))
        return FAIL(c, "%s: %s.%s must be an array", c->what, field, key);
    char sub[160];
    for (size_t i = 0; i < json_array_size(l); i++) {
        snprintf(sub, sizeof sub, "%s.%s[%zu]", field, key, i);
        int rc = add(c, h, json_array_get(l, i), sub, depth + 1);
        if (rc)
            return rc;
    }
    return 0;
}

/* Room for one more stage at the end of a list of at most 64: the grown list in *out. */
static int grow(ctx *c, void *list, int n, size_t size, const char *field, const char *kind, void **out)
{
    if (n >= 64)
        return FAIL(c, "%s: %s: more than 64 %s", c->what, field, kind);
    *out = realloc(list, (size_t)(n + 1) * size);
    return *out ? 0 : tl_errf(c->err, TL_ENOMEM, "%s: out of memory", c->what);
}

/* A Replace normalizer's or decoder's {"pattern": {"String": a}, "content": b}, copied (a copy is
 * NULL when out of memory). */
static int get_replace(ctx *c, json_t *o, const char *field, char **a, size_t *al, char **b, size_t *bl)
{
    const char *s;
    size_t sl;
    char sub[160];
    json_t *p = json_object_get(o, "pattern");
    snprintf(sub, sizeof sub, "%s.pattern", field);
    if (!json_is_object(p) || json_object_get(p, "Regex"))
        return FAIL(c, "%s: %s must be {\"String\": ...} (Regex replacements are not supported)", c->what, sub);
    if (get_str(c, p, "String", sub, &s, &sl))
        return TL_EINVAL;
    if (!s || !sl)
        return FAIL(c, "%s: %s.String is missing or empty", c->what, sub);
    *a = dup(s, sl);
    *al = sl;
    if (get_str(c, o, "content", field, &s, &sl))
        return TL_EINVAL;
    *b = dup(s ? s : "", sl);
    *bl = sl;
    return 0;
}

/* A Metaspace pre-tokenizer's or decoder's replacement s (▁ when absent), copied (NULL when out of
 * memory). */
static int metaspace_rep(ctx *c, const char *field, const char *s, size_t sl, char **rep, size_t *repl)
{
    if (!s)
        s = "\xE2\x96\x81", sl = 3;
    if (!sl)
        return FAIL(c, "%s: %s.replacement is empty", c->what, field);
    *rep = dup(s, sl);
    *repl = sl;
    return 0;
}

/* string -> id hash over key bytes */
static uint32_t str_find(const hf_str_slot *sl, uint32_t mask, const uint8_t *arena, const uint32_t *off,
                         const uint32_t *len, const uint8_t *p, size_t n)
{
    uint64_t h = tok_hash(p, n);
    uint32_t tag = (uint32_t)(h >> 32), i = (uint32_t)h & mask;
    for (;;) {
        if (sl[i].id == TOK_NONE)
            return TOK_NONE;
        if (sl[i].tag == tag && len[sl[i].id] == n && memcmp(arena + off[sl[i].id], p, n) == 0)
            return sl[i].id;
        i = (i + 1) & mask;
    }
}
static void str_put(hf_str_slot *sl, uint32_t mask, const uint8_t *p, size_t n, uint32_t id)
{
    uint64_t h = tok_hash(p, n);
    uint32_t i = (uint32_t)h & mask;
    while (sl[i].id != TOK_NONE)
        i = (i + 1) & mask;
    sl[i].id = id;
    sl[i].tag = (uint32_t)(h >> 32);
}

/* ---- normalizer --------------------------------------------------------------------------------- */

static int add_norm(ctx *c, tok_hf *h, json_t *o, const char *field, int depth)
{
    if (!o || json_is_null(o))
        return 0;
    const char *t = node_type(c, o, field, depth, 1);
    if (!t)
        return TL_EINVAL;
    if (strcmp(t, "Sequence") == 0)
        return add_seq(c, h, o, field, depth, "normalizers", add_norm);
    hf_norm n = {0};
    const char *s;
    size_t sl;
    if (strcmp(t, "NFC") == 0)
        n.kind = HFN_NFC;
    else if (strcmp(t, "NFD") == 0)
        n.kind = HFN_NFD;
    else if (strcmp(t, "NFKC") == 0)
        n.kind = HFN_NFKC;
    else if (strcmp(t, "NFKD") == 0)
        n.kind = HFN_NFKD;
    else if (strcmp(t, "Prepend") == 0) {
        n.kind = HFN_PREPEND;
        if (get_str(c, o, "prepend", field, &s, &sl))
            return TL_EINVAL;
        if (!s)
            return FAIL(c, "%s: %s.prepend is missing", c->what, field);
        n.a = dup(s, sl);
        n.al = sl;
    } else if (strcmp(t, "Replace") == 0) {
        n.kind = HFN_REPLACE;
        if (get_replace(c, o, field, &n.a, &n.al, &n.b, &n.bl)) {
            free(n.a);
            return TL_EINVAL;
        }
    } else {
        return FAIL(c, "%s: %s.type '%.40s' is not supported (supported: NFC, NFD, NFKC, NFKD, Prepend, Replace, Sequence)",
                    c->what, field, t);
    }
    void *nn = NULL;
    int rc = (n.kind == HFN_PREPEND && !n.a) || (n.kind == HFN_REPLACE && (!n.a || !n.b))
                 ? tl_errf(c->err, TL_ENOMEM, "%s: out of memory", c->what)
                 : grow(c, h->norm, h->n_norm, sizeof *h->norm, field, "normalizers", &nn);
    if (rc) {
        free(n.a), free(n.b);
        return rc;
    }
    h->norm = nn;
    h->norm[h->n_norm++] = n;
    return 0;
}

/* ---- pre-tokenizer ------------------------------------------------------------------------------ */

static int add_pre(ctx *c, tok_hf *h, json_t *o, const char *field, int depth)
{
    const char *t = node_type(c, o, field, depth, 0);
    if (!t)
        return TL_EINVAL;
    char sub[160];
    if (h->n_pre && h->pre[h->n_pre - 1].kind == HFP_BYTELEVEL)
        return FAIL(c, "%s: %s: a pre-tokenizer after ByteLevel is not supported (ByteLevel must come last)",
                    c->what, field);
    if (strcmp(t, "Sequence") == 0)
        return add_seq(c, h, o, field, depth, "pretokenizers", add_pre);
    void *np;
    int rc = grow(c, h->pre, h->n_pre, sizeof *h->pre, field, "pre-tokenizers", &np);
    if (rc)
        return rc;
    h->pre = np;
    hf_pre *p = &h->pre[h->n_pre++];
    memset(p, 0, sizeof *p);
    p->kind = -1;
    const char *s;
    size_t sl;
    if (strcmp(t, "ByteLevel") == 0) {
        int ur = 1;
        p->kind = HFP_BYTELEVEL;
        if (get_bool(c, o, "add_prefix_space", 0, field, &p->flag) || get_bool(c, o, "use_regex", 1, field, &ur))
            return TL_EINVAL;
        h->byte_level = 1;
        if (ur)
            return hf_compile_bytelevel(&p->re, &p->jit, c->what, c->err);
        return 0;
    }
    if (strcmp(t, "Digits") == 0) {
        p->kind = HFP_DIGITS;
        return get_bool(c, o, "individual_digits", 0, field, &p->flag);
    }
    if (strcmp(t, "Metaspace") == 0) {
        int split = 0;
        p->kind = HFP_METASPACE;
        if (get_str(c, o, "replacement", field, &s, &sl) || get_bool(c, o, "split", 0, field, &split))
            return TL_EINVAL;
        if (split)
            return FAIL(c, "%s: %s.split true is not supported (the reference implementations disagree on it; "
                        "Llama-family files use false)", c->what, field);
        if (metaspace_rep(c, field, s, sl, &p->rep, &p->repl))
            return TL_EINVAL;
        if (get_str(c, o, "prepend_scheme", field, &s, &sl))
            return TL_EINVAL;
        if (!s || strcmp(s, "always") == 0)
            p->flag = HFM_ALWAYS;
        else if (strcmp(s, "first") == 0)
            p->flag = HFM_FIRST;
        else if (strcmp(s, "never") == 0)
            p->flag = HFM_NEVER;
        else
            return FAIL(c, "%s: %s.prepend_scheme '%.20s' is not always, first or never", c->what, field, s);
        return p->rep ? 0 : tl_errf(c->err, TL_ENOMEM, "%s: out of memory", c->what);
    }
    if (strcmp(t, "Split") == 0) {
        int inv = 0;
        p->kind = HFP_SPLIT;
        json_t *pat = json_object_get(o, "pattern");
        snprintf(sub, sizeof sub, "%s.pattern", field);
        if (!json_is_object(pat))
            return FAIL(c, "%s: %s must be {\"Regex\": ...} or {\"String\": ...}", c->what, sub);
        if (get_bool(c, o, "invert", 0, field, &inv) || get_str(c, o, "behavior", field, &s, &sl))
            return TL_EINVAL;
        if (inv)
            p->behavior = HFB_INVERT;
        else if (s && strcmp(s, "Isolated") == 0)
            p->behavior = HFB_ISOLATED;
        else if (s && strcmp(s, "Removed") == 0)
            p->behavior = HFB_REMOVED;
        else
            return FAIL(c, "%s: %s.behavior '%.30s' is not supported (Isolated and Removed are; the reference "
                        "treats the others as Isolated, unlike the tokenizers library)", c->what, field, s ? s : "(missing)");
        const char *rs, *ss;
        size_t rl, ssl;
        if (get_str(c, pat, "Regex", sub, &rs, &rl) || get_str(c, pat, "String", sub, &ss, &ssl))
            return TL_EINVAL;
        snprintf(sub, sizeof sub, "%s.pattern.%s", field, rs ? "Regex" : "String");
        if (rs) {
            if (hf_compile_regex(rs, rl, &p->re, &p->jit, c->what, sub, c->err))
                return c->err ? c->err->code : TL_EINVAL;
            uint32_t caps = 0;
            pcre2_pattern_info(p->re, PCRE2_INFO_CAPTURECOUNT, &caps);
            if (caps && p->behavior == HFB_REMOVED)
                return FAIL(c, "%s: %s: capture groups with behavior Removed are not supported", c->what, sub);
            /* the Llama 3 pattern is cl100k's: its ASCII pieces can be cut by hand (tok_fast.c) */
            const tok_spec *cl = tok_spec_find("cl100k");
            if (rl == strlen(cl->pat) && memcmp(rs, cl->pat, rl) == 0)
                p->fast = tok_fast_cl100k;
            return 0;
        }
        if (!ss || !ssl)
            return FAIL(c, "%s: %s: neither a Regex nor a non-empty String", c->what, sub);
        if (p->behavior == HFB_REMOVED)
            return FAIL(c, "%s: %s: a String pattern with behavior Removed is not supported", c->what, sub);
        /* a literal: escape everything but letters and digits */
        char *lit = malloc(ssl * 2 + 1);
        if (!lit)
            return tl_errf(c->err, TL_ENOMEM, "%s: out of memory", c->what);
        size_t k = 0;
        for (size_t i = 0; i < ssl; i++) {
            unsigned char ch = (unsigned char)ss[i];
            if (ch < 0x80 && !((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') && !(ch >= '0' && ch <= '9'))
                lit[k++] = '\\';
            lit[k++] = (char)ch;
        }
        rc = hf_compile_regex(lit, k, &p->re, &p->jit, c->what, sub, c->err);
        free(lit);
        return rc ? (c->err ? c->err->code : TL_EINVAL) : 0;
    }
    return FAIL(c, "%s: %s.type '%.40s' is not supported (supported: ByteLevel, Split, Metaspace, Digits, Sequence)",
                c->what, field, t);
}

/* ---- decoder ------------------------------------------------------------------------------------ */

static int add_dec(ctx *c, tok_hf *h, json_t *o, const char *field, int depth)
{
    const char *t = node_type(c, o, field, depth, 0);
    if (!t)
        return TL_EINVAL;
    if (strcmp(t, "Sequence") == 0)
        return add_seq(c, h, o, field, depth, "decoders", add_dec);
    void *nd;
    int rc = grow(c, h->dec, h->n_dec, sizeof *h->dec, field, "decoders", &nd);
    if (rc)
        return rc;
    h->dec = nd;
    hf_dec *d = &h->dec[h->n_dec++];
    memset(d, 0, sizeof *d);
    const char *s;
    size_t sl;
    if (strcmp(t, "ByteLevel") == 0) {
        d->kind = HFD_BYTELEVEL;
    } else if (strcmp(t, "ByteFallback") == 0) {
        d->kind = HFD_BYTEFALLBACK;
    } else if (strcmp(t, "Fuse") == 0) {
        d->kind = HFD_FUSE;
    } else if (strcmp(t, "Metaspace") == 0) {
        d->kind = HFD_METASPACE;
        if (get_str(c, o, "replacement", field, &s, &sl) || metaspace_rep(c, field, s, sl, &d->a, &d->al))
            return TL_EINVAL;
    } else if (strcmp(t, "Replace") == 0) {
        d->kind = HFD_REPLACE;
        if (get_replace(c, o, field, &d->a, &d->al, &d->b, &d->bl))
            return TL_EINVAL;
        if (!d->b)
            return tl_errf(c->err, TL_ENOMEM, "%s: out of memory", c->what);
    } else if (strcmp(t, "Strip") == 0) {
        d->kind = HFD_STRIP;
        json_t *st = json_object_get(o, "start"), *sp = json_object_get(o, "stop");
        if (get_str(c, o, "content", field, &s, &sl))
            return TL_EINVAL;
        if (!s || !sl || hf_clen((uint8_t)s[0]) != sl || hf_cp((const uint8_t *)s) > 0xFFFF)
            return FAIL(c, "%s: %s.content must be one character of the Basic Multilingual Plane", c->what, field);
        if ((st && !json_is_integer(st)) || (sp && !json_is_integer(sp)) ||
            (st && (json_integer_value(st) < 0 || json_integer_value(st) > 1 << 20)) ||
            (sp && (json_integer_value(sp) < 0 || json_integer_value(sp) > 1 << 20)))
            return FAIL(c, "%s: %s.start and .stop must be integers in [0, 2^20]", c->what, field);
        d->a = dup(s, sl);
        d->al = sl;
        d->start = st ? (int)json_integer_value(st) : 0;
        d->stop = sp ? (int)json_integer_value(sp) : 0;
    } else {
        return FAIL(c, "%s: %s.type '%.40s' is not supported (supported: ByteLevel, Replace, ByteFallback, Fuse, Strip, "
                    "Metaspace, Sequence)", c->what, field, t);
    }
    if ((d->kind == HFD_METASPACE || d->kind == HFD_REPLACE || d->kind == HFD_STRIP) && !d->a)
        return tl_errf(c->err, TL_ENOMEM, "%s: out of memory", c->what);
    return 0;
}

/* ---- model -------------------------------------------------------------------------------------- */

/* Model string of a vocab entry in key space: byte-level tokens decode their characters to bytes;
 * returns -1 if a character is outside the 256-character alphabet (the token can never be produced). */
static long to_key(const tok_hf *h, const char *s, size_t n, uint8_t *out)
{
    if (!h->byte_level) {
        memcpy(out, s, n);
        return (long)n;
    }
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        size_t l = hf_clen((uint8_t)s[i]);
        int b = hf_char_byte(hf_cp((const uint8_t *)s + i));
        if (b < 0)
            return -1;
        out[k++] = (uint8_t)b;
        i += l;
    }
    return (long)k;
}

static uint32_t model_find(const tok_hf *h, const uint8_t *p, size_t n)
{
    return str_find(h->mslots, h->mmask, h->marena, h->moff, h->mlen, p, n);
}

static hf_merge_slot *merge_slot(tok_hf *h, uint64_t key)
{
    uint64_t x = key * 0x9E3779B97F4A7C15ull;
    uint32_t i = (uint32_t)(x >> 32) & h->merge_mask;
    while (h->merges[i].key != UINT64_MAX && h->merges[i].key != key)
        i = (i + 1) & h->merge_mask;
    return &h->merges[i];
}

static int load_model(ctx *c, tok_hf *h, json_t *m)
{
    if (!json_is_object(m))
        return FAIL(c, "%s: model must be an object", c->what);
    const char *t = type_of(c, m, "model");
    if (!t)
        return TL_EINVAL;
    if (strcmp(t, "BPE") != 0)
        return FAIL(c, "%s: model.type '%.40s' is not supported (supported: BPE)", c->what, t);
    json_t *v = json_object_get(m, "vocab"), *mg = json_object_get(m, "merges");
    if (!json_is_object(v))
        return FAIL(c, "%s: model.vocab must be an object of token -> id", c->what);
    if (!json_is_array(mg))
        return FAIL(c, "%s: model.merges must be an array", c->what);
    size_t nv = json_object_size(v);
    if (nv == 0 || nv > MAX_VOCAB)
        return FAIL(c, "%s: model.vocab has %zu tokens (1 to %u are supported)", c->what, nv, MAX_VOCAB);
    json_t *dr = json_object_get(m, "dropout");
    if (dr && !json_is_null(dr) && !(json_is_number(dr) && json_number_value(dr) == 0))
        return FAIL(c, "%s: model.dropout must be null or 0 (BPE dropout is not supported)", c->what);
    const char *s;
    size_t sl;
    if (get_str(c, m, "continuing_subword_prefix", "model", &s, &sl) || (s && sl))
        return s ? FAIL(c, "%s: model.continuing_subword_prefix is not supported", c->what) : TL_EINVAL;
    if (get_str(c, m, "end_of_word_suffix", "model", &s, &sl) || (s && sl))
        return s ? FAIL(c, "%s: model.end_of_word_suffix is not supported", c->what) : TL_EINVAL;
    if (get_bool(c, m, "fuse_unk", 0, "model", &h->fuse_unk) || get_bool(c, m, "byte_fallback", 0, "model", &h->byte_fallback) ||
        get_bool(c, m, "ignore_merges", 0, "model", &h->ignore_merges))
        return TL_EINVAL;
    /* ids and key bytes */
    uint32_t max_id = 0;
    size_t bytes = 0;
    const char *k;
    json_t *val;
    json_object_foreach(v, k, val) {
        size_t kl = strlen(k);
        if (!json_is_integer(val) || json_integer_value(val) < 0 || json_integer_value(val) >= TOK_MAX_ID)
            return FAIL(c, "%s: model.vocab['%.40s'] must be an integer id in [0, %u)", c->what, k, TOK_MAX_ID);
        if (kl == 0)
            return FAIL(c, "%s: model.vocab has an empty token", c->what);
        if (kl > MAX_TOKEN_BYTES)
            return FAIL(c, "%s: model.vocab['%.40s...'] is longer than %u bytes", c->what, k, MAX_TOKEN_BYTES);
        if ((uint32_t)json_integer_value(val) > max_id)
            max_id = (uint32_t)json_integer_value(val);
        bytes += kl;
    }
    if ((size_t)max_id + 1 > nv && (size_t)max_id + 1 - nv > TOK_MAX_HOLES)
        return FAIL(c, "%s: model.vocab: id %u leaves more than %u ids without a token", c->what, max_id, TOK_MAX_HOLES);
    h->n_model = max_id + 1;
    h->moff = calloc(h->n_model, sizeof *h->moff);
    h->mlen = calloc(h->n_model, sizeof *h->mlen);
    h->mvalid = calloc(h->n_model, 1);
    h->marena = malloc(bytes + 1);
    uint32_t cap = 1024;
    while (cap < nv * 2 + 16)
        cap <<= 1;
    h->mslots = malloc((size_t)cap * sizeof *h->mslots);
    h->mmask = cap - 1;
    uint8_t *seen = calloc(h->n_model, 1);
    if (!h->moff || !h->mlen || !h->mvalid || !h->marena || !h->mslots || !seen) {
        free(seen);
        return tl_errf(c->err, TL_ENOMEM, "%s: out of memory for %zu tokens", c->what, nv);
    }
    memset(h->mslots, 0xFF, (size_t)cap * sizeof *h->mslots);
    for (int b = 0; b < 256; b++)
        h->byte_id[b] = h->fb_id[b] = TOK_NONE;
    uint32_t off = 0;
    int rc = 0;
    json_object_foreach(v, k, val) {
        uint32_t id = (uint32_t)json_integer_value(val);
        size_t kl = strlen(k);
        if (seen[id]) {
            rc = FAIL(c, "%s: model.vocab: id %u is given to two tokens (one is '%.40s')", c->what, id, k);
            break;
        }
        seen[id] = 1;
        long kb = to_key(h, k, kl, h->marena + off);
        if (kb < 0)
            continue;  /* outside the byte-level alphabet: decodable (hf_load_strings), never produced */
        if (model_find(h, h->marena + off, (size_t)kb) != TOK_NONE) {
            rc = FAIL(c, "%s: model.vocab: token '%.40s' spells the same bytes as another token", c->what, k);
            break;
        }
        h->moff[id] = off;
        h->mlen[id] = (uint32_t)kb;
        h->mvalid[id] = 1;
        str_put(h->mslots, h->mmask, h->marena + off, (size_t)kb, id);
        off += (uint32_t)kb;
        if (kb == 1 && h->byte_level)
            h->byte_id[h->marena[off - 1]] = id;
        if (kl == 6 && memcmp(k, "<0x", 3) == 0 && k[5] == '>') {
            static const char hx[] = "0123456789ABCDEF";
            const char *a = strchr(hx, k[3]), *b = strchr(hx, k[4]);
            if (a && b && k[3] && k[4])
                h->fb_id[(a - hx) * 16 + (b - hx)] = id;
        }
    }
    free(seen);
    if (rc)
        return rc;
    /* unk */
    h->unk = TOK_NONE;
    if (get_str(c, m, "unk_token", "model", &s, &sl))
        return TL_EINVAL;
    if (s) {
        uint8_t *tmp = malloc(sl + 1);
        long kb = tmp ? to_key(h, s, sl, tmp) : -1;
        h->unk = kb >= 0 ? model_find(h, tmp, (size_t)kb) : TOK_NONE;
        free(tmp);
        if (h->unk == TOK_NONE)
            return FAIL(c, "%s: model.unk_token '%.40s' is not in model.vocab", c->what, s);
        h->unk_text = dup(s, sl);
    }
    /* merges */
    size_t nm = json_array_size(mg);
    if (nm > MAX_VOCAB)
        return FAIL(c, "%s: model.merges has %zu entries (at most %u)", c->what, nm, MAX_VOCAB);
    cap = 1024;
    while (cap < nm * 2 + 16)
        cap <<= 1;
    h->merges = malloc((size_t)cap * sizeof *h->merges);
    if (!h->merges)
        return tl_errf(c->err, TL_ENOMEM, "%s: out of memory for %zu merges", c->what, nm);
    memset(h->merges, 0xFF, (size_t)cap * sizeof *h->merges);
    h->merge_mask = cap - 1;
    int list_form = nm && json_is_array(json_array_get(mg, 0));
    uint8_t *buf = malloc(2 * MAX_TOKEN_BYTES + 2);
    if (!buf)
        return tl_errf(c->err, TL_ENOMEM, "%s: out of memory", c->what);
    for (size_t i = 0; i < nm && !rc; i++) {
        json_t *e = json_array_get(mg, i);
        const char *a, *b;
        size_t al, bl;
        if (list_form) {
            if (!json_is_array(e) || json_array_size(e) != 2 || !json_is_string(json_array_get(e, 0)) ||
                !json_is_string(json_array_get(e, 1))) {
                rc = FAIL(c, "%s: model.merges[%zu] must be a pair of strings [a, b] like model.merges[0]", c->what, i);
                break;
            }
            a = json_string_value(json_array_get(e, 0));
            al = json_string_length(json_array_get(e, 0));
            b = json_string_value(json_array_get(e, 1));
            bl = json_string_length(json_array_get(e, 1));
        } else {
            if (!json_is_string(e)) {
                rc = FAIL(c, "%s: model.merges[%zu] must be a string \"a b\" like model.merges[0]", c->what, i);
                break;
            }
            a = json_string_value(e);
            size_t el = json_string_length(e);
            const char *sp = memchr(a, ' ', el);
            if (!sp || memchr(sp + 1, ' ', el - (size_t)(sp - a) - 1)) {
                rc = FAIL(c, "%s: model.merges[%zu] '%.40s' must be two tokens separated by one space", c->what, i, a);
                break;
            }
            al = (size_t)(sp - a);
            b = sp + 1;
            bl = el - al - 1;
        }
        if (!al || !bl || al > MAX_TOKEN_BYTES || bl > MAX_TOKEN_BYTES) {
            rc = FAIL(c, "%s: model.merges[%zu]: a token is empty or too long", c->what, i);
            break;
        }
        long ka = to_key(h, a, al, buf), kb = ka >= 0 ? to_key(h, b, bl, buf + ka) : -1;
        uint32_t ia = ka > 0 ? model_find(h, buf, (size_t)ka) : TOK_NONE;
        uint32_t ib = kb > 0 ? model_find(h, buf + ka, (size_t)kb) : TOK_NONE;
        if (ia == TOK_NONE || ib == TOK_NONE) {
            rc = FAIL(c, "%s: model.merges[%zu]: token '%.*s' is not in model.vocab", c->what, i,
                      (int)((ia == TOK_NONE ? al : bl) > 40 ? 40 : (ia == TOK_NONE ? al : bl)), ia == TOK_NONE ? a : b);
            break;
        }
        uint32_t r = model_find(h, buf, (size_t)(ka + kb));
        if (r == TOK_NONE) {
            rc = FAIL(c, "%s: model.merges[%zu]: the merged token '%.*s%.*s' is not in model.vocab", c->what, i,
                      (int)(al > 40 ? 40 : al), a, (int)(bl > 40 ? 40 : bl), b);
            break;
        }
        hf_merge_slot *sl2 = merge_slot(h, (uint64_t)ia << 32 | ib);
        if (sl2->key != UINT64_MAX) {
            rc = FAIL(c, "%s: model.merges[%zu] repeats model.merges[%u]", c->what, i, sl2->rank);
            break;
        }
        *sl2 = (hf_merge_slot){(uint64_t)ia << 32 | ib, (uint32_t)i, r};
        h->n_merges++;
    }
    free(buf);
    return rc;
}

/* ---- added tokens, post-processor, tokenizer_config -------------------------------------------- */

static int trie_add(tok_hf *h, int w, const uint8_t *p, size_t n, int32_t tok)
{
    if (!h->trie[w]) {
        h->trie[w] = calloc(64, sizeof(hf_trie_node));
        if (!h->trie[w])
            return -1;
        h->trie[w][0] = (hf_trie_node){0, 0, -1, 0};
        h->n_trie[w] = 1;
        h->cap_trie[w] = 64;
    }
    uint32_t node = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t ch = h->trie[w][node].first_child;
        while (ch && h->trie[w][ch].byte != p[i])
            ch = h->trie[w][ch].next_sibling;
        if (!ch) {
            hf_trie_node *nt = h->trie[w];
            if (h->n_trie[w] == h->cap_trie[w]) {  /* doubling: one node per byte of text at most */
                nt = realloc(nt, (size_t)h->cap_trie[w] * 2 * sizeof *nt);
                if (!nt)
                    return -1;
                h->trie[w] = nt;
                h->cap_trie[w] *= 2;
            }
            ch = h->n_trie[w]++;
            nt[ch] = (hf_trie_node){0, nt[node].first_child, -1, p[i]};
            nt[node].first_child = ch;
        }
        node = ch;
    }
    if (h->trie[w][node].token < 0)
        h->trie[w][node].token = tok;
    return 0;
}

/* The added token whose content or normalized content is exactly p[0..n), or -1. */
int32_t hf_added_find(const tok_hf *h, const uint8_t *p, size_t n);
int32_t hf_added_find(const tok_hf *h, const uint8_t *p, size_t n)
{
    if (!h->aslots)
        return -1;
    uint64_t hh = tok_hash(p, n);
    uint32_t tag = (uint32_t)(hh >> 32), i = (uint32_t)hh & h->amask;
    for (;;) {
        const hf_str_slot *sl = &h->aslots[i];
        if (sl->id == TOK_NONE)
            return -1;
        if (sl->tag == tag) {
            const hf_added *a = &h->added[sl->id >> 1];
            const char *k = (sl->id & 1) ? a->norm : a->content;
            size_t kl = (sl->id & 1) ? a->nlen : a->clen;
            if (kl == n && memcmp(k, p, n) == 0)
                return (int32_t)(sl->id >> 1);
        }
        i = (i + 1) & h->amask;
    }
}

static int aput(tok_hf *h, const char *k, size_t kl, uint32_t code)
{
    uint64_t hh = tok_hash((const uint8_t *)k, kl);
    uint32_t i = (uint32_t)hh & h->amask;
    while (h->aslots[i].id != TOK_NONE)
        i = (i + 1) & h->amask;
    h->aslots[i] = (hf_str_slot){code, (uint32_t)(hh >> 32)};
    return 0;
}

static int load_added_list(ctx *c, tok_hf *h, json_t *l, size_t n, uint8_t *used);

static int load_added(ctx *c, tok_hf *h, json_t *l)
{
    if (!l || json_is_null(l))
        return 0;
    if (!json_is_array(l))
        return FAIL(c, "%s: added_tokens must be an array", c->what);
    size_t n = json_array_size(l);
    if (n > MAX_ADDED)
        return FAIL(c, "%s: added_tokens has %zu entries (at most %u)", c->what, n, MAX_ADDED);
    if (!n)
        return 0;
    h->added = calloc(n, sizeof *h->added);
    uint32_t cap = 64;
    while (cap < n * 4 + 16)
        cap <<= 1;
    h->aslots = malloc((size_t)cap * sizeof *h->aslots);
    if (!h->added || !h->aslots)
        return tl_errf(c->err, TL_ENOMEM, "%s: out of memory", c->what);
    memset(h->aslots, 0xFF, (size_t)cap * sizeof *h->aslots);
    h->amask = cap - 1;
    uint8_t *used = calloc(TOK_MAX_ID / 8, 1);  /* ids taken by earlier added tokens */
    if (!used)
        return tl_errf(c->err, TL_ENOMEM, "%s: out of memory", c->what);
    int rc = load_added_list(c, h, l, n, used);
    free(used);
    return rc;
}

static int load_added_list(ctx *c, tok_hf *h, json_t *l, size_t n, uint8_t *used)
{
    size_t total = 0;
    char field[64];
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(l, i);
        snprintf(field, sizeof field, "added_tokens[%zu]", i);
        if (!json_is_object(o))
            return FAIL(c, "%s: %s must be an object", c->what, field);
        json_t *id = json_object_get(o, "id");
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) >= TOK_MAX_ID)
            return FAIL(c, "%s: %s.id must be an integer in [0, %u)", c->what, field, TOK_MAX_ID);
        const char *s;
        size_t sl;
        if (get_str(c, o, "content", field, &s, &sl))
            return TL_EINVAL;
        if (!s || !sl || sl > 4096)
            return FAIL(c, "%s: %s.content must be a non-empty string of at most 4096 bytes", c->what, field);
        total += sl;
        if (total > MAX_ADDED_BYTES)  /* bounds the two tries: one node per byte */
            return FAIL(c, "%s: added_tokens: the contents up to %s exceed %u bytes", c->what, field, MAX_ADDED_BYTES);
        hf_added *a = &h->added[i];
        int sp = 0, ls = 0, rs = 0, sw = 0, nz = 0;
        if (get_bool(c, o, "special", 0, field, &sp) || get_bool(c, o, "lstrip", 0, field, &ls) ||
            get_bool(c, o, "rstrip", 0, field, &rs) || get_bool(c, o, "single_word", 0, field, &sw) ||
            get_bool(c, o, "normalized", !sp, field, &nz))
            return TL_EINVAL;
        a->id = (uint32_t)json_integer_value(id);
        a->special = (uint8_t)sp, a->lstrip = (uint8_t)ls, a->rstrip = (uint8_t)rs, a->normalized = (uint8_t)nz;
        a->content = dup(s, sl);
        a->clen = sl;
        if (!a->content)
            return tl_errf(c->err, TL_ENOMEM, "%s: out of memory", c->what);
        h->n_added = (uint32_t)i + 1;
        if (used[a->id >> 3] & (1u << (a->id & 7))) {
            for (size_t j = 0; j < i; j++)
                if (h->added[j].id == a->id)
                    return FAIL(c, "%s: %s.id %u is also added_tokens[%zu].id", c->what, field, a->id, j);
        }
        used[a->id >> 3] |= (uint8_t)(1u << (a->id & 7));
        if (hf_added_find(h, (const uint8_t *)s, sl) >= 0)
            return FAIL(c, "%s: %s.content '%.40s' is given twice", c->what, field, s);
        aput(h, s, sl, (uint32_t)i << 1);
        if (nz && h->n_norm) {
            uint8_t *o2;
            size_t ol;
            if (hf_normalize(h, (const uint8_t *)s, sl, &o2, &ol))
                return tl_errf(c->err, TL_ENOMEM, "%s: out of memory", c->what);
            a->norm = (char *)o2;
            a->nlen = ol;
            if (!ol)
                return FAIL(c, "%s: %s.content normalizes to nothing", c->what, field);
            total += ol;
            if (total > MAX_ADDED_BYTES)
                return FAIL(c, "%s: added_tokens: the contents up to %s.content normalized exceed %u bytes", c->what,
                            field, MAX_ADDED_BYTES);
            int32_t other = hf_added_find(h, o2, ol);
            if (other >= 0 && other != (int32_t)i)
                return FAIL(c, "%s: %s.content normalizes to the text of added_tokens[%d]", c->what, field, other);
            if (other < 0)
                aput(h, a->norm, ol, (uint32_t)i << 1 | 1);
        }
        int w = nz && h->n_norm ? 1 : 0;
        if (trie_add(h, w, (const uint8_t *)(w ? a->norm : a->content), w ? a->nlen : a->clen, (int32_t)i))
            return tl_errf(c->err, TL_ENOMEM, "%s: out of memory", c->what);
    }
    return 0;
}

/* A token text (post-processor, tokenizer_config) -> id, as the reference maps strings: added
 * tokens first, then the model's vocabulary. */
static int64_t text_id(const tok_hf *h, const char *s, size_t n)
{
    int32_t a = hf_added_find(h, (const uint8_t *)s, n);
    if (a >= 0)
        return h->added[a].id;
    uint8_t *tmp = malloc(n + 1);
    if (!tmp)
        return -1;
    long kb = to_key(h, s, n, tmp);
    uint32_t id = kb > 0 ? model_find(h, tmp, (size_t)kb) : TOK_NONE;
    free(tmp);
    return id == TOK_NONE ? -1 : (int64_t)id;
}

static int add_post(ctx *c, tok_hf *h, json_t *o, const char *field, int depth)
{
    if (!o || json_is_null(o))
        return 0;
    const char *t = node_type(c, o, field, depth, 1);
    if (!t)
        return TL_EINVAL;
    char sub[160];
    if (strcmp(t, "ByteLevel") == 0)
        return 0;
    if (strcmp(t, "Sequence") == 0)
        return add_seq(c, h, o, field, depth, "processors", add_post);
    if (strcmp(t, "TemplateProcessing") != 0)
        return FAIL(c, "%s: %s.type '%.40s' is not supported (supported: TemplateProcessing, ByteLevel, Sequence)",
                    c->what, field, t);
    json_t *single = json_object_get(o, "single");
    if (!json_is_array(single) || json_array_size(single) > 64)
        return FAIL(c, "%s: %s.single must be an array of at most 64 items", c->what, field);
    if (h->n_tmpl >= 16)
        return FAIL(c, "%s: %s: more than 16 templates", c->what, field);
    size_t n = json_array_size(single);
    int64_t *tm = malloc((n + 1) * sizeof *tm);
    int64_t **nt = realloc(h->tmpl, (size_t)(h->n_tmpl + 1) * sizeof *nt);
    if (nt)
        h->tmpl = nt;
    int *nn = realloc(h->tmpl_n, (size_t)(h->n_tmpl + 1) * sizeof *nn);
    if (nn)
        h->tmpl_n = nn;
    if (!tm || !nt || !nn) {
        free(tm);
        return tl_errf(c->err, TL_ENOMEM, "%s: out of memory", c->what);
    }
    h->tmpl[h->n_tmpl] = tm;
    h->tmpl_n[h->n_tmpl++] = (int)n;
    for (size_t i = 0; i < n; i++) {
        json_t *it = json_array_get(single, i), *st = json_object_get(it, "SpecialToken"), *sq = json_object_get(it, "Sequence");
        snprintf(sub, sizeof sub, "%s.single[%zu]", field, i);
        const char *s;
        size_t sl;
        if (json_is_object(sq)) {
            if (get_str(c, sq, "id", sub, &s, &sl))
                return TL_EINVAL;
            if (!s || strcmp(s, "A") != 0)
                return FAIL(c, "%s: %s.Sequence.id must be \"A\" in a single-sequence template", c->what, sub);
            tm[i] = -1;
        } else if (json_is_object(st)) {
            if (get_str(c, st, "id", sub, &s, &sl))
                return TL_EINVAL;
            int64_t id = s ? text_id(h, s, sl) : -1;
            if (id < 0)
                return FAIL(c, "%s: %s.SpecialToken.id '%.40s' is not a token", c->what, sub, s ? s : "(missing)");
            tm[i] = id;
        } else {
            return FAIL(c, "%s: %s must hold SpecialToken or Sequence", c->what, sub);
        }
    }
    return 0;
}

static int cfg_token(ctx *c, tok_hf *h, json_t *cfg, const char *k, int64_t *id)
{
    json_t *v = json_object_get(cfg, k);
    *id = -1;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_object(v))
        v = json_object_get(v, "content");
    if (!json_is_string(v))
        return FAIL(c, "%s: tokenizer_config.json: %s must be a string or {\"content\": ...}", c->what, k);
    *id = text_id(h, json_string_value(v), json_string_length(v));
    if (*id < 0)
        return FAIL(c, "%s: tokenizer_config.json: %s '%.40s' is not a token", c->what, k, json_string_value(v));
    return 0;
}

static int load_config(ctx *c, tok_hf *h, const uint8_t *d, size_t n)
{
    h->cleanup = 1;
    h->bos_cfg = h->eos_cfg = -1;
    if (!d)
        return 0;
    json_error_t je;
    json_t *cfg = json_loadb((const char *)d, n, JSON_REJECT_DUPLICATES, &je);
    if (!cfg)
        return FAIL(c, "%s: tokenizer_config.json: line %d column %d: %s", c->what, je.line, je.column, je.text);
    int rc = 0, ab = 0, ae = 0, rm = 0, lc = 0;
    int64_t bos, eos;
    if (!json_is_object(cfg))
        rc = FAIL(c, "%s: tokenizer_config.json must be an object", c->what);
    else if (get_bool(c, cfg, "add_bos_token", 0, "tokenizer_config.json", &ab) ||
             get_bool(c, cfg, "add_eos_token", 0, "tokenizer_config.json", &ae) ||
             get_bool(c, cfg, "clean_up_tokenization_spaces", 1, "tokenizer_config.json", &h->cleanup) ||
             get_bool(c, cfg, "remove_space", 0, "tokenizer_config.json", &rm) ||
             get_bool(c, cfg, "do_lowercase_and_remove_accent", 0, "tokenizer_config.json", &lc))
        rc = TL_EINVAL;
    else if (rm || lc)
        rc = FAIL(c, "%s: tokenizer_config.json: %s is not supported", c->what, rm ? "remove_space" : "do_lowercase_and_remove_accent");
    else if (cfg_token(c, h, cfg, "bos_token", &bos) || cfg_token(c, h, cfg, "eos_token", &eos))
        rc = TL_EINVAL;
    else if ((ab && bos < 0) || (ae && eos < 0))
        rc = FAIL(c, "%s: tokenizer_config.json: %s is true but %s is not set", c->what,
                  ab && bos < 0 ? "add_bos_token" : "add_eos_token", ab && bos < 0 ? "bos_token" : "eos_token");
    else if (!h->n_tmpl) {  /* the post-processor, when it has a template, decides */
        h->bos_cfg = ab ? bos : -1;
        h->eos_cfg = ae ? eos : -1;
    }
    json_decref(cfg);
    return rc;
}

/* ---- assembly ----------------------------------------------------------------------------------- */

void hf_free(tok_hf *h)
{
    if (!h)
        return;
    free(h->marena), free(h->moff), free(h->mlen), free(h->mvalid), free(h->mslots), free(h->merges);
    free(h->unk_text);
    for (uint32_t i = 0; i < h->n_added; i++)
        free(h->added[i].content), free(h->added[i].norm);
    free(h->added), free(h->aslots), free(h->trie[0]), free(h->trie[1]), free(h->override);
    for (int i = 0; i < h->n_norm; i++)
        free(h->norm[i].a), free(h->norm[i].b);
    free(h->norm);
    for (int i = 0; i < h->n_pre; i++)
        pcre2_code_free(h->pre[i].re), free(h->pre[i].rep);
    free(h->pre);
    for (int i = 0; i < h->n_tmpl; i++)
        free(h->tmpl[i]);
    free(h->tmpl), free(h->tmpl_n);
    for (int i = 0; i < h->n_dec; i++)
        free(h->dec[i].a), free(h->dec[i].b);
    free(h->dec);
    free(h->darena), free(h->doff), free(h->dlen), free(h->dadded);
    free(h);
}

/* The bytes one token stands for when streamed: byte-level tokens their bytes, <0xNN> its byte,
 * other model tokens their text with the decoder's replacements (▁ -> space), added tokens their text.
 * out has room for the token's text (dlen bytes) only: SIZE_MAX when the result would be longer (a
 * Replace decoder whose content is longer than its pattern), written no further than that. */
static size_t stream_bytes(const tok_hf *h, uint32_t id, uint8_t *out)
{
    const uint8_t *s = h->darena + h->doff[id];
    size_t n = h->dlen[id], k = 0;
    if (h->dadded[id] >= 0 || !n) {
        memcpy(out, s, n);
        return n;
    }
    int bl = 0, bf = 0;
    for (int i = 0; i < h->n_dec; i++)
        bl |= h->dec[i].kind == HFD_BYTELEVEL, bf |= h->dec[i].kind == HFD_BYTEFALLBACK;
    if (bl) {
        for (size_t i = 0; i < n; i += hf_clen(s[i])) {
            int b = hf_char_byte(hf_cp(s + i));
            out[k++] = (uint8_t)(b < 0 ? 0 : b);  /* the reference decodes unknown characters as 0 */
        }
        return k;
    }
    int byte = bf ? hf_byte_token(s, n) : -1;  /* what decoding gives, so streaming agrees with it */
    if (byte >= 0) {
        out[0] = (uint8_t)byte;
        return 1;
    }
    for (size_t i = 0; i < n;) {
        int done = 0;
        for (int d = 0; d < h->n_dec && !done; d++) {
            const hf_dec *dc = &h->dec[d];
            const char *from = dc->kind == HFD_REPLACE || dc->kind == HFD_METASPACE ? dc->a : NULL;
            size_t fl = dc->al;
            if (from && i + fl <= n && memcmp(s + i, from, fl) == 0) {
                if (dc->kind == HFD_REPLACE) {
                    if (dc->bl > n - k)
                        return SIZE_MAX;
                    memcpy(out + k, dc->b, dc->bl);
                    k += dc->bl;
                } else {
                    if (k >= n)
                        return SIZE_MAX;
                    out[k++] = ' ';
                }
                i += fl;
                done = 1;
            }
        }
        if (!done) {
            if (k >= n)
                return SIZE_MAX;
            out[k++] = s[i++];
        }
    }
    return k;
}

static int assemble(ctx *c, tl_tokenizer *t, tok_hf *h, json_t *vocab)
{
    uint32_t n_ids = h->n_model;
    for (uint32_t i = 0; i < h->n_added; i++)
        if (h->added[i].id + 1 > n_ids)
            n_ids = h->added[i].id + 1;
    size_t nv = json_object_size(vocab);
    if ((size_t)n_ids - nv > TOK_MAX_HOLES + (size_t)h->n_added)
        return FAIL(c, "%s: added_tokens ids leave more than %u ids without a token", c->what, TOK_MAX_HOLES);
    h->n_ids = n_ids;
    size_t bytes = 0;
    const char *k;
    json_t *v;
    json_object_foreach(vocab, k, v) bytes += strlen(k);
    for (uint32_t i = 0; i < h->n_added; i++)
        bytes += h->added[i].clen;
    h->doff = calloc(n_ids, sizeof *h->doff);
    h->dlen = calloc(n_ids, sizeof *h->dlen);
    h->dadded = malloc((size_t)n_ids * sizeof *h->dadded);
    h->darena = malloc(bytes + 1);
    if (tok_id_table_alloc(t, n_ids, bytes) || !h->doff || !h->dlen || !h->dadded || !h->darena)
        return tl_errf(c->err, TL_ENOMEM, "%s: out of memory", c->what);
    uint8_t *present = calloc(n_ids, 1);
    if (!present)
        return tl_errf(c->err, TL_ENOMEM, "%s: out of memory", c->what);
    for (uint32_t i = 0; i < n_ids; i++)
        h->dadded[i] = -1;
    uint32_t off = 0;
    json_object_foreach(vocab, k, v) {
        uint32_t id = (uint32_t)json_integer_value(v);
        size_t kl = strlen(k);
        memcpy(h->darena + off, k, kl);
        h->doff[id] = off;
        h->dlen[id] = (uint32_t)kl;
        present[id] = 1;
        off += (uint32_t)kl;
    }
    for (uint32_t i = 0; i < h->n_added; i++) {
        const hf_added *a = &h->added[i];
        memcpy(h->darena + off, a->content, a->clen);
        h->doff[a->id] = off;
        h->dlen[a->id] = (uint32_t)a->clen;
        h->dadded[a->id] = (int32_t)i;
        present[a->id] = 1;
        off += (uint32_t)a->clen;
    }
    /* streaming bytes: never longer than the text (one character -> at most its bytes, ▁ -> space) */
    uint32_t toff = 0;
    size_t nsp = 0;
    for (uint32_t id = 0; id < n_ids; id++) {
        if (!present[id])
            continue;
        size_t l = stream_bytes(h, id, t->arena + toff);
        if (l == SIZE_MAX) {  /* a Replace decoder with a longer content */
            free(present);
            return FAIL(c, "%s: decoder: a Replace content longer than its pattern is not supported", c->what);
        }
        t->tok_off[id] = toff;
        t->tok_len[id] = (uint32_t)l;
        toff += (uint32_t)l;
        if (h->dadded[id] >= 0 && h->added[h->dadded[id]].special) {
            t->tok_is_special[id] = 1;
            nsp++;
        }
    }
    free(present);
    t->n_ids = n_ids;
    t->n_ranks = h->n_model;
    if (nsp) {
        t->special = calloc(nsp, sizeof *t->special);
        if (!t->special)
            return tl_errf(c->err, TL_ENOMEM, "%s: out of memory", c->what);
        for (uint32_t i = 0; i < h->n_added; i++) {
            if (!h->added[i].special)
                continue;
            tok_special *s = &t->special[t->n_special];
            s->text = dup(h->added[i].content, h->added[i].clen);
            if (!s->text)
                return tl_errf(c->err, TL_ENOMEM, "%s: out of memory", c->what);
            s->len = h->added[i].clen;
            s->id = h->added[i].id;
            t->n_special++;
        }
    }
    /* model tokens that spell an added token's text map to the added token (the reference maps by string) */
    uint8_t *tmp = malloc(4096 * 4 + 1);
    if (!tmp)
        return tl_errf(c->err, TL_ENOMEM, "%s: out of memory", c->what);
    for (uint32_t i = 0; i < h->n_added; i++) {
        for (int w = 0; w < 2; w++) {
            const char *s = w ? h->added[i].norm : h->added[i].content;
            size_t sl = w ? h->added[i].nlen : h->added[i].clen;
            if (!s)
                continue;
            long kb = sl <= 4096 * 4 ? to_key(h, s, sl, tmp) : -1;
            uint32_t m = kb > 0 ? model_find(h, tmp, (size_t)kb) : TOK_NONE;
            if (m == TOK_NONE || m == h->added[i].id)
                continue;
            if (!h->override) {
                h->override = malloc((size_t)h->n_model * sizeof *h->override);
                if (!h->override) {
                    free(tmp);
                    return tl_errf(c->err, TL_ENOMEM, "%s: out of memory", c->what);
                }
                memset(h->override, 0xFF, (size_t)h->n_model * sizeof *h->override);
            }
            h->override[m] = i;
        }
    }
    free(tmp);
    return 0;
}

int hf_load(tl_tokenizer *t, const uint8_t *data, size_t len, const uint8_t *config, size_t config_len,
            const char *what, tl_err *err)
{
    ctx c = {what, err};
    json_error_t je;
    json_t *root = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return tl_errf(err, TL_EINVAL, "%s: line %d column %d: %s", what, je.line, je.column, je.text);
    tok_hf *h = calloc(1, sizeof *h);
    int rc = 0;
    if (!h) {
        json_decref(root);
        return tl_errf(err, TL_ENOMEM, "%s: out of memory", what);
    }
    t->hf = h;
    static const char *const fields[] = {"normalizer", "pre_tokenizer", "post_processor", "decoder", "model", "added_tokens"};
    for (size_t i = 0; i < 6 && !rc; i++)
        if (!json_object_get(root, fields[i]))
            rc = FAIL(&c, "%s: field '%s' is missing (a tokenizer.json has it, possibly null)", what, fields[i]);
    json_t *tr = json_object_get(root, "truncation"), *pd = json_object_get(root, "padding");
    if (!rc && ((tr && !json_is_null(tr)) || (pd && !json_is_null(pd))))
        rc = FAIL(&c, "%s: %s must be null (truncation and padding are not applied)", what,
                  tr && !json_is_null(tr) ? "truncation" : "padding");
    if (!rc)
        rc = add_norm(&c, h, json_object_get(root, "normalizer"), "normalizer", 0);
    json_t *pre = json_object_get(root, "pre_tokenizer");
    if (!rc && pre && !json_is_null(pre)) {
        h->has_pre = 1;
        rc = add_pre(&c, h, pre, "pre_tokenizer", 0);
    }
    if (!rc)
        rc = load_model(&c, h, json_object_get(root, "model"));
    if (!rc)
        rc = load_added(&c, h, json_object_get(root, "added_tokens"));
    if (!rc)
        rc = add_post(&c, h, json_object_get(root, "post_processor"), "post_processor", 0);
    json_t *dec = json_object_get(root, "decoder");
    if (!rc && dec && !json_is_null(dec))
        rc = add_dec(&c, h, dec, "decoder", 0);
    if (!rc)
        rc = load_config(&c, h, config, config_len);
    if (!rc)
        rc = assemble(&c, t, h, json_object_get(json_object_get(root, "model"), "vocab"));
    if (!rc) {
        snprintf(h->kind, sizeof h->kind, "%s", h->byte_level ? "hf-bpe-byte-level" : "hf-bpe");
        snprintf(t->pattern, sizeof t->pattern, "%s", "tokenizer.json");
        snprintf(t->encoding, sizeof t->encoding, "%s", h->kind);
    }
    json_decref(root);
    return rc;
}
