/* Model hyper-parameters. Serialized as a small JSON document (docs/model-config.md):
 *   {"vocab_size":100070,"context_length":16,"d_model":64,"n_layer":8,"n_head":4,"d_ff":256,
 *    "norm":"post","attn_scale":"sqrt","pos":"sinusoidal","act":"relu","tie_embeddings":false,
 *    "dropout":0.1,"ln_eps":1e-5}
 * Defaults are the seed model (docs/model-config.md), including its sqrt(head) attention quirk. */
#ifndef TEELM_MODEL_CONFIG_H
#define TEELM_MODEL_CONFIG_H

#include "util/err.h"

/* Model families. TL_ARCH_SEED is the prototype's family (the variants below); the others are the
 * Hugging Face families of docs/architectures.md, whose fields follow the seed fields. */
typedef enum {
    TL_ARCH_SEED = 0,
    TL_ARCH_LLAMA,   /* LlamaForCausalLM */
    TL_ARCH_MISTRAL, /* MistralForCausalLM without sliding window: Llama's mathematics */
    TL_ARCH_QWEN2,   /* Qwen2ForCausalLM: Llama + q/k/v biases */
    TL_ARCH_GPT2,    /* GPT2LMHeadModel */
} tl_arch;

typedef enum { TL_ROPE_DEFAULT = 0, TL_ROPE_LINEAR, TL_ROPE_LLAMA3 } tl_rope_type;

#define TL_MAX_EOS 16

typedef struct {
    int vocab_size;
    int context_length;
    int d_model;
    int n_layer;
    int n_head;         /* head size = d_model / n_head */
    int d_ff;
    int prenorm;        /* 0: post-norm blocks (seed); 1: pre-norm blocks + final LayerNorm */
    int attn_inv_sqrt;  /* 0: scores * sqrt(head) (seed quirk); 1: scores / sqrt(head) (standard) */
    int learned_pos;    /* 0: sinusoidal (seed); 1: learned position table */
    int gelu;           /* 0: ReLU (seed); 1: GELU (exact, erf); HF families: 2 (config "act":
                           "gelu_ggml"): GPT-2's GELU as llama.cpp computes it, for GGUF files */
    int tie_embeddings; /* 1: output weight = token embedding (output bias kept) */
    float dropout;
    float ln_eps;       /* HF families: rms_norm_eps (Llama family) or layer_norm_epsilon (GPT-2) */

    /* ---- Hugging Face families only (arch != TL_ARCH_SEED; zero for the seed family) ----
     * For them: d_ff = intermediate_size (GPT-2: n_inner or 4d), n_head = query heads,
     * context_length = the longest sequence a workspace holds (max_pos, or less with --ctx),
     * tie_embeddings = tie_word_embeddings; prenorm/attn_inv_sqrt/learned_pos/dropout unused, gelu only as 2. */
    tl_arch arch;
    int n_kv_head;      /* key/value heads (GQA); n_head is a multiple */
    int head_dim;       /* per-head width (even); may differ from d_model / n_head */
    int max_pos;        /* max_position_embeddings / n_positions: rows of GPT-2's wpe, the RoPE limit */
    int qkv_bias;       /* q, k, v projections have biases (Qwen2; Llama with attention_bias) */
    int o_bias;         /* o projection has a bias (Llama with attention_bias) */
    float rope_theta;
    tl_rope_type rope_type;
    float rope_factor, rope_low_freq, rope_high_freq; /* linear: factor; llama3: all three */
    int rope_orig_ctx;  /* llama3: original_max_position_embeddings */
    int bos_id;         /* -1: none */
    int n_eos;          /* generation stops after any of eos_ids[0..n_eos) */
    int eos_ids[TL_MAX_EOS];
    int round_half_acts; /* 1 (config "half_acts": "rounded"): a product with F16/BF16 weights first
                            rounds its activations to that type, as llama.cpp's CPU backend does (its
                            vec_dot_type); set for GGUF files, whose tokens llama.cpp's are the reference */
    int ggml_numerics;   /* 1 (config "numerics": "ggml"): RMSNorm, RoPE, SiLU, attention in llama.cpp's CPU
                            arithmetic to the bit (docs/gguf.md "Numbers against llama.cpp"), not in
                            PyTorch's; set for GGUF files with round_half_acts */
} tl_config;

/* 1 for the Hugging Face families. */
static inline int tl_config_is_hf(const tl_config *c) { return c->arch != TL_ARCH_SEED; }

/* The seed model with the given vocabulary size. */
tl_config tl_config_seed(int vocab_size);
/* Checks ranges and divisibility; the message names the field. */
int tl_config_validate(const tl_config *c, tl_err *err);
/* Parses JSON text. Fields absent from the text keep the seed defaults; unknown fields are errors. */
int tl_config_parse(const char *json, tl_config *c, tl_err *err);
/* Reads `seed` or a JSON file path. */
int tl_config_load(const char *seed_or_path, tl_config *c, tl_err *err);
/* Compact JSON; malloc'd, caller frees. */
char *tl_config_to_json(const tl_config *c);

#endif
