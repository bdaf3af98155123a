/* Config JSON and the parameter table: the seed model's parameter count must equal the one the
 * PyTorch prototype reports (computed independently here from docs/model-config.md). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/config.h"
#include "model/params.h"
#include "test.h"

/* A two-valued HF field stored as an int flag at off of tl_config: set on base (a Llama config),
 * it is written as "key":"on" and reads back the same; unset it is not written; "off" reads as 0,
 * bad is refused naming the key, and the seed family refuses the field. */
static void check_choice(const tl_config *base, size_t off, const char *key, const char *off_v, const char *on_v,
                         const char *bad)
{
    tl_config b = *base, d;
    tl_err err = {0};
    *(int *)((char *)&b + off) = 1;
    char want[96], doc[192];
    snprintf(want, sizeof want, "\"%s\":\"%s\"", key, on_v);
    char *js = tl_config_to_json(&b);
    CHECKF(js && strstr(js, want) && tl_config_parse(js, &d, &err) == 0 && memcmp(&d, &b, sizeof d) == 0, "%s", key);
    free(js);
    js = tl_config_to_json(base);
    CHECKF(js && !strstr(js, key), "%s written unset", key);
    free(js);
    snprintf(doc, sizeof doc, "{\"arch\":\"llama\",\"vocab_size\":10,\"%s\":\"%s\"}", key, off_v);
    CHECKF(tl_config_parse(doc, &d, &err) == 0 && *(int *)((char *)&d + off) == 0, "%s", doc);
    snprintf(doc, sizeof doc, "{\"arch\":\"llama\",\"vocab_size\":10,\"%s\":\"%s\"}", key, bad);
    CHECKF(tl_config_parse(doc, &d, &err) != 0 && strstr(err.msg, key), "%s", doc);
    snprintf(doc, sizeof doc, "{\"vocab_size\":10,\"%s\":\"%s\"}", key, on_v);
    CHECKF(tl_config_parse(doc, &d, &err) != 0 && strstr(err.msg, key), "%s", doc);
}

