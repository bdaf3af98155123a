#include "formats/layout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses a decimal index without sign or leading zeros; returns the end pointer or NULL. */
static const char *parse_index(const char *s, int *out)
{
    if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
        return NULL;
    long v = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (*s++ - '0');
        if (v > 1 << 20)
            return NULL;
    }
    *out = (int)v;
    return s;
}

int tl_part_from_stem(const char *stem, tl_part *part)
{
    static const char blk[] = "transformer_block_";
    if (!strcmp(stem, "model"))
        *part = (tl_part){TL_PART_MODEL, 0};
    else if (!strcmp(stem, "token_embedding"))
        *part = (tl_part){TL_PART_EMBEDDING, 0};
    else if (!strcmp(stem, "final_linear"))
        *part = (tl_part){TL_PART_FINAL, 0};
    else if (!strncmp(stem, blk, sizeof blk - 1)) {
        int i;
        const char *e = parse_index(stem + sizeof blk - 1, &i);
        if (!e || *e)
            return -1;
        *part = (tl_part){TL_PART_BLOCK, i};
    } else
        return -1;
    return 0;
}

void tl_part_from_path(const char *path, tl_part *part)
{
    static const char *exts[] = {".safetensors", ".pth", ".pt"};
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    char stem[256];
    snprintf(stem, sizeof stem, "%s", base);
    for (int i = 0; i < 3; i++) {
        size_t l = strlen(stem), el = strlen(exts[i]);
        if (l > el && !strcmp(stem + l - el, exts[i])) {
            stem[l - el] = 0;
            break;
        }
    }
    if (tl_part_from_stem(stem, part))
        *part = (tl_part){TL_PART_MODEL, 0};
}

void tl_part_stem(tl_part part, char *out, size_t n)
{
    switch (part.kind) {
    case TL_PART_MODEL: snprintf(out, n, "model"); break;
    case TL_PART_EMBEDDING: snprintf(out, n, "token_embedding"); break;
    case TL_PART_FINAL: snprintf(out, n, "final_linear"); break;
    case TL_PART_BLOCK: snprintf(out, n, "transformer_block_%d", part.block); break;
    }
}

int tl_part_full_name(tl_part part, const char *key, char *full, size_t n)
{
    int r;
    switch (part.kind) {
    case TL_PART_EMBEDDING:
        r = snprintf(full, n, "%s", !strcmp(key, "weight") ? "token_embedding_table.weight" : key);
        break;
    case TL_PART_FINAL:
        if (!strcmp(key, "weight") || !strcmp(key, "bias"))
            r = snprintf(full, n, "final_linear_layer.%s", key);
        else
            r = snprintf(full, n, "%s", key);
        break;
    case TL_PART_BLOCK:
        r = snprintf(full, n, "transformer_blocks.%d.%s", part.block, key);
        break;
    default:
        r = snprintf(full, n, "%s", key);
    }
    return r < 0 || (size_t)r >= n;
}

int tl_part_of_full_name(const char *full, tl_part *part, char *key, size_t n)
{
    static const char blk[] = "transformer_blocks.";
    const char *k = full;
    if (!strcmp(full, "token_embedding_table.weight")) {
        *part = (tl_part){TL_PART_EMBEDDING, 0};
        k = "weight";
    } else if (!strncmp(full, "position_embedding_table.", 25)) {
        *part = (tl_part){TL_PART_EMBEDDING, 0};
    } else if (!strncmp(full, "final_linear_layer.", 19)) {
        *part = (tl_part){TL_PART_FINAL, 0};
        k = full + 19;
    } else if (!strncmp(full, "final_layer_norm.", 17)) {
        *part = (tl_part){TL_PART_FINAL, 0};
    } else if (!strncmp(full, blk, sizeof blk - 1)) {
        int i;
        const char *e = parse_index(full + sizeof blk - 1, &i);
        if (!e || *e != '.')
            return -1;
        *part = (tl_part){TL_PART_BLOCK, i};
        k = e + 1;
    } else
        return -1;
    int r = snprintf(key, n, "%s", k);
    return r < 0 || (size_t)r >= n;
}

