/* teelm tokenize / detokenize / tokenizer train: thin wrappers over src/tokenizer (docs/tokenizer.md). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "formats/gguf_model.h"
#include "tokenizer/bpe_train.h"
#include "tokenizer/tokenizer.h"
#include "util/io.h"

#define MAX_INPUT ((size_t)1 << 31)

typedef struct {
    const char *tokenizer, *model, *input, *pattern;
    int allow_special, count, bench, repeat;
    uint8_t *text; /* what open_input read from input (the caller frees it) */
    size_t len;
} tok_flags;

/* The rows naming the tokenizer, alike in tokenize and detokenize (open_input reads them). */
#define TOKENIZER_SOURCE_FLAGS(f) \
    {"--tokenizer", TL_ARG_STR, &(f).tokenizer, "FILE", "a .tiktoken file or npm tiktoken encoders/NAME.json", 0, 0}, \
    {"--model", TL_ARG_STR, &(f).model, "DIR", "a model directory with tokenizer.tiktoken or tokenizer.json, or a GGUF file", 0, 0}

/* Parses the command line, loads the tokenizer and reads f->input into f->text: what tokenize and
 * detokenize share. Returns NULL with *rc the exit code (0 after --help) when any step ends the command. */
static tl_tokenizer *open_input(const tl_cmdspec *spec, int argc, char **argv, tok_flags *f, int *rc)
{
    *rc = tl_args_parse(spec, argc, argv, NULL, NULL);
    if (*rc) {
        if (*rc == 1)
            *rc = 0;
        return NULL;
    }
    tl_err err = {0};
    if (!!f->tokenizer == !!f->model) {
        *rc = tl_usage_error(spec, "give exactly one of --tokenizer FILE or --model DIR");
        return NULL;
    }
    tl_tokenizer *t = NULL;
    if (f->model && !tl_is_dir(f->model) && tl_gguf_is_file(f->model)) { /* the tokenizer inside a GGUF file */
        tl_gguf g;
        char *js = NULL;
        size_t js_len = 0;
        if (!tl_gguf_open(f->model, &g, &err) && !tl_gguf_tokenizer_json(&g, &js, &js_len, &err)) {
            if (!js)
                tl_errf(&err, TL_ENOTFOUND, "%s holds no tokenizer (tokenizer.ggml.model absent)", f->model);
            else
                t = tl_tokenizer_load_hf_mem((const uint8_t *)js, js_len, NULL, 0, f->model, &err);
        }
        free(js);
        tl_gguf_close(&g);
    } else
        t = f->tokenizer ? tl_tokenizer_load(f->tokenizer, f->pattern, &err)
                         : tl_tokenizer_load_model_dir(f->model, f->pattern, &err);
    if (!t) {
        fprintf(stderr, "teelm %s: %s\n", spec->cmd, err.msg);
        *rc = 1;
        return NULL;
    }
    if (tl_tokenizer_warning(t))
        fprintf(stderr, "teelm %s: warning: %s\n", spec->cmd, tl_tokenizer_warning(t));
    if (tl_read_file(f->input, MAX_INPUT, &f->text, &f->len, &err)) {
        fprintf(stderr, "teelm %s: %s\n", spec->cmd, err.msg);
        tl_tokenizer_free(t);
        *rc = 1;
        return NULL;
    }
    return t;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Writes ids space-separated on one line; decimal formatting by hand keeps big outputs fast. */
static int print_ids(const uint32_t *ids, size_t n)
{
    char buf[1 << 16];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char tmp[12];
        int l = 0;
        uint32_t v = ids[i];
        do
            tmp[l++] = (char)('0' + v % 10);
        while ((v /= 10));
        if (k + 13 > sizeof buf) {
            if (fwrite(buf, 1, k, stdout) != k)
                return -1;
            k = 0;
        }
        if (i)
            buf[k++] = ' ';
        while (l)
            buf[k++] = tmp[--l];
    }
    buf[k++] = '\n';
    return fwrite(buf, 1, k, stdout) == k && fflush(stdout) == 0 ? 0 : -1;
}

