/* Internals of the Hugging Face tokenizer.json support (docs/tokenizer.md, "tokenizer.json"). The
 * behaviour is that of npm @huggingface/tokenizers 0.2.0, the reference the tests compare against. */
#ifndef TEELM_TOKENIZER_HF_INTERNAL_H
#define TEELM_TOKENIZER_HF_INTERNAL_H

#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode_extra.h"

extern const tl_ucat_extra tl_ucat_extras_hf[];

/* Normalizer steps (a Sequence is flattened). */
enum { HFN_NFC, HFN_NFD, HFN_NFKC, HFN_NFKD, HFN_PREPEND, HFN_REPLACE };
typedef struct {
    int kind;
    char *a, *b;  /* Prepend: a = text; Replace: a = pattern string, b = content */
    size_t al, bl;
} hf_norm;

/* Pre-tokenizer stages (a Sequence is flattened; each stage splits every piece of the previous one). */
enum { HFP_SPLIT, HFP_BYTELEVEL, HFP_METASPACE, HFP_DIGITS };
enum { HFB_ISOLATED, HFB_REMOVED, HFB_INVERT };
typedef struct {
    int kind;
    pcre2_code *re;   /* Split; ByteLevel with use_regex (GPT-2's JavaScript pattern) */
    int jit;
    size_t (*fast)(const uint8_t *s, size_t n, size_t p);  /* cl100k-identical pattern: tok_fast_cl100k */
    int behavior;     /* Split */
    int flag;         /* ByteLevel: add_prefix_space; Digits: individual_digits; Metaspace: prepend scheme */
    char *rep;        /* Metaspace replacement (UTF-8) */
    size_t repl;
} hf_pre;
enum { HFM_ALWAYS, HFM_FIRST, HFM_NEVER };

/* Decoder steps. */
enum { HFD_BYTELEVEL, HFD_REPLACE, HFD_BYTEFALLBACK, HFD_FUSE, HFD_STRIP, HFD_METASPACE };
typedef struct {
    int kind;
    char *a, *b;  /* Replace: pattern, content; Strip: a = content (one character); Metaspace: a = replacement */
    size_t al, bl;
    int start, stop;
} hf_dec;

typedef struct {
    char *content, *norm;   /* norm: the normalized content (normalized tokens with a normalizer), else NULL */
    size_t clen, nlen;
    uint32_t id;
    uint8_t special, lstrip, rstrip, normalized;
} hf_added;

/* A byte trie of added-token texts: leftmost-longest matching as the reference's DictionarySplitter. */
typedef struct {
    uint32_t first_child, next_sibling;
    int32_t token;  /* index into added[], -1 if no token ends here */
    uint8_t byte;
} hf_trie_node;

/* Open-addressing maps. */
typedef struct {
    uint64_t key;   /* (left << 32 | right); UINT64_MAX = empty */
    uint32_t rank, id;
} hf_merge_slot;

typedef struct {
    uint32_t id;   /* TOK_NONE = empty */
    uint32_t tag;
} hf_str_slot;