int tl_is_mask_name(const char *full, int *block, int *head)
{
    static const char a[] = "transformer_blocks.", b[] = ".attention.attention_heads.";
    if (strncmp(full, a, sizeof a - 1))
        return 0;
    const char *p = parse_index(full + sizeof a - 1, block);
    if (!p || strncmp(p, b, sizeof b - 1))
        return 0;
    p = parse_index(p + sizeof b - 1, head);
    return p && !strcmp(p, ".mask");
}

void tl_shape_str(int ndim, const int64_t *shape, char *out, size_t n)
{
    size_t at = 0;
    at += (size_t)snprintf(out, n, "[");
    for (int i = 0; i < ndim && at < n; i++)
        at += (size_t)snprintf(out + at, n - at, "%s%lld", i ? "," : "", (long long)shape[i]);
    if (at < n)
        snprintf(out + at, n - at, "]");
}

static const tl_named_shape *find(const tl_named_shape *t, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(t[i].name, name))
            return &t[i];
    return NULL;
}

static int dim(const tl_named_shape *s, int ndim, int i, int *out, tl_err *err)
{
    char sh[96];
    if (s->ndim != ndim || s->shape[i] < 1 || s->shape[i] > (1 << 24)) {
        tl_shape_str(s->ndim, s->shape, sh, sizeof sh);
        return tl_errf(err, TL_EINVAL, "cannot infer the config: %s has an unexpected shape %s", s->name, sh);
    }
    *out = (int)s->shape[i];
    return 0;
}

/* shape[d] of s when s is present and has it in 1..2^24 */
static int dim_of(const tl_named_shape *s, int d, int *out)
{
    if (!s || s->ndim <= d || s->shape[d] < 1 || s->shape[d] > (1 << 24))
        return 0;
    *out = (int)s->shape[d];
    return 1;
}

static int infer_partial(const tl_named_shape *s, int n, tl_config *c, tl_err *err)
{
    *c = tl_config_seed(1);
    int max_head = -1, max_block = -1, got_d = 0, masks = 0;
    for (int i = 0; i < n; i++) {
        tl_part part;
        char key[TL_FULLNAME_MAX];
        int b, h;
        if (!tl_part_of_full_name(s[i].name, &part, key, sizeof key) && part.kind == TL_PART_BLOCK) {
            if (part.block > max_block)
                max_block = part.block;
            if (!strncmp(key, "attention.attention_heads.", 26) && key[26] >= '0' && key[26] <= '9') {
                long v = strtol(key + 26, NULL, 10);
                if (v > max_head)
                    max_head = v > (1 << 20) ? (1 << 20) : (int)v;
            }
            if (!strcmp(key, "attention.projection_layer.weight"))
                got_d |= dim_of(&s[i], 0, &c->d_model);
            if (!strcmp(key, "feed_forward.linear1.weight"))
                dim_of(&s[i], 0, &c->d_ff);
        }
        if (tl_is_mask_name(s[i].name, &b, &h)) {
            masks = 1;
            dim_of(&s[i], 0, &c->context_length);
        }
    }
    const tl_named_shape *e = find(s, n, "token_embedding_table.weight"), *fw = find(s, n, "final_linear_layer.weight"),
                         *fb = find(s, n, "final_linear_layer.bias"), *pos = find(s, n, "position_embedding_table.weight");
    if (!got_d)
        got_d = dim_of(e, 1, &c->d_model) || dim_of(fw, 1, &c->d_model);
    if (!dim_of(e, 0, &c->vocab_size))
        dim_of(fb, 0, &c->vocab_size);
    c->n_layer = max_block + 1 > 0 ? max_block + 1 : 1;
    c->n_head = max_head + 1 > 0 ? max_head + 1 : 1;
    c->learned_pos = pos != NULL;
    if (pos && !masks)
        dim_of(pos, 0, &c->context_length);
    c->prenorm = find(s, n, "final_layer_norm.weight") != NULL;
    c->tie_embeddings = fb && !fw;
    if (tl_config_validate(c, err))
        return tl_err_prefix(err, "the parts imported do not form a consistent model");
    return 0;
}

