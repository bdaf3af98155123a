/* Internals of the tokenizer shared by its files (not a public interface; tests may include it). */
#ifndef TEELM_TOKENIZER_INTERNAL_H
#define TEELM_TOKENIZER_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tokenizer/tokenizer.h"

#define TOK_NONE UINT32_MAX
/* Ranks and special ids must stay below this; keeps the id -> bytes tables bounded for hostile files. */
#define TOK_MAX_ID (1u << 24)
/* At most this many ids between 0 and the largest id may have no token (p50k has 1, cl100k 20). */
#define TOK_MAX_HOLES 65536u
/* Pieces up to this many bytes use tiktoken's array merge; longer ones the heap merge (same result). */
#define TOK_SMALL_PIECE 128

/* A standard encoding: its pre-tokenizer pattern, special tokens and published file digests. */
typedef struct {
    const char *text;
    uint32_t id;
} tok_special_spec;

typedef struct {
    const char *name;         /* pattern name: "cl100k", "o200k", "p50k", "p50k_edit", "r50k", "gpt2" */
    const char *encoding;     /* tiktoken's encoding name: "cl100k_base", ... */
    const char *pat;          /* tiktoken's pat_str */
    const char *tiktoken_sha; /* SHA-256 (hex) of the published .tiktoken file */
    const char *json_sha;     /* SHA-256 of npm tiktoken 1.0.22's encoders/NAME.json */
    tok_special_spec special[6];
} tok_spec;

extern const tok_spec tok_specs[];
/* Finds a spec by pattern name or encoding name ("cl100k" or "cl100k_base"); NULL if unknown. */
const tok_spec *tok_spec_find(const char *name);
/* The spec whose pat_str is exactly pat, or NULL. */
const tok_spec *tok_spec_by_pat(const char *pat);
/* Rewrites a tiktoken (Rust regex) pattern for PCRE2: \s/\S become White_Space (PCRE2's \s also
 * takes U+180E), and \p{L}, \p{N}, ... gain the code points PCRE2's older Unicode lacks.
 * Returns a malloc'd string or NULL on allocation failure. */
char *tok_translate_pattern(const char *pat);

typedef struct {
    uint32_t rank;  /* TOK_NONE = empty slot */
    uint32_t tag;   /* high hash bits, to skip most byte compares */
} tok_slot;

typedef struct {
    char *text;
    size_t len;
    uint32_t id;
} tok_special;

struct tl_tokenizer {
    /* id -> bytes (ranks and special tokens); tok_len[id] == 0 means no such id */
    uint8_t *arena;
    uint32_t *tok_off, *tok_len;
    uint8_t *tok_is_special;
    uint32_t n_ids;       /* largest id + 1 */
    uint32_t n_ranks;     /* mergeable tokens */
    /* bytes -> rank */
    tok_slot *slots;
    uint32_t mask;
    uint32_t byte_rank[256];
    uint32_t *pair_rank;  /* [65536]: rank of each 2-byte token, TOK_NONE if none */
    tok_special *special;
    int n_special;
    /* pre-tokenizer */
    pcre2_code *re;
    int jit;              /* pcre2_jit_compile succeeded */
    /* hand-written ASCII matcher for the standard cl100k/o200k pattern, or NULL (tok_fast.c) */
    size_t (*fast)(const uint8_t *s, size_t n, size_t p);
    char pattern[32];
    char encoding[32];    /* standard encoding name, or "custom" */
    char *warning;
    struct tok_hf *hf;    /* a tokenizer.json tokenizer (hf_*.c), or NULL for tiktoken files */
};

static inline uint64_t tok_hash(const uint8_t *p, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ ((uint64_t)n * 0xFF51AFD7ED558CCDull);
    uint64_t x;
    while (n > 8) {
        memcpy(&x, p, 8);
        h = (h ^ x) * 0x9FB21C651E98DF25ull;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    if (n >= 4) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + n - 4, 4);
        x = (uint64_t)lo | (uint64_t)hi << 32;
    } else if (n > 0) {
        x = (uint64_t)p[0] | (uint64_t)p[n >> 1] << 8 | (uint64_t)p[n - 1] << 16;
    } else {
        x = 0;
    }
    h = (h ^ x) * 0x9FB21C651E98DF25ull;
    h ^= h >> 32;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 29;
    return h;
}

/* Rank of a byte string, TOK_NONE if it is not a mergeable token. */
static inline uint32_t tok_rank(const tl_tokenizer *t, const uint8_t *p, size_t n)
{
    if (n == 1)
        return t->byte_rank[p[0]];
    if (n == 2)
        return t->pair_rank[(uint32_t)p[0] << 8 | p[1]];
    uint64_t h = tok_hash(p, n);
    uint32_t tag = (uint32_t)(h >> 32), i = (uint32_t)h & t->mask;
    for (;;) {
        const tok_slot *s = &t->slots[i];
        if (s->rank == TOK_NONE)
            return TOK_NONE;
        if (s->tag == tag && t->tok_len[s->rank] == n && memcmp(t->arena + t->tok_off[s->rank], p, n) == 0)
            return s->rank;
        i = (i + 1) & t->mask;
    }
}

