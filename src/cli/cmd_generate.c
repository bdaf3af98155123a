/* teelm generate: continues a prompt, streaming tokens as they are sampled (docs/engine.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "cli/engine_cli.h"
#include "cli/secure_start.h"
#include "model/generate.h"
#include "model/lm.h"
#include "util/secmem.h"

typedef struct {
    const tl_tokenizer *tok;
    int ids, n;
} stream;

static int emit(uint32_t id, void *user)
{
    stream *s = user;
    if (s->ids) {
        printf("%s%u", s->n++ ? " " : "", id);
    } else {
        size_t len = 0;
        const uint8_t *b = tl_tokenizer_token_bytes(s->tok, id, &len);
        if (b)
            fwrite(b, 1, len, stdout);
    }
    fflush(stdout);
    return 0;
}

/* "1,2,3" or "1 2 3" */
static int parse_ids(const char *s, uint32_t **ids, int *n)
{
    size_t cap = 16;
    *n = 0;
    *ids = malloc(cap * sizeof **ids);
    if (!*ids)
        return -1;
    while (*s) {
        while (*s == ',' || *s == ' ')
            s++;
        if (!*s)
            break;
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (end == s || errno || v > 0xffffffffUL || *s == '-')
            return -1;
        if ((size_t)*n == cap) {
            uint32_t *p = realloc(*ids, (cap *= 2) * sizeof **ids);
            if (!p)
                return -1;
            *ids = p;
        }
        (*ids)[(*n)++] = (uint32_t)v;
        s = end;
    }
    return *n > 0 ? 0 : -1;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

typedef struct {
    stream *st;
    double t_first; /* when the first token (the prompt pass) was done */
    int n;
} hf_stream;

static int hf_emit(uint32_t id, void *user)
{
    hf_stream *h = user;
    if (h->n++ == 0)
        h->t_first = now_s();
    return emit(id, h->st);
}

/* A Hugging Face model: one cache slot of ctx positions (default: just what the request needs, so
 * a model with a 128k-position limit does not reserve gigabytes for a short prompt). */
static int hf_generate(tl_checkpoint *ck, int ctx, const uint32_t *ids, int n_ids, int max_tokens,
                       const tl_sample_params *sp, uint64_t seed, stream *st, int *produced, int stats, tl_err *err)
{
    tl_config cfg = ck->cfg;
    long need = (long)n_ids + max_tokens;
    if (ctx > cfg.max_pos)
        return tl_errf(err, TL_EINVAL, "--ctx %d is longer than the model's max_position_embeddings %d", ctx,
                       cfg.max_pos);
    if (!ctx) {
        if (n_ids > cfg.max_pos)
            return tl_errf(err, TL_EINVAL, "the prompt of %d tokens is longer than the model's context of %d", n_ids,
                           cfg.max_pos);
        ctx = need < cfg.max_pos ? (int)need : cfg.max_pos;
        if (need > cfg.max_pos) /* generate up to the context's end */
            max_tokens = cfg.max_pos - n_ids;
    }
    cfg.context_length = ctx;
    if (max_tokens < 1)
        return tl_errf(err, TL_EINVAL, "the prompt of %d tokens leaves no room in the context of %d", n_ids, ctx);
    tl_lm *lm = tl_lm_new(&cfg, ck->w, 1, err);
    if (!lm)
        return err->code;
    hf_stream h = {.st = st};
    double t0 = now_s();
    int rc = tl_lm_generate(lm, 0, ids, n_ids, max_tokens, sp, seed, hf_emit, &h, NULL, produced, err);
    double t1 = now_s();
    tl_lm_free(lm);
    if (!rc && stats && *produced > 0) {
        double pp = h.t_first - t0, gen = t1 - h.t_first;
        fprintf(stderr, "prompt: %d tokens in %.1f ms: %.1f tokens/s\n", n_ids, pp * 1e3, pp > 0 ? n_ids / pp : 0.0);
        fprintf(stderr, "generated %d tokens in %.1f ms: %.1f tokens/s (after the first)\n", *produced, (t1 - t0) * 1e3,
                gen > 0 && *produced > 1 ? (*produced - 1) / gen : 0.0);
    }
    return rc;
}

int cmd_generate(int argc, char **argv)
{
    if (tl_cli_secure_start("generate"))
        return 1;
    const char *model = NULL, *prompt = "The", *tokfile = NULL, *prompt_ids = NULL;
    int max_tokens = 100, top_k = 0, threads = 0, print_ids = 0, stats = 0, ctx = 0;
    double temperature = 1.0, top_p = 1.0;
    int64_t seed = 1337;
    tl_open_opts oo = {0};
    const tl_opt opts[] = {
        TL_MODEL_FLAG(model),
        {"--prompt", TL_ARG_STR, &prompt, "TEXT", "text to continue (default \"The\")", 0, 0},
        {"--max-tokens", TL_ARG_INT, &max_tokens, "N", "tokens to generate (default 100)", 0, 1e9},
        {"--temperature", TL_ARG_DOUBLE, &temperature, "T", "sampling temperature; 0 = greedy (default 1)", 0, 1e6},
        {"--top-k", TL_ARG_INT, &top_k, "K", "sample among the K most likely tokens (default 0: all)", 0, 1 << 24},
        {"--top-p", TL_ARG_DOUBLE, &top_p, "P", "sample within the smallest set of probability mass P (default 1)", 1e-9, 1},
        {"--seed", TL_ARG_I64, &seed, "S", "sampling seed (default 1337); same seed, same text", 0, 9.2e18},
        TL_THREADS_FLAG(threads),
        TL_TOKENIZER_FLAG(tokfile),
        {"--prompt-ids", TL_ARG_STR, &prompt_ids, "LIST", "prompt as token ids (\"1,2,3\"); no tokenizer needed", 0, 0},
        {"--ids", TL_ARG_FLAG, &print_ids, NULL, "print token ids instead of text", 0, 0},
        {"--stats", TL_ARG_FLAG, &stats, NULL, "print the generation speed to stderr", 0, 0},
        {"--ctx", TL_ARG_INT, &ctx, "N",
         "Hugging Face models: positions the key/value cache holds (default: prompt + --max-tokens, at most the "
         "model's max_position_embeddings)", 1, 1 << 24},
        TL_OPEN_FLAGS(oo),
        {0},
    };
    const tl_cmdspec spec = {
        "generate", "--model PATH [--prompt TEXT] [--max-tokens N] [sampling options]",
        "Prints the prompt and its continuation as the tokens are sampled, from the softmax of the last "
        "position's logits divided by --temperature, after --top-k and --top-p filtering. Seed-family models "
        "look, like the prototype, at the last context_length tokens only (positions restart at 0 for every "
        "window). Hugging Face models keep every position in a key/value cache of --ctx positions and stop "
        "after an end-of-sequence token.",
        opts, 0, 0, .missing = TL_MODEL_MISSING};
    TL_ARGS_PARSE_OR_RETURN(&spec, argc, argv, NULL, NULL);
    int rc;
    if ((rc = tl_cli_check_open_flags(&spec, &oo)))
        return rc;
    uint32_t *ids = NULL;
    int n_ids = 0;
    if (prompt_ids && parse_ids(prompt_ids, &ids, &n_ids)) {
        free(ids);
        return tl_usage_error(&spec, "--prompt-ids needs a comma-separated list of token ids");
    }
    tl_cli_set_threads(threads);

    tl_err err = {0};
    tl_checkpoint ck = {0};
    tl_tokenizer *tok = NULL;
    int have_ck = 0;
    rc = 1;
    if (tl_model_open(model, &oo, &ck, &err))
        goto fail;
    have_ck = 1;
    if ((!prompt_ids || !print_ids) && !(tok = tl_model_tokenizer(&ck, tokfile, NULL, &err)))
        goto fail;
    if (!prompt_ids) {
        size_t n = 0;
        /* a Hugging Face tokenizer adds what its post-processor says (e.g. BOS), as HF's encode() */
        if (tl_tokenizer_encode_ex(tok, prompt, strlen(prompt), tl_tokenizer_is_hf(tok) ? TL_TOK_ADD_SPECIAL : TL_TOK_FORBID,
                                   &ids, &n, &err))
            goto fail;
        if (n == 0) {
            tl_errf(&err, TL_EINVAL, "the prompt is empty");
            goto fail;
        }
        n_ids = (int)n;
    }
    stream st = {.tok = tok, .ids = print_ids};
    if (print_ids) {
        for (int i = 0; i < n_ids; i++)
            emit(ids[i], &st);
    } else {
        char *text = NULL;
        size_t len = 0;
        if (tl_tokenizer_decode(tok, ids, (size_t)n_ids, &text, &len, &err))
            goto fail;
        fwrite(text, 1, len, stdout);
        tl_sec_free(text); /* the prompt */
    }
    fflush(stdout);
    tl_sample_params sp = {.temperature = (float)temperature, .top_k = top_k, .top_p = (float)top_p};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int produced = 0;
    if (tl_config_is_hf(&ck.cfg)) {
        if (hf_generate(&ck, ctx, ids, n_ids, max_tokens, &sp, (uint64_t)seed, &st, &produced, stats, &err)) {
            printf("\n");
            goto fail;
        }
        printf("\n");
        rc = 0;
        goto done;
    }
    if (ctx) {
        tl_errf(&err, TL_EINVAL, "--ctx applies to Hugging Face models only (this model crops to its context of %d)",
                ck.cfg.context_length);
        goto fail;
    }
    if (tl_generate(&ck.cfg, ck.params, ids, n_ids, max_tokens, &sp, (uint64_t)seed, emit, &st, NULL, &produced, &err)) {
        printf("\n");
        goto fail;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("\n");
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    if (stats)
        fprintf(stderr, "generated %d tokens in %.1f ms: %.1f tokens/s\n", produced, secs * 1e3,
                secs > 0 ? produced / secs : 0.0);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "teelm generate: %s\n", err.msg);
done:
    tl_sec_free(ids); /* the prompt as token ids */
    tl_tokenizer_free(tok);
    if (have_ck)
        tl_checkpoint_free(&ck);
    return rc;
}
