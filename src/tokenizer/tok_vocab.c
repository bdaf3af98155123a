/* Vocabulary tables: id -> bytes for decoding, bytes -> rank (open addressing) for encoding. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

static void put_slot(tl_tokenizer *t, uint64_t h, uint32_t rank)
{
    uint32_t i = (uint32_t)h & t->mask;
    while (t->slots[i].rank != TOK_NONE)
        i = (i + 1) & t->mask;
    t->slots[i].rank = rank;
    t->slots[i].tag = (uint32_t)(h >> 32);
}

/* tok_off, tok_len and tok_is_special for n ids live in one block (at tok_off): the first
 * old_n entries of each kept, the rest zero. 0, or -1 when out of memory (t unchanged). */
static int id_table_resize(tl_tokenizer *t, uint32_t old_n, uint32_t n)
{
    uint32_t *b = calloc((size_t)n * (2 * sizeof *b + 1), 1);
    if (!b)
        return -1;
    if (t->tok_off) {
        memcpy(b, t->tok_off, (size_t)old_n * sizeof *b);
        memcpy(b + n, t->tok_len, (size_t)old_n * sizeof *b);
        memcpy(b + 2 * (size_t)n, t->tok_is_special, old_n);
        free(t->tok_off);
    }
    t->tok_off = b;
    t->tok_len = b + n;
    t->tok_is_special = (uint8_t *)(b + 2 * (size_t)n);
    return 0;
}

int tok_id_table_alloc(tl_tokenizer *t, uint32_t n_ids, size_t bytes)
{
    t->arena = malloc(bytes + 1);
    return id_table_resize(t, 0, n_ids) || !t->arena ? -1 : 0;
}

void tok_vocab_free(tl_tokenizer *t)
{
    free(t->arena);
    free(t->tok_off); /* the whole id table */
    free(t->slots);
    free(t->pair_rank);
}

int tok_vocab_build(tl_tokenizer *t, const uint8_t *buf, const tok_entry *e, size_t n, const char *what,
                    const char *unit, tl_err *err)
{
    if (n == 0)
        return tl_errf(err, TL_EINVAL, "%s: no tokens", what);
    uint32_t max_rank = 0;
    size_t bytes = 0;
    const tok_entry *maxe = &e[0];
    for (size_t i = 0; i < n; i++) {
        if (e[i].rank >= TOK_MAX_ID)
            return tl_errf(err, TL_EINVAL, "%s: %s %u: rank %u is too large (ranks must be below %u)", what, unit,
                           e[i].line, e[i].rank, TOK_MAX_ID);
        if (e[i].len == 0)
            return tl_errf(err, TL_EINVAL, "%s: %s %u: empty token", what, unit, e[i].line);
        if (e[i].rank >= max_rank) {
            max_rank = e[i].rank;
            maxe = &e[i];
        }
        bytes += e[i].len;
    }
    if ((size_t)max_rank + 1 > n && (size_t)max_rank + 1 - n > TOK_MAX_HOLES)
        return tl_errf(err, TL_EINVAL, "%s: %s %u: rank %u leaves more than %u ids without a token (%zu tokens)", what,
                       unit, maxe->line, max_rank, TOK_MAX_HOLES, n);
    if (bytes >= UINT32_MAX / 2)
        return tl_errf(err, TL_EINVAL, "%s: tokens too long", what);
    /* room for special tokens is added by tok_vocab_add_specials */
    t->n_ids = max_rank + 1;
    t->n_ranks = (uint32_t)n;
    int nomem = tok_id_table_alloc(t, t->n_ids, bytes);
    uint32_t cap = 1024;
    while (cap < n * 2 + 16)
        cap <<= 1;
    t->slots = malloc((size_t)cap * sizeof *t->slots);
    t->pair_rank = malloc(65536 * sizeof *t->pair_rank);
    uint32_t *line_of = calloc(t->n_ids, sizeof *line_of);
    if (nomem || !t->slots || !t->pair_rank || !line_of) {
        free(line_of);
        return tl_errf(err, TL_ENOMEM, "%s: out of memory for %zu tokens", what, n);
    }
    t->mask = cap - 1;
    memset(t->slots, 0xFF, (size_t)cap * sizeof *t->slots);
    memset(t->pair_rank, 0xFF, 65536 * sizeof *t->pair_rank);
    memset(t->byte_rank, 0xFF, sizeof t->byte_rank);
    uint32_t off = 0;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const uint8_t *p = buf + e[i].off;
        uint32_t r = e[i].rank, len = e[i].len;
        if (line_of[r]) {
            rc = tl_errf(err, TL_EINVAL, "%s: %s %u: rank %u is also given on %s %u", what, unit, e[i].line, r, unit,
                         line_of[r]);
            break;
        }
        uint32_t prev = tok_rank(t, p, len);
        if (prev != TOK_NONE) {
            rc = tl_errf(err, TL_EINVAL, "%s: %s %u: duplicate token (same bytes as rank %u on %s %u)", what, unit,
                         e[i].line, prev, unit, line_of[prev]);
            break;
        }
        line_of[r] = e[i].line ? e[i].line : 1;
        memcpy(t->arena + off, p, len);
        t->tok_off[r] = off;
        t->tok_len[r] = len;
        off += len;
        if (len == 1)
            t->byte_rank[p[0]] = r;
        else if (len == 2)
            t->pair_rank[(uint32_t)p[0] << 8 | p[1]] = r;
        else
            put_slot(t, tok_hash(p, len), r);
    }
    free(line_of);
    if (rc)
        return rc;
    for (int b = 0; b < 256; b++)
        if (t->byte_rank[b] == TOK_NONE)
            return tl_errf(err, TL_EINVAL, "%s: no token for the single byte 0x%02X (a byte-level BPE needs all 256)",
                           what, b);
    return 0;
}