typedef struct tok_hf {
    int byte_level;        /* ByteLevel pre-tokenizer: the model's symbols are bytes */
    /* model vocabulary: id -> model string (bytes for byte-level, else UTF-8), string -> id */
    uint32_t n_model;      /* largest model id + 1 */
    uint8_t *marena;
    uint32_t *moff, *mlen;
    uint8_t *mvalid;       /* id has a model token (byte-level: spelled in the 256-character alphabet) */
    hf_str_slot *mslots;
    uint32_t mmask;
    uint32_t byte_id[256]; /* byte-level: id of each single byte, TOK_NONE if absent */
    hf_merge_slot *merges;
    uint32_t merge_mask, n_merges;
    uint32_t unk;          /* TOK_NONE: no unk token */
    char *unk_text;
    int fuse_unk, byte_fallback, ignore_merges;
    uint32_t fb_id[256];   /* <0xNN> ids */
    /* added tokens */
    hf_added *added;
    uint32_t n_added;
    hf_trie_node *trie[2]; /* [0] unnormalized texts, [1] normalized texts */
    uint32_t n_trie[2], cap_trie[2];
    hf_str_slot *aslots;   /* added key (content or normalized content, raw text) -> index into added[] */
    uint32_t amask;
    /* model id -> the added token whose key spells the same (JavaScript maps by string); TOK_NONE */
    uint32_t *override;    /* index into added[], or NULL when none exists */
    /* pipeline */
    hf_norm *norm;
    int n_norm;
    hf_pre *pre;
    int n_pre;
    int has_pre;           /* pre_tokenizer not null */
    /* post-processor: the TemplateProcessing "single" templates, applied in order; -1 = sequence A */
    int64_t **tmpl;
    int *tmpl_n;
    int n_tmpl;
    int64_t bos_cfg, eos_cfg;  /* tokenizer_config add_bos/add_eos when no template says (-1: none) */
    hf_dec *dec;
    int n_dec;
    int cleanup;           /* clean_up_tokenization_spaces */
    uint32_t n_ids;        /* max over model and added ids + 1 */
    /* id -> the token's string as the reference's decoder sees it (added tokens override the model) */
    uint8_t *darena;
    uint32_t *doff, *dlen;
    int32_t *dadded;       /* index into added[] when the id is an added token, else -1 */
    char kind[32];
} tok_hf;

/* Loads a tokenizer.json (already parsed by the caller as JSON with a "model" object) into t:
 * fills t->hf and the id -> bytes tables of t (for tl_tokenizer_token_bytes). config: the
 * tokenizer_config.json text or NULL. */
int hf_load(tl_tokenizer *t, const uint8_t *data, size_t len, const uint8_t *config, size_t config_len,
            const char *what, tl_err *err);
void hf_free(tok_hf *h);
/* Compiles a tokenizer.json Split regex (Oniguruma text, as the reference rewrites it for JavaScript)
 * for PCRE2; field names the JSON field for messages. */
int hf_compile_regex(const char *pat, size_t len, pcre2_code **re, int *jit, const char *what, const char *field,
                     tl_err *err);
/* The ByteLevel pre-tokenizer's own pattern (GPT-2's, with JavaScript's \s). */
int hf_compile_bytelevel(pcre2_code **re, int *jit, const char *what, tl_err *err);

int hf_encode(const tl_tokenizer *t, const uint8_t *s, size_t n, int flags, uint32_t **ids, size_t *nids,
              tl_err *err);
int hf_decode(const tl_tokenizer *t, const uint32_t *ids, size_t n, char **out, size_t *len, tl_err *err);

/* UTF-8 helpers shared by the hf files (input is valid UTF-8). */
static inline size_t hf_clen(uint8_t b) { return b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4; }
static inline uint32_t hf_cp(const uint8_t *p)
{
    if (p[0] < 0x80)
        return p[0];
    if (p[0] < 0xE0)
        return (uint32_t)(p[0] & 0x1F) << 6 | (p[1] & 0x3F);
    if (p[0] < 0xF0)
        return (uint32_t)(p[0] & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F);
    return (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3F) << 12 | (uint32_t)(p[2] & 0x3F) << 6 | (p[3] & 0x3F);
}
/* The byte a ByteFallback decoder reads from a token "<0xNN>" (n bytes at s), or -1 if it is text. */
int hf_byte_token(const uint8_t *s, size_t n);
/* GPT-2's byte <-> character table (bytes_to_unicode). */
uint32_t hf_byte_char(uint8_t b);
int hf_char_byte(uint32_t cp);  /* -1 if cp is not one of the 256 characters */


/* Runs the normalizer steps on s[0..n): a malloc'd result (NUL-terminated) in *out; -1 on ENOMEM. */
int hf_normalize(const tok_hf *h, const uint8_t *s, size_t n, uint8_t **out, size_t *out_len);
#endif