int cmd_tokenize(int argc, char **argv)
{
    tok_flags f = {0};
    f.input = "-";
    f.repeat = 5;
    const tl_opt opts[] = {
        TOKENIZER_SOURCE_FLAGS(f),
        {"--input", TL_ARG_STR, &f.input, "FILE", "text to encode (default - : standard input)", 0, 0},
        {"--pattern", TL_ARG_STR, &f.pattern, "NAME", "pre-tokenizer: cl100k, o200k, p50k, p50k_edit, r50k, gpt2", 0, 0},
        {"--allow-special", TL_ARG_FLAG, &f.allow_special, NULL, "encode special tokens such as <|endoftext|> (else an error)", 0, 0},
        {"--count", TL_ARG_FLAG, &f.count, NULL, "print only the number of tokens", 0, 0},
        {"--bench", TL_ARG_FLAG, &f.bench, NULL, "time encoding (excluding loading) and print MB/s instead of ids", 0, 0},
        {"--repeat", TL_ARG_INT, &f.repeat, "N", "with --bench: encode N times, report the fastest (default 5)", 1, 1000},
        {0},
    };
    const tl_cmdspec spec = {"tokenize", "--tokenizer FILE | --model DIR [--input FILE|-] [options]",
                             "Encodes UTF-8 text to token ids, printed on one line separated by spaces. Invalid "
                             "UTF-8 is replaced by U+FFFD first (as node's TextDecoder does).",
                             opts, 0, 0};
    int rc;
    tl_tokenizer *t = open_input(&spec, argc, argv, &f, &rc);
    if (!t)
        return rc;
    tl_err err = {0};
    uint32_t *ids = NULL;
    size_t n = 0;
    double best = 1e30;
    rc = 0;
    for (int r = 0; r < (f.bench ? f.repeat : 1) && !rc; r++) {
        free(ids);
        ids = NULL;
        double t0 = now();
        if (tl_tokenizer_encode(t, (const char *)f.text, f.len, f.allow_special, &ids, &n, &err)) {
            fprintf(stderr, "teelm tokenize: %s: %s\n", strcmp(f.input, "-") ? f.input : "<stdin>", err.msg);
            rc = 1;
        }
        double dt = now() - t0;
        if (dt < best)
            best = dt;
    }
    if (!rc) {
        if (f.bench)
            printf("bytes=%zu tokens=%zu seconds=%.6f mb_per_s=%.3f\n", f.len, n, best, best > 0 ? (double)f.len / 1e6 / best : 0.0);
        else if (f.count)
            printf("%zu\n", n);
        else if (print_ids(ids, n)) {
            fprintf(stderr, "teelm tokenize: writing the output failed\n");
            rc = 1;
        }
    }
    free(ids);
    free(f.text);
    tl_tokenizer_free(t);
    return rc;
}

int cmd_detokenize(int argc, char **argv)
{
    tok_flags f = {0};
    f.input = "-";
    const tl_opt opts[] = {
        TOKENIZER_SOURCE_FLAGS(f),
        {"--input", TL_ARG_STR, &f.input, "FILE", "token ids separated by white space (default - : standard input)", 0, 0},
        {"--pattern", TL_ARG_STR, &f.pattern, "NAME", "pre-tokenizer (only matters for identification)", 0, 0},
        {0},
    };
    const tl_cmdspec spec = {"detokenize", "--tokenizer FILE | --model DIR [--input FILE|-]",
                             "Decodes token ids (decimal, separated by spaces or newlines) and writes the bytes they "
                             "stand for to standard output, unchanged (not necessarily valid UTF-8).",
                             opts, 0, 0};
    int rc;
    tl_tokenizer *t = open_input(&spec, argc, argv, &f, &rc);
    if (!t)
        return rc;
    const char *in = strcmp(f.input, "-") ? f.input : "<stdin>";
    uint32_t *ids = malloc((f.len / 2 + 1) * sizeof *ids);
    size_t n = 0;
    rc = ids ? 0 : 1;
    for (size_t i = 0; i < f.len && !rc;) {
        if (isspace(f.text[i])) {
            i++;
            continue;
        }
        uint64_t v = 0;
        size_t j = i;
        while (j < f.len && f.text[j] >= '0' && f.text[j] <= '9' && v <= UINT32_MAX)
            v = v * 10 + (uint64_t)(f.text[j++] - '0');
        if (j == i || v > UINT32_MAX || (j < f.len && !isspace(f.text[j]))) {
            fprintf(stderr, "teelm detokenize: %s: item %zu is not a token id (a whole number)\n", in, n + 1);
            rc = 1;
            break;
        }
        ids[n++] = (uint32_t)v;
        i = j;
    }
    tl_err err = {0};
    char *out = NULL;
    size_t ol = 0;
    if (!rc && tl_tokenizer_decode(t, ids, n, &out, &ol, &err)) {
        fprintf(stderr, "teelm detokenize: %s: %s\n", in, err.msg);
        rc = 1;
    }
    if (!rc && (fwrite(out, 1, ol, stdout) != ol || fflush(stdout) != 0)) {
        fprintf(stderr, "teelm detokenize: writing the output failed\n");
        rc = 1;
    }
    free(out);
    free(ids);
    free(f.text);
    tl_tokenizer_free(t);
    return rc;
}