int tok_vocab_add_specials(tl_tokenizer *t, const tok_special_spec *sp, size_t n, const char *what, tl_err *err)
{
    if (n == 0)
        return 0;
    uint32_t max_id = t->n_ids - 1;
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(sp[i].text);
        if (len == 0)
            return tl_errf(err, TL_EINVAL, "%s: empty special token", what);
        if (len > 4096)
            return tl_errf(err, TL_EINVAL, "%s: special token longer than 4096 bytes", what);
        if (sp[i].id >= TOK_MAX_ID)
            return tl_errf(err, TL_EINVAL, "%s: special token id %u is too large (ids must be below %u)", what,
                           sp[i].id, TOK_MAX_ID);
        if (sp[i].id < t->n_ids && t->tok_len[sp[i].id])
            return tl_errf(err, TL_EINVAL, "%s: special token %s has id %u, which is already a token", what,
                           sp[i].text, sp[i].id);
        for (size_t j = 0; j < i; j++) {
            if (sp[j].id == sp[i].id)
                return tl_errf(err, TL_EINVAL, "%s: special tokens %s and %s share id %u", what, sp[j].text, sp[i].text,
                               sp[i].id);
            if (strcmp(sp[j].text, sp[i].text) == 0)
                return tl_errf(err, TL_EINVAL, "%s: special token %s given twice", what, sp[i].text);
        }
        if (sp[i].id > max_id)
            max_id = sp[i].id;
        bytes += len;
    }
    if ((size_t)max_id + 1 > t->n_ranks + n && (size_t)max_id + 1 - t->n_ranks - n > TOK_MAX_HOLES)
        return tl_errf(err, TL_EINVAL, "%s: special token ids leave more than %u ids without a token", what,
                       TOK_MAX_HOLES);
    uint32_t n_ids = max_id + 1;
    size_t arena_len = 0;
    for (uint32_t i = 0; i < t->n_ids; i++)
        arena_len += t->tok_len[i];
    int nomem = id_table_resize(t, t->n_ids, n_ids);
    uint8_t *arena = realloc(t->arena, arena_len + bytes);
    if (arena)
        t->arena = arena;
    t->special = calloc(n, sizeof *t->special);
    if (nomem || !arena || !t->special)
        return tl_errf(err, TL_ENOMEM, "%s: out of memory", what);
    t->n_ids = n_ids;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(sp[i].text);
        t->special[i].text = strdup(sp[i].text);
        if (!t->special[i].text)
            return tl_errf(err, TL_ENOMEM, "%s: out of memory", what);
        t->special[i].len = l;
        t->special[i].id = sp[i].id;
        t->n_special = (int)i + 1;
        memcpy(t->arena + arena_len, sp[i].text, l);
        t->tok_off[sp[i].id] = (uint32_t)arena_len;
        t->tok_len[sp[i].id] = (uint32_t)l;
        t->tok_is_special[sp[i].id] = 1;
        arena_len += l;
    }
    return 0;
}