/* One (bytes, rank) pair read from a file, before the vocabulary is built. */
typedef struct {
    uint32_t off, len;  /* into the loader's byte buffer */
    uint32_t rank;
    uint32_t line;      /* for messages */
} tok_entry;

/* Builds the vocabulary tables of t from entries (bytes in buf); checks duplicates, the 256 single
 * bytes and id bounds. what/unit name the source in messages ("x.tiktoken", "line"). */
int tok_vocab_build(tl_tokenizer *t, const uint8_t *buf, const tok_entry *e, size_t n, const char *what,
                    const char *unit, tl_err *err);
/* The id -> bytes table of t for n_ids ids (zeroed: no id has a token yet) and an arena of bytes
 * bytes; tiktoken files and tokenizer.json both fill it. 0, or -1 when out of memory. */
int tok_id_table_alloc(tl_tokenizer *t, uint32_t n_ids, size_t bytes);
/* Frees the tables tok_vocab_build and tok_id_table_alloc made (for tl_tokenizer_free). */
void tok_vocab_free(tl_tokenizer *t);
/* Adds special tokens (after tok_vocab_build); ids must not collide with ranks or each other. */
int tok_vocab_add_specials(tl_tokenizer *t, const tok_special_spec *sp, size_t n, const char *what, tl_err *err);
/* Compiles the pre-tokenizer (pattern text as tiktoken writes it) into t->re. */
int tok_compile_pattern(tl_tokenizer *t, const char *pat, const char *what, tl_err *err);

/* Byte pair merge of one piece that is not itself a token (tiktoken's algorithm); writes the ranks
 * to out (room for n) and returns their number. small: n <= TOK_SMALL_PIECE, O(n*m) on arrays;
 * large: any n >= 2, O(n log n) with a heap, (size_t)-1 if out of memory. Both give identical output. */
size_t tok_bpe_small(const tl_tokenizer *t, const uint8_t *p, size_t n, uint32_t *out);
size_t tok_bpe_large(const tl_tokenizer *t, const uint8_t *p, size_t n, uint32_t *out);
/* Min-heap of (rank << 32 | position) for the BPE merge loops (tok_bpe.c, hf_encode.c): h holds room
 * for every push; the smallest is the lowest rank, leftmost on ties. */
void tok_heap_push(uint64_t *h, size_t *n, uint64_t v);
uint64_t tok_heap_pop(uint64_t *h, size_t *n);

/* ASCII pre-tokenizers: the end of the cl100k / o200k piece starting at s[p] (s[p] < 0x80), or 0
 * when a non-ASCII byte would decide it and PCRE2 must. */
size_t tok_fast_cl100k(const uint8_t *s, size_t n, size_t p);
size_t tok_fast_o200k(const uint8_t *s, size_t n, size_t p);

/* Per-call matching state (one per thread: the tokenizer itself stays read-only). */
typedef struct {
    pcre2_match_data *md;
    pcre2_match_context *mc;
    pcre2_jit_stack *js;  /* allocated only if the default JIT stack runs out */
} tok_matcher;
int tok_matcher_init(tok_matcher *m);
void tok_matcher_free(tok_matcher *m);
/* Next match of re (JIT-compiled when jit) in s[0..n) at or after pos, trying the ASCII matcher fast
 * first when given: 1 with [*a, *b), 0 none, <0 error (in err). */
int tok_match(const pcre2_code *re, int jit, size_t (*fast)(const uint8_t *, size_t, size_t), tok_matcher *m,
              const uint8_t *s, size_t n, size_t pos, size_t *a, size_t *b, tl_err *err);
/* The next piece of s[0..n) at or after pos: returns 1 with [*a, *b) (possibly empty: callers skip
 * empty pieces), 0 if the pattern matches nowhere after pos, or minus an error code (err set). */
int tok_next_piece(const tl_tokenizer *t, tok_matcher *m, const uint8_t *s, size_t n, size_t pos, size_t *a,
                   size_t *b, tl_err *err);

/* Replaces invalid UTF-8 with U+FFFD the way WHATWG/node's TextDecoder do (one per maximal invalid
 * subpart). Returns 0 and *out = NULL if s is valid, else 0 and a malloc'd copy; -1 on ENOMEM. */
int tok_utf8_sanitize(const uint8_t *s, size_t n, uint8_t **out, size_t *out_len);

#endif
