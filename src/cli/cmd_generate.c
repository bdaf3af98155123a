/* teelm generate: continues a prompt, streaming tokens as they are sampled (docs/engine.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "cli/engine_cli.h"
#include "model/generate.h"
#include "util/harden.h"
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

int cmd_generate(int argc, char **argv)
{
    tl_err herr = {0}; /* no core dumps, wiped frees: before anything is allocated */
    if (tl_secure_process_start(&herr)) {
        fprintf(stderr, "teelm generate: %s\n", herr.msg);
        return 1;
    }
    const char *model = NULL, *prompt = "The", *tokfile = NULL, *prompt_ids = NULL;
    int max_tokens = 100, top_k = 0, threads = 0, print_ids = 0, stats = 0;
    double temperature = 1.0, top_p = 1.0;
    int64_t seed = 1337;
    tl_open_opts oo = {0};
    const tl_opt opts[] = {
        {"--model", TL_ARG_STR, &model, "PATH", "model directory or file (plaintext or sealed)", 0, 0},
        {"--prompt", TL_ARG_STR, &prompt, "TEXT", "text to continue (default \"The\")", 0, 0},
        {"--max-tokens", TL_ARG_INT, &max_tokens, "N", "tokens to generate (default 100)", 0, 1e9},
        {"--temperature", TL_ARG_DOUBLE, &temperature, "T", "sampling temperature; 0 = greedy (default 1)", 0, 1e6},
        {"--top-k", TL_ARG_INT, &top_k, "K", "sample among the K most likely tokens (default 0: all)", 0, 1 << 24},
        {"--top-p", TL_ARG_DOUBLE, &top_p, "P", "sample within the smallest set of probability mass P (default 1)", 1e-9, 1},
        {"--seed", TL_ARG_I64, &seed, "S", "sampling seed (default 1337); same seed, same text", 0, 9.2e18},
        {"--threads", TL_ARG_INT, &threads, "N", "worker threads (default: all cores / OMP_NUM_THREADS)", 0, 1024},
        {"--tokenizer", TL_ARG_STR, &tokfile, "FILE", "tokenizer to use instead of the model's", 0, 0},
        {"--prompt-ids", TL_ARG_STR, &prompt_ids, "LIST", "prompt as token ids (\"1,2,3\"); no tokenizer needed", 0, 0},
        {"--ids", TL_ARG_FLAG, &print_ids, NULL, "print token ids instead of text", 0, 0},
        {"--stats", TL_ARG_FLAG, &stats, NULL, "print the generation speed to stderr", 0, 0},
        TL_OPEN_FLAGS(oo),
        {0},
    };
    const tl_cmdspec spec = {
        "generate", "--model PATH [--prompt TEXT] [--max-tokens N] [sampling options]",
        "Prints the prompt and its continuation as the tokens are sampled. Like the prototype, each step looks "
        "at the last context_length tokens only (positions restart at 0 for every window) and samples from the "
        "softmax of the last position's logits divided by --temperature, after --top-k and --top-p filtering.",
        opts, 0, 0};
    int rc = tl_args_parse(&spec, argc, argv, NULL, NULL);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (!model)
        return tl_usage_error(&spec, "--model PATH is required");
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
        if (tl_tokenizer_encode(tok, prompt, strlen(prompt), 0, &ids, &n, &err))
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
