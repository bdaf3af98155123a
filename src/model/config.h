/* Model hyper-parameters. Serialized as a small JSON document (docs/model-config.md):
 *   {"vocab_size":100070,"context_length":16,"d_model":64,"n_layer":8,"n_head":4,"d_ff":256,
 *    "norm":"post","attn_scale":"sqrt","pos":"sinusoidal","act":"relu","tie_embeddings":false,
 *    "dropout":0.1,"ln_eps":1e-5}
 * Defaults are the seed model (docs/model-config.md), including its sqrt(head) attention quirk. */
#ifndef TEELM_MODEL_CONFIG_H
#define TEELM_MODEL_CONFIG_H

#include "util/err.h"

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
    int gelu;           /* 0: ReLU (seed); 1: GELU (exact, erf) */
    int tie_embeddings; /* 1: output weight = token embedding (output bias kept) */
    float dropout;
    float ln_eps;
} tl_config;

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
