/* teelm eval: a model's loss on the validation split of a text (docs/engine.md). */
#include <stdio.h>
#include <stdlib.h>

#include "cli/commands.h"
#include "cli/engine_cli.h"
#include "model/model.h"
#include "train/eval.h"

int cmd_eval(int argc, char **argv)
{
    const char *model = NULL, *data = NULL, *tokfile = NULL, *tokens = NULL;
    int iters = 20, batch = 4, json = 0, threads = 0, full = 0;
    int64_t seed = 1337;
    tl_open_opts oo = {0};
    const tl_opt opts[] = {
        TL_MODEL_FLAG(model),
        {"--data", TL_ARG_STR, &data, "TEXT", "text to evaluate on (tokenized with the model's tokenizer)", 0, 0},
        TL_TOKENIZER_FLAG(tokfile),
        {"--tokens", TL_ARG_STR, &tokens, "FILE", "instead of --data: little-endian uint32 token ids", 0, 0},
        {"--eval-iters", TL_ARG_INT, &iters, "N", "random batches to average (default 20)", 1, 1e9},
        {"--batch", TL_ARG_INT, &batch, "B", "sequences per batch (default 4)", 1, 65536},
        {"--seed", TL_ARG_I64, &seed, "S", "seed for the batch offsets (default 1337)", 0, 9.2e18},
        {"--full", TL_ARG_FLAG, &full, NULL, "instead of random batches: every non-overlapping window of the split", 0, 0},
        {"--json", TL_ARG_FLAG, &json, NULL, "print one JSON object", 0, 0},
        TL_THREADS_FLAG(threads),
        TL_OPEN_FLAGS(oo),
        {0},
    };
    const tl_cmdspec spec = {
        "eval", "--model PATH (--data TEXT | --tokens FILE) [options]",
        "Prints the model's validation loss: the data is split like in training (first 90% of the tokens train, "
        "the last 10% validate); --eval-iters batches of --batch windows of context_length tokens are drawn at "
        "random offsets (seeded by --seed) from the validation split, and the loss is the mean over batches of "
        "each batch's mean next-token cross-entropy (natural log), in eval mode (no dropout). With --full the "
        "loss is instead the mean over every non-overlapping window (offsets 0, T, 2T, ...) of the split.",
        opts, 0, 0, .missing = TL_MODEL_MISSING};
    TL_ARGS_PARSE_OR_RETURN(&spec, argc, argv, NULL, NULL);
    if (!!data == !!tokens)
        return tl_usage_error(&spec, "give exactly one of --data TEXT or --tokens FILE");
    int rc;
    if ((rc = tl_cli_check_open_flags(&spec, &oo)))
        return rc;
    tl_cli_set_threads(threads);

    tl_err err = {0};
    tl_checkpoint ck = {0};
    tl_tokenizer *tok = NULL;
    tl_dataset ds = {0};
    tl_model *m = NULL;
    int have_ck = 0;
    rc = 1;
    if (tl_model_open(model, &oo, &ck, &err))
        goto fail;
    have_ck = 1;
    if (data && !(tok = tl_model_tokenizer(&ck, tokfile, NULL, &err)))
        goto fail;
    if (tl_cli_load_data(data, tokens, tok, &ds, &err))
        goto fail;
    const int T = ck.cfg.context_length;
    if (tl_dataset_check(&ds, T, ck.cfg.vocab_size, data ? data : tokens, &err))
        goto fail;
    if (!(m = tl_model_new(&ck.cfg, batch, T, &err)))
        goto fail;
    tl_rng rng = tl_rng_seed((uint64_t)seed);
    double loss;
    long windows = 0;
    if (full ? tl_eval_loss_full(m, ck.params, &ds, 1, batch, T, &loss, &windows, &err)
             : tl_eval_loss(m, ck.params, &ds, 1, batch, T, iters, &rng, &loss, &err))
        goto fail;
    if (full && json)
        printf("{\"val_loss\":%.6f,\"split\":\"validation\",\"windows\":%ld,\"context_length\":%d,\"tokens\":%ld}\n",
               loss, windows, T, windows * T);
    else if (full)
        printf("val loss %.4f (all %ld windows of %d tokens of the last 10%% of the data)\n", loss, windows, T);
    else if (json)
        printf("{\"val_loss\":%.6f,\"split\":\"validation\",\"batches\":%d,\"batch\":%d,\"context_length\":%d,"
               "\"tokens\":%lld,\"seed\":%lld}\n",
               loss, iters, batch, T, (long long)iters * batch * T, (long long)seed);
    else
        printf("val loss %.4f (%d batches of %d x %d tokens from the last 10%% of the data)\n", loss, iters, batch, T);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "teelm eval: %s\n", err.msg);
done:
    tl_model_free(m);
    tl_dataset_free(&ds);
    tl_tokenizer_free(tok);
    if (have_ck)
        tl_checkpoint_free(&ck);
    return rc;
}