int tl_infer_config(const tl_named_shape *t, int n, int flags, tl_config *cfg, char *note, size_t note_n,
                    tl_err *err)
{
    if (note && note_n)
        note[0] = 0;
    if (flags & TL_INFER_PARTIAL)
        return infer_partial(t, n, cfg, err);
    tl_config c = tl_config_seed(0);
    const tl_named_shape *s;
    if (!(s = find(t, n, "token_embedding_table.weight")))
        return tl_errf(err, TL_EINVAL, "cannot infer the config: token_embedding_table.weight is missing");
    if (dim(s, 2, 0, &c.vocab_size, err) || dim(s, 2, 1, &c.d_model, err))
        return err->code;

    static const char heads[] = "transformer_blocks.0.attention.attention_heads.";
    int max_block = -1, max_head = -1;
    for (int i = 0; i < n; i++) {
        int h;
        tl_part p;
        char key[TL_FULLNAME_MAX];
        if (tl_part_of_full_name(t[i].name, &p, key, sizeof key) == 0 && p.kind == TL_PART_BLOCK &&
            p.block > max_block)
            max_block = p.block;
        const char *e;
        if (!strncmp(t[i].name, heads, sizeof heads - 1) && (e = parse_index(t[i].name + sizeof heads - 1, &h)) &&
            *e == '.' && h > max_head)
            max_head = h;
    }
    if (max_block < 0)
        return tl_errf(err, TL_EINVAL, "cannot infer the config: no transformer_blocks.* tensors");
    if (max_head < 0)
        return tl_errf(err, TL_EINVAL, "cannot infer the config: no transformer_blocks.0.attention.attention_heads.* tensors");
    c.n_layer = max_block + 1;
    c.n_head = max_head + 1;

    if (!(s = find(t, n, "transformer_blocks.0.feed_forward.linear1.weight")))
        return tl_errf(err, TL_EINVAL, "cannot infer the config: transformer_blocks.0.feed_forward.linear1.weight is missing");
    if (dim(s, 2, 0, &c.d_ff, err))
        return err->code;

    const char *ctx_from;
    c.learned_pos = find(t, n, "position_embedding_table.weight") != NULL;
    if ((s = find(t, n, "transformer_blocks.0.attention.attention_heads.0.mask"))) {
        ctx_from = "the mask buffer";
        if (dim(s, 2, 0, &c.context_length, err))
            return err->code;
    } else if ((s = find(t, n, "position_embedding_table.weight"))) {
        ctx_from = "the position table";
        if (dim(s, 2, 0, &c.context_length, err))
            return err->code;
    } else
        return tl_errf(err, TL_EINVAL, "cannot infer the config: context_length needs an attention mask buffer or a "
                       "position table, and neither is present (store the config in the file's metadata)");
    c.prenorm = find(t, n, "final_layer_norm.weight") != NULL;
    c.tie_embeddings = !find(t, n, "final_linear_layer.weight") && find(t, n, "final_linear_layer.bias");
    if (tl_config_validate(&c, err))
        return tl_err_prefix(err, "inferred config is invalid");
    if (note)
        snprintf(note, note_n,
                 "config inferred from tensor shapes: vocab_size=%d d_model=%d n_layer=%d n_head=%d d_ff=%d "
                 "context_length=%d (from %s) norm=%s pos=%s tie_embeddings=%s; not recorded in the file, "
                 "seed values assumed: attn_scale=sqrt act=relu dropout=0.1 ln_eps=1e-05",
                 c.vocab_size, c.d_model, c.n_layer, c.n_head, c.d_ff, c.context_length, ctx_from,
                 c.prenorm ? "pre" : "post", c.learned_pos ? "learned" : "sinusoidal",
                 c.tie_embeddings ? "true" : "false");
    *cfg = c;
    return 0;
}
