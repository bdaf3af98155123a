/* Speed of the Hugging Face engine (model/lm.h) on real-model shapes with random weights made
 * here in memory (values do not change the work):
 *   lm_bench SHAPE DTYPE [THREADS [PROMPT [NEW [RUNS]]]]
 *   SHAPE: smollm135 (Llama d 576, 30 layers, 9 heads / 3 KV, FF 1536, vocab 49152, tied) or
 *          gpt2-124 (d 768, 12 layers, 12 heads, FF 3072, vocab 50257); DTYPE: F32, F16, BF16, and for
 *          smollm135 Q8_0, Q4_0, Q4_K (matrices; Q4_K where rows are whole 256-blocks, Q4_0 elsewhere).
 * Prints prompt tokens/s (one pass over PROMPT tokens, default 128), generated tokens/s (NEW,
 * default 64, one token per step with the cache), the weight bytes streamed per generated token
 * and the bandwidth that implies, and 4 sequences decoding together; best of RUNS (3).
 * Build: gcc -O2 -Isrc bench/lm_bench.c build/libteelm_core.a $(pkg-config ...) (bench/lm_bench.sh). */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/lm.h"
#include "model/params.h"
#include "tensor/quant.h"
#include "util/pool.h"
#include "bench_rand.h"

static double clk(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static uint16_t to16(float f, tl_dtype dt)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if (dt == TL_DT_BF16)
        return (uint16_t)(u >> 16);
    /* F16 of a small value: exponent rebias, mantissa truncated (random weights: fine) */
    const uint32_t s = (u >> 16) & 0x8000u;
    const int e = (int)((u >> 23) & 0xff) - 127 + 15;
    if (e <= 0)
        return (uint16_t)s;
    return (uint16_t)(s | (uint32_t)(e > 30 ? 30 : e) << 10 | ((u >> 13) & 0x3ffu));
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: lm_bench smollm135|gpt2-124 F32|F16|BF16 [THREADS [PROMPT [NEW [RUNS]]]]\n");
        return 2;
    }
    /* Q4_K: matrices whose rows are whole 256-blocks in Q4_K (random blocks with sane scales), the
       others (rows of 576 on smollm135) in Q4_0, as no K type fits them */
    const tl_dtype dt = !strcmp(argv[2], "BF16") ? TL_DT_BF16 : !strcmp(argv[2], "F16") ? TL_DT_F16
                      : !strcmp(argv[2], "Q8_0") ? TL_DT_Q8_0 : !strcmp(argv[2], "Q4_0") ? TL_DT_Q4_0
                      : !strcmp(argv[2], "Q4_K") ? TL_DT_Q4_K : TL_DT_F32;
    const int threads = argc > 3 ? atoi(argv[3]) : 2, P = argc > 4 ? atoi(argv[4]) : 128;
    const int NEW = argc > 5 ? atoi(argv[5]) : 64, RUNS = argc > 6 ? atoi(argv[6]) : 3;
    tl_set_threads(threads);
    tl_config c = tl_config_seed(0);
    c.bos_id = -1;
    c.rope_theta = 10000.0f;
    if (!strcmp(argv[1], "gpt2-124")) {
        c.arch = TL_ARCH_GPT2;
        c.vocab_size = 50257; c.d_model = 768; c.n_layer = 12; c.n_head = c.n_kv_head = 12; c.head_dim = 64;
        c.d_ff = 3072; c.max_pos = 1024; c.tie_embeddings = 1;
    } else {
        c.arch = TL_ARCH_LLAMA;
        c.vocab_size = 49152; c.d_model = 576; c.n_layer = 30; c.n_head = 9; c.n_kv_head = 3; c.head_dim = 64;
        c.d_ff = 1536; c.max_pos = 2048; c.tie_embeddings = 1; c.ln_eps = 1e-5f;
    }
    c.context_length = P + NEW + 1 > 256 ? P + NEW + 1 : 256;
    tl_err err = {0};
    if (tl_config_validate(&c, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const int n = tl_params_count(&c);
    tl_param *p = calloc((size_t)n, sizeof *p);
    tl_params_list(&c, p);
    tl_wref *w = calloc((size_t)n, sizeof *w);
    size_t bytes = 0;
    for (int i = 0; i < n; i++) {
        const int vec = p[i].ndim == 1;
        const int gain = vec && (strstr(p[i].name, "norm") || strstr(p[i].name, "ln_")) && strstr(p[i].name, "weight");
        /* matrices ~ U(-1, 1)·sqrt(3 / fan_in): activations stay O(1) through the layers */
        const double fan = p[i].ndim == 2 ? (double)(strstr(p[i].name, "wte") || strstr(p[i].name, "embed") ||
                                                     strstr(p[i].name, "wpe") ? p[i].shape[1] :
                                                     c.arch == TL_ARCH_GPT2 ? p[i].shape[0] : p[i].shape[1]) : 1.0;
        const float sc = vec ? 0.1f : (float)(1.7320508 / __builtin_sqrt(fan));
        if (tl_dtype_is_block(dt) && !vec && c.arch != TL_ARCH_GPT2) {
            const tl_dtype q = dt == TL_DT_Q4_K && p[i].shape[1] % 256 ? TL_DT_Q4_0 : dt;
            const size_t nb = tl_dtype_bytes(q, p[i].numel);
            unsigned char *qb = malloc(nb);
            if (q == TL_DT_Q4_K) {
                for (size_t k = 0; k < nb; k++)
                    qb[k] = (unsigned char)(frand() * 127.0f + 128.0f);
                for (size_t k = 0; k < nb; k += TL_Q4_K_BYTES) {
                    const uint16_t h = tl_q_f32_to_f16(sc / 40.0f), h2 = tl_q_f32_to_f16(sc / 4.0f);
                    memcpy(qb + k, &h, 2);
                    memcpy(qb + k + 2, &h2, 2);
                }
            } else {
                float *row = malloc((size_t)p[i].shape[1] * sizeof *row);
                for (int64_t r = 0; r < p[i].shape[0]; r++) {
                    for (int64_t k = 0; k < p[i].shape[1]; k++)
                        row[k] = sc * frand();
                    tl_q_quantize_weights(q, row, qb + (size_t)r * tl_dtype_bytes(q, (size_t)p[i].shape[1]),
                                          (size_t)p[i].shape[1]);
                }
                free(row);
            }
            w[i].data = qb;
            w[i].dtype = q;
            bytes += nb;
            continue;
        }
        const tl_dtype vdt = tl_dtype_is_block(dt) ? TL_DT_F32 : dt;
        void *buf = malloc(p[i].numel * tl_dtype_size(vdt));
        for (size_t k = 0; k < p[i].numel; k++) {
            const float v = (gain ? 1.0f : 0.0f) + sc * frand();
            if (vdt == TL_DT_F32)
                ((float *)buf)[k] = v;
            else
                ((uint16_t *)buf)[k] = to16(v, vdt);
        }
        w[i].data = buf;
        w[i].dtype = vdt;
        bytes += p[i].numel * tl_dtype_size(vdt);
    }
    tl_lm *m = tl_lm_new(&c, w, 4, &err);
    if (!m) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const int V = c.vocab_size;
    float *logits = malloc(4 * (size_t)V * sizeof *logits);
    uint32_t *seq[4];
    for (int s = 0; s < 4; s++) {
        seq[s] = malloc((size_t)(P + NEW) * sizeof **seq);
        for (int i = 0; i < P; i++)
            seq[s][i] = (uint32_t)((i * 7919 + 13 + s * 101) % V);
    }
    double best_p = 1e30, best_g = 1e30, best_b = 1e30, cpu_g = 0;
    for (int r = 0; r < RUNS; r++) {
        tl_lm_forget(m, 0);
        int len = P, slot = 0;
        const uint32_t *tp = seq[0];
        double t0 = now();
        if (tl_lm_step(m, &tp, &len, &slot, 1, logits, NULL, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        double t1 = now(), c1 = clk(CLOCK_PROCESS_CPUTIME_ID);
        for (int k = 0; k < NEW; k++) {
            uint32_t best = 0; /* greedy */
            for (int v = 1; v < V; v++)
                best = logits[v] > logits[best] ? (uint32_t)v : best;
            seq[0][len++] = best;
            tl_lm_step(m, &tp, &len, &slot, 1, logits, NULL, &err);
        }
        double t2 = now(), c2 = clk(CLOCK_PROCESS_CPUTIME_ID);
        if (t2 - t1 < best_g)
            cpu_g = c2 - c1;
        best_p = t1 - t0 < best_p ? t1 - t0 : best_p;
        best_g = t2 - t1 < best_g ? t2 - t1 : best_g;
        /* 4 sequences decoding together: prompts first (not timed), then NEW steps of 4 rows */
        const uint32_t *tk[4];
        int lens[4], slots[4];
        for (int s = 0; s < 4; s++) {
            tl_lm_forget(m, s);
            tk[s] = seq[s];
            lens[s] = P;
            slots[s] = s;
        }
        tl_lm_step(m, tk, lens, slots, 4, logits, NULL, &err);
        double t3 = now();
        for (int k = 0; k < NEW; k++) {
            for (int s = 0; s < 4; s++) {
                uint32_t best = 0;
                const float *lg = logits + (size_t)s * V;
                for (int v = 1; v < V; v++)
                    best = lg[v] > lg[best] ? (uint32_t)v : best;
                seq[s][lens[s]++] = best;
            }
            tl_lm_step(m, tk, lens, slots, 4, logits, NULL, &err);
        }
        double t4 = now();
        best_b = t4 - t3 < best_b ? t4 - t3 : best_b;
    }
    double load[3] = {0};
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) {
        if (fscanf(la, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
            load[0] = -1;
        fclose(la);
    }
    printf("{\"shape\":\"%s\",\"dtype\":\"%s\",\"threads\":%d,\"weight_bytes\":%zu,\"prompt\":%d,\"new\":%d,"
           "\"prompt_tokens_per_s\":%.1f,\"generated_tokens_per_s\":%.2f,\"decode_gb_per_s\":%.2f,"
           "\"batch4_generated_tokens_per_s\":%.2f,\"decode_cpu_s_per_token\":%.4f,\"load\":\"%.2f %.2f %.2f\"}\n",
           argv[1], argv[2], threads, bytes, P, NEW, P / best_p, NEW / best_g, (double)bytes * NEW / best_g / 1e9,
           4.0 * NEW / best_b, cpu_g / NEW, load[0], load[1], load[2]);
    tl_lm_free(m);
    for (int s = 0; s < 4; s++)
        free(seq[s]);
    free(logits);
    for (int i = 0; i < n; i++)
        free((void *)w[i].data);
    free(w);
    free(p);
    return 0;
}
