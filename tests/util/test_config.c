/* Config JSON and the parameter table: the seed model's parameter count must equal the one the
 * PyTorch prototype reports (computed independently here from docs/model-config.md). */
#include <stdlib.h>
#include <string.h>

#include "model/config.h"
#include "model/params.h"
#include "test.h"

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
    return test_finish();
}
