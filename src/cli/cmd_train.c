/* teelm train: trains a model from scratch or resumes one (docs/engine.md). */
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/engine_cli.h"
#include "formats/checkpoint.h"
#include "model/model.h"
#include "train/loop.h"
#include "util/io.h"

static volatile sig_atomic_t g_stop;
static void on_sigint(int sig)
{
    (void)sig;
    g_stop = 1;
}

typedef struct {
    int tty;
    double last_print, ema_step, total;
    int64_t done;
    int tokens_per_step;
} progress;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void on_eval(void *user, int64_t step, double train_loss, double val_loss)
{
    progress *p = user;
    if (p->tty)
        fprintf(stderr, "\r\033[K");
    printf("step %lld: train loss %.4f, val loss %.4f\n", (long long)step, train_loss, val_loss);
    fflush(stdout);
}

static void on_step(void *user, int64_t step, int64_t steps, double loss, double secs)
{
    progress *p = user;
    p->ema_step = p->ema_step > 0 ? 0.9 * p->ema_step + 0.1 * secs : secs;
    p->total += secs;
    p->done++;
    double t = now();
    if (step < steps && t - p->last_print < (p->tty ? 0.25 : 10.0))
        return;
    p->last_print = t;
    double eta = (double)(steps - step) * p->ema_step;
    fprintf(stderr, "%sstep %lld/%lld  loss %.4f  %.0f tokens/s  %.1f ms/step  ETA %d:%02d%s",
            p->tty ? "\r\033[K" : "", (long long)step, (long long)steps, loss, p->tokens_per_step / p->ema_step,
            p->ema_step * 1e3, (int)(eta / 60), (int)fmod(eta, 60), p->tty ? "" : "\n");
    if (p->tty && step == steps)
        fputc('\n', stderr);
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Is src already the file of that name inside dir (resuming in place)? */
static int same_file_in_dir(const char *src, const char *dir)
{
    char in_dir[4096], a[PATH_MAX], b[PATH_MAX];
    if (!src || tl_path_join(in_dir, sizeof in_dir, dir, base_name(src)))
        return 0;
    return realpath(src, a) && realpath(in_dir, b) && strcmp(a, b) == 0;
}

/* Puts the tokenizer the model was trained with beside its weights (as tokenizer.json when it is
 * npm tiktoken's JSON form, tokenizer.tiktoken otherwise). */
static int copy_tokenizer(const char *out, const char *src_path, const uint8_t *mem, size_t mem_len, tl_err *err)
{
    uint8_t *data = NULL;
    size_t len = mem_len;
    const char *name = TL_TOKENIZER_TIKTOKEN;
    if (src_path) {
        size_t n = strlen(src_path);
        if (n >= 5 && strcmp(src_path + n - 5, ".json") == 0)
            name = TL_TOKENIZER_JSON;
        if (tl_read_file(src_path, 256u << 20, &data, &len, err))
            return err->code;
    } else if (mem && len > 0 && mem[0] == '{') {
        name = TL_TOKENIZER_JSON;
    }
    char dst[4096];
    int rc = 0;
    if (tl_path_join(dst, sizeof dst, out, name))
        rc = tl_errf(err, TL_EINVAL, "%s: path too long", out);
    else
        rc = tl_write_file_atomic(dst, data ? data : mem, len, 0644, err);
    free(data);
    /* a stale tokenizer of the other form would be ambiguous */
    if (!rc) {
        char other[4096];
        if (!tl_path_join(other, sizeof other, out, strcmp(name, TL_TOKENIZER_JSON) ? TL_TOKENIZER_JSON : TL_TOKENIZER_TIKTOKEN))
            unlink(other);
    }
    return rc;
}

int cmd_train(int argc, char **argv)
{
    const char *data = NULL, *tokfile = NULL, *tokens = NULL, *out = NULL, *config = NULL, *resume = NULL;
    int64_t steps = 5000, seed = 1337;
    int batch = 4, eval_interval = 50, eval_iters = 20, threads = 0;
    double lr = 1e-3;
    tl_open_opts oo = {0};
    const tl_opt opts[] = {
        {"--data", TL_ARG_STR, &data, "TEXT", "training text (tokenized with --tokenizer)", 0, 0},
        {"--tokenizer", TL_ARG_STR, &tokfile, "FILE", ".tiktoken or npm tiktoken JSON file (copied into --out)", 0, 0},
        {"--tokens", TL_ARG_STR, &tokens, "FILE", "instead of --data: little-endian uint32 token ids", 0, 0},
        {"--out", TL_ARG_STR, &out, "DIR", "model directory to write (default with --resume: the same)", 0, 0},
        {"--config", TL_ARG_STR, &config, "seed|FILE", "model config JSON (default seed: the prototype's model, "
         "vocab_size = largest id in the data + 1)", 0, 0},
        {"--steps", TL_ARG_I64, &steps, "N", "train until N optimizer steps in total (default 5000)", 0, 1e12},
        {"--batch", TL_ARG_INT, &batch, "B", "sequences per batch (default 4)", 1, 65536},
        {"--lr", TL_ARG_DOUBLE, &lr, "LR", "AdamW learning rate (default 1e-3)", 1e-12, 1e6},
        {"--eval-interval", TL_ARG_INT, &eval_interval, "N", "estimate losses every N steps (default 50; 0: never)", 0, 1e9},
        {"--eval-iters", TL_ARG_INT, &eval_iters, "N", "batches per loss estimate (default 20)", 1, 1e9},
        {"--seed", TL_ARG_I64, &seed, "S", "initialization and training randomness (default 1337)", 0, 9.2e18},
        TL_THREADS_FLAG(threads),
        {"--resume", TL_ARG_STR, &resume, "DIR", "continue a checkpoint written by train (weights + optimizer state)", 0, 0},
        TL_OPEN_FLAGS(oo),
        {0},
    };
    const tl_cmdspec spec = {
        "train", "(--data TEXT --tokenizer FILE | --tokens FILE) --out DIR [options]",
        "Trains a GPT model with AdamW (PyTorch defaults: betas 0.9/0.999, eps 1e-8, weight decay 0.01) on the "
        "first 90% of the tokens, estimating the loss on both splits every --eval-interval steps (mean over "
        "--eval-iters random batches, no dropout) and printing `step N: train loss X, val loss Y`. DIR receives "
        "the weights (model.safetensors and the per-layer split files), the optimizer state for --resume and the "
        "tokenizer. Ctrl-C stops after the current step and saves a checkpoint that --resume continues.",
        opts, 0, 0};
    TL_ARGS_PARSE_OR_RETURN(&spec, argc, argv, NULL, NULL);
    if (!!data == !!tokens)
        return tl_usage_error(&spec, "give exactly one of --data TEXT or --tokens FILE");
    if (data && !tokfile && !resume)
        return tl_usage_error(&spec, "--data needs --tokenizer FILE");
    if (!out && !resume)
        return tl_usage_error(&spec, "--out DIR is required");
    if (resume && config)
        return tl_usage_error(&spec, "--config cannot change a resumed model (its config is in the checkpoint)");
    int rc;
    if ((rc = tl_cli_check_open_flags(&spec, &oo)))
        return rc;
    if (!out)
        out = resume;
    tl_cli_set_threads(threads);

    tl_err err = {0};
    tl_checkpoint ck = {0};
    tl_tokenizer *tok = NULL;
    tl_dataset ds = {0};
    int have_ck = 0;
    rc = 1;
    if (resume) {
        oo.with_optimizer = 1;
        if (tl_model_open(resume, &oo, &ck, &err))
            goto fail;
        have_ck = 1;
        if (!ck.adam_m || !ck.adam_v) {
            tl_errf(&err, TL_EINVAL, "%s has no optimizer state (%s), so it cannot be resumed", resume, TL_FILE_OPTIMIZER);
            goto fail;
        }
    }
    if (data) {
        tok = tokfile ? tl_tokenizer_load(tokfile, NULL, &err) : tl_model_tokenizer(&ck, NULL, NULL, &err);
        if (!tok)
            goto fail;
    }
    if (tl_cli_load_data(data, tokens, tok, &ds, &err))
        goto fail;
    if (!resume) {
        tl_config cfg;
        if (tl_config_load(config ? config : "seed", &cfg, &err))
            goto fail;
        if (!config || strcmp(config, "seed") == 0)
            cfg.vocab_size = (int)(ds.max_id < (1u << 24) ? ds.max_id + 1 : 1u << 24 | 1);
        if (tl_config_validate(&cfg, &err) || tl_checkpoint_alloc(&ck, &cfg, 1, &err))
            goto fail;
        have_ck = 1;
        tl_model_init(&cfg, ck.params, (uint64_t)seed);
        ck.step = 0;
        ck.rng_state = (uint64_t)seed ^ 0x7465656c6d5f7472ULL; /* a stream apart from the init's */
    }
    if (tl_dataset_check(&ds, ck.cfg.context_length, ck.cfg.vocab_size, data ? data : tokens, &err))
        goto fail;
    if (tl_mkdirs(out, 0755, &err))
        goto fail;
    {
        const char *src = tokfile ? tokfile : ck.tokenizer_path[0] ? ck.tokenizer_path : NULL;
        if ((src || ck.tokenizer_data) && !same_file_in_dir(src, out))
            if (copy_tokenizer(out, src, src ? NULL : ck.tokenizer_data, ck.tokenizer_len, &err))
                goto fail;
    }

    progress pr = {.tty = isatty(2), .last_print = now(), .tokens_per_step = batch * ck.cfg.context_length};
    tl_train_opts to = {
        .steps = steps, .batch = batch, .lr = lr, .eval_interval = eval_interval, .eval_iters = eval_iters,
        .eval_seed = (uint64_t)seed ^ 0x6576616c5f736565ULL, .stop = &g_stop, .on_eval = on_eval, .on_step = on_step,
        .user = &pr,
    };
    struct sigaction sa = {0}, old_sa;
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_sa);
    int stopped = 0;
    int trc = tl_train_run(&ck, &ds, &to, &stopped, &err);
    sigaction(SIGINT, &old_sa, NULL);
    if (trc)
        goto fail;
    if (tl_checkpoint_save(out, &ck, TL_LAYOUT_FULL | TL_LAYOUT_SPLIT, &err))
        goto fail;
    if (stopped)
        fprintf(stderr, "\ninterrupted at step %lld: checkpoint saved to %s (continue with --resume %s)\n",
                (long long)ck.step, out, out);
    else
        fprintf(stderr, "saved %s (step %lld)\n", out, (long long)ck.step);
    if (pr.done > 0)
        fprintf(stderr, "trained %lld steps in %.1f s: %.2f ms/step, %.0f tokens/s\n", (long long)pr.done, pr.total,
                pr.total * 1e3 / (double)pr.done, (double)pr.done * pr.tokens_per_step / pr.total);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "teelm train: %s\n", err.msg);
done:
    tl_dataset_free(&ds);
    tl_tokenizer_free(tok);
    if (have_ck)
        tl_checkpoint_free(&ck);
    return rc;
}
