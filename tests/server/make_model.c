/* Test/bench helper: writes a model directory with deterministic random weights (PyTorch's
 * default initialization, tl_model_init) and a copy of a tokenizer file:
 *   tl_make_model DIR TOKENIZER [VOCAB [SEED [N_LAYER]]]
 * (seed config otherwise: context 16, d_model 64, 4 heads). */
#include <stdio.h>
#include <stdlib.h>

#include "formats/checkpoint.h"
#include "model/model.h"
#include "util/io.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: tl_make_model DIR TOKENIZER [VOCAB [SEED [N_LAYER]]]\n");
        return 2;
    }
    int vocab = argc > 3 ? atoi(argv[3]) : 100070;
    uint64_t seed = argc > 4 ? strtoull(argv[4], NULL, 10) : 1337;
    tl_config cfg = tl_config_seed(vocab);
    if (argc > 5)
        cfg.n_layer = atoi(argv[5]);
    tl_err err = {0};
    tl_checkpoint ck;
    uint8_t *tok = NULL;
    size_t tok_len = 0;
    char path[4096];
    if (tl_config_validate(&cfg, &err) || tl_checkpoint_alloc(&ck, &cfg, 0, &err)) {
        fprintf(stderr, "tl_make_model: %s\n", err.msg);
        return 1;
    }
    tl_model_init(&cfg, ck.params, seed);
    int rc = tl_mkdirs(argv[1], 0755, &err) || tl_checkpoint_save(argv[1], &ck, TL_LAYOUT_FULL, &err) ||
             tl_read_file(argv[2], 64u << 20, &tok, &tok_len, &err) ||
             tl_path_join(path, sizeof path, argv[1], "tokenizer.tiktoken") ||
             tl_write_file_atomic(path, tok, tok_len, 0644, &err);
    if (rc)
        fprintf(stderr, "tl_make_model: %s\n", err.msg);
    free(tok);
    tl_checkpoint_free(&ck);
    return rc ? 1 : 0;
}