static int tokenizer_train(int argc, char **argv)
{
    int vocab = 0;
    int64_t min_count = 2;
    const char *pattern = "cl100k", *out = NULL;
    const tl_opt opts[] = {
        {"--vocab", TL_ARG_INT, &vocab, "N", "tokens wanted, the 256 single bytes included (257..16777216)", 257, 16777216},
        {"--pattern", TL_ARG_STR, &pattern, "NAME", "pre-tokenizer: cl100k (default), o200k, p50k, r50k, gpt2", 0, 0},
        {"--out", TL_ARG_STR, &out, "FILE", "the .tiktoken file to write", 0, 0},
        {"--min-count", TL_ARG_I64, &min_count, "N", "stop when the best pair occurs fewer times (default 2)", 1, 1e18},
        {0},
    };
    const char *pos[64];
    int npos = 0;
    const tl_cmdspec spec = {"tokenizer train", "--vocab N --out FILE [--pattern NAME] CORPUS...",
                             "Trains a byte-level BPE on the corpus files with a tiktoken pre-tokenizer and writes a "
                             ".tiktoken file (256 byte tokens, then merges in order). Load it with --pattern NAME "
                             "when NAME is not cl100k.",
                             opts, 1, 64};
    TL_ARGS_PARSE_OR_RETURN(&spec, argc, argv, pos, &npos);
    if (!vocab)
        return tl_usage_error(&spec, "--vocab N is required");
    if (!out)
        return tl_usage_error(&spec, "--out FILE is required");
    tl_bpe_train_opts o = {(uint32_t)vocab, pattern, (uint64_t)min_count};
    tl_bpe_train_stats st = {0};
    tl_err err = {0};
    if (tl_bpe_train_files(pos, (size_t)npos, &o, out, &st, &err)) {
        fprintf(stderr, "teelm tokenizer train: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr,
            "teelm tokenizer train: wrote %s: %u tokens (%u merges, %u reusing existing bytes) from %llu bytes, "
            "%llu pieces (%llu distinct) with the %s pattern in %.2f s\n",
            out, st.vocab, st.vocab - 256, st.reused, (unsigned long long)st.bytes, (unsigned long long)st.pieces,
            (unsigned long long)st.distinct_pieces, pattern, st.seconds);
    if (st.vocab < (uint32_t)vocab)
        fprintf(stderr, "teelm tokenizer train: stopped at %u tokens: no pair occurs %lld or more times\n", st.vocab,
                (long long)min_count);
    if (strcmp(pattern, "cl100k") != 0 && strcmp(pattern, "cl100k_base") != 0)
        fprintf(stderr, "teelm tokenizer train: load it with --pattern %s\n", pattern);
    return 0;
}

int cmd_tokenizer(int argc, char **argv)
{
    if (argc > 0 && strcmp(argv[0], "train") == 0)
        return tokenizer_train(argc - 1, argv + 1);
    static const tl_opt opts[] = {{0}};
    static const tl_cmdspec spec = {"tokenizer", "train --vocab N --out FILE [--pattern NAME] CORPUS...",
                                    "Tokenizer tools. 'teelm tokenizer train --help' describes training.", opts, 0, 1};
    const char *pos[1];
    int npos = 0;
    TL_ARGS_PARSE_OR_RETURN(&spec, argc, argv, pos, &npos);
    if (npos == 0)
        return tl_usage_error(&spec, "missing subcommand (train)");
    return tl_usage_error(&spec, "unknown subcommand '%s' (known: train)", pos[0]);
}