int main(void)
{
    tl_config c = tl_config_seed(100070);
    tl_err err = {0};
    CHECK(tl_config_validate(&c, &err) == 0);

    /* PyTorch: sum(p.numel()) of the seed Model with V=100070 */
    size_t V = 100070, D = 64, F = 256;
    size_t expect = V * D + 8 * (3 * D * D + D * D + D + F * D + F + D * F + D + 4 * D) + V * D + V;
    CHECK(tl_params_numel(&c) == expect);
    int n = tl_params_count(&c);
    CHECK(n == 1 + 8 * (12 + 10) + 2);
    tl_param *p = calloc((size_t)n, sizeof *p);
    tl_params_list(&c, p);
    size_t sum = 0;
    for (int i = 0; i < n; i++) {
        sum += p[i].numel;
        CHECK(p[i].offset % TL_PARAM_ALIGN == 0);
        if (i)
            CHECK(p[i].offset >= p[i - 1].offset + p[i - 1].numel);
    }
    CHECK(sum == expect);
    CHECK(p[n - 1].offset + p[n - 1].numel <= tl_params_arena_floats(&c));
    /* q heads of a block are contiguous, then k, then v: one fused [3D, D] matrix */
    const tl_param *q0 = tl_params_find(p, n, "transformer_blocks.2.attention.attention_heads.0.q_lin.weight");
    const tl_param *v3 = tl_params_find(p, n, "transformer_blocks.2.attention.attention_heads.3.v_lin.weight");
    CHECK(q0 && v3 && v3->offset + v3->numel - q0->offset == 3 * D * D);
    CHECK(tl_params_find(p, n, "final_linear_layer.bias") != NULL);
    free(p);

    /* JSON round trip and strictness */
    c.prenorm = 1; c.gelu = 1; c.learned_pos = 1; c.attn_inv_sqrt = 1; c.tie_embeddings = 1;
    char *js = tl_config_to_json(&c);
    tl_config d;
    CHECK(tl_config_parse(js, &d, &err) == 0);
    CHECK(memcmp(&c, &d, sizeof c) == 0);
    free(js);
    CHECK(tl_config_parse("{\"vocab_size\":10,\"bogus\":1}", &d, &err) != 0 && strstr(err.msg, "bogus"));
    CHECK(tl_config_parse("{\"vocab_size\":10,\"d_model\":63}", &d, &err) != 0 && strstr(err.msg, "n_head"));
    CHECK(tl_config_parse("{\"vocab_size\":10,\"norm\":\"mid\"}", &d, &err) != 0 && strstr(err.msg, "norm"));
    CHECK(tl_config_parse("[1,2", &d, &err) != 0 && strstr(err.msg, "JSON"));
    CHECK(tl_config_parse("{\"d_model\":64}", &d, &err) != 0 && strstr(err.msg, "vocab_size"));

    /* The seed document is the one docs/model-config.md shows (no Hugging Face field appears). */
    tl_config s0 = tl_config_seed(100070);
    js = tl_config_to_json(&s0);
    CHECK(js && !strcmp(js, "{\"vocab_size\":100070,\"context_length\":16,\"d_model\":64,\"n_layer\":8,\"n_head\":4,"
                            "\"d_ff\":256,\"norm\":\"post\",\"attn_scale\":\"sqrt\",\"pos\":\"sinusoidal\",\"act\":\"relu\","
                            "\"tie_embeddings\":false,\"dropout\":0.100000001,\"ln_eps\":9.99999975e-6}"));
    free(js);
    CHECK(tl_config_parse("{\"vocab_size\":10,\"n_kv_head\":2}", &d, &err) != 0 && strstr(err.msg, "n_kv_head"));

    /* Hugging Face families: every field round-trips exactly */
    tl_config h = tl_config_seed(49157);
    h.arch = TL_ARCH_LLAMA; h.d_model = 576; h.n_layer = 30; h.n_head = 9; h.n_kv_head = 3; h.head_dim = 64;
    h.d_ff = 1536; h.max_pos = 8192; h.context_length = 2048; h.tie_embeddings = 1; h.ln_eps = 1e-5f;
    h.qkv_bias = h.o_bias = 1; h.rope_theta = 500000.0f; h.rope_type = TL_ROPE_LLAMA3; h.rope_factor = 8;
    h.rope_low_freq = 1; h.rope_high_freq = 4; h.rope_orig_ctx = 8192; h.bos_id = 1;
    h.n_eos = 3; h.eos_ids[0] = 2; h.eos_ids[1] = 49156; h.eos_ids[2] = 0;
    CHECK(tl_config_validate(&h, &err) == 0);
    js = tl_config_to_json(&h);
    CHECK(js && strstr(js, "\"arch\":\"llama\"") == js + 1 && strstr(js, "\"eos_ids\":[2,49156,0]"));
    memset(&d, 0x5a, sizeof d);
    CHECK(js && tl_config_parse(js, &d, &err) == 0);
    CHECK(memcmp(&h, &d, sizeof h) == 0);
    free(js);
    tl_config g = tl_config_seed(50257);
    g.arch = TL_ARCH_GPT2; g.d_model = 768; g.n_layer = 12; g.n_head = 12; g.n_kv_head = 12; g.head_dim = 64;
    g.d_ff = 3072; g.max_pos = 1024; g.context_length = 1024; g.tie_embeddings = 1; g.rope_theta = 10000;
    g.bos_id = -1; g.n_eos = 1; g.eos_ids[0] = 50256;
    CHECK(tl_config_validate(&g, &err) == 0);
    js = tl_config_to_json(&g);
    CHECK(js && tl_config_parse(js, &d, &err) == 0 && memcmp(&g, &d, sizeof g) == 0);
    free(js);
    /* absent HF fields take transformers' defaults */
    CHECK(tl_config_parse("{\"arch\":\"qwen2\",\"vocab_size\":97,\"d_model\":32,\"n_head\":4,\"n_layer\":2,"
                          "\"d_ff\":64,\"context_length\":64,\"qkv_bias\":true}", &d, &err) == 0);
    CHECK(d.arch == TL_ARCH_QWEN2 && d.n_kv_head == 4 && d.head_dim == 8 && d.max_pos == 64 &&
          d.rope_theta == 10000.0f && d.bos_id == -1 && d.n_eos == 0);
    /* bounds (docs/architectures.md "Bounds") */
    tl_config b = h;
    b.n_kv_head = 4;
    CHECK(tl_config_validate(&b, &err) != 0 && strstr(err.msg, "n_kv_head"));
    b = h; b.head_dim = 63;
    CHECK(tl_config_validate(&b, &err) != 0 && strstr(err.msg, "head_dim"));
    b = h; b.d_model = (1 << 24) + 1;
    CHECK(tl_config_validate(&b, &err) != 0 && strstr(err.msg, "d_model"));
    b = h; b.n_layer = 4097;
    CHECK(tl_config_validate(&b, &err) != 0 && strstr(err.msg, "n_layer"));
    b = h; b.d_model = 1 << 24; b.d_ff = 1 << 24; b.vocab_size = 1 << 24; b.n_layer = 4096;
    CHECK(tl_config_validate(&b, &err) != 0 && strstr(err.msg, "parameters"));
    b = h; b.context_length = b.max_pos + 1;
    CHECK(tl_config_validate(&b, &err) != 0 && strstr(err.msg, "context_length"));
    b = h; b.eos_ids[0] = b.vocab_size;
    CHECK(tl_config_validate(&b, &err) != 0 && strstr(err.msg, "eos"));
    b = h; b.rope_high_freq = 0.5f;
    CHECK(tl_config_validate(&b, &err) != 0 && strstr(err.msg, "rope_high_freq"));
    b = g; b.tie_embeddings = 0; /* a GPT-2 head of its own (a quantized GGUF's output.weight) */
    CHECK(tl_config_validate(&b, &err) == 0);
    b = g; b.qkv_bias = 1;
    CHECK(tl_config_validate(&b, &err) != 0 && strstr(err.msg, "gpt2"));
    /* llama.cpp's GELU (GGUF GPT-2) survives the manifest round trip; the seed family has no such act */
    b = g; b.gelu = 2;
    js = tl_config_to_json(&b);
    CHECK(js && strstr(js, "\"act\":\"gelu_ggml\"") && tl_config_parse(js, &d, &err) == 0 && d.gelu == 2);
    free(js);
    CHECK(tl_config_parse("{\"vocab_size\":10,\"act\":\"gelu_ggml\"}", &d, &err) != 0 && strstr(err.msg, "act"));
    /* llama.cpp's rounding of activations for half weights and its element-wise arithmetic (GGUF
       files) round-trip, and only when set are they written: every other document stays as it
       was; the seed family refuses them */
    check_choice(&h, offsetof(tl_config, round_half_acts), "half_acts", "f32", "rounded", "bf16");
    check_choice(&h, offsetof(tl_config, ggml_numerics), "numerics", "pytorch", "ggml", "fast");
    CHECK(tl_config_parse("{\"arch\":\"falcon\",\"vocab_size\":10}", &d, &err) != 0 && strstr(err.msg, "arch"));
    CHECK(tl_config_parse("{\"arch\":\"llama\",\"vocab_size\":10,\"rope_type\":\"yarn\"}", &d, &err) != 0 &&
          strstr(err.msg, "rope_type"));
    return test_finish();
}
