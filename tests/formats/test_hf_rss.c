/* Peak memory of loading a Hugging Face model: the weights are mapped, not copied, so after
 * touching every byte of every weight the process's peak resident set (VmHWM) grows by about the
 * weights' size (file pages of the mappings) and its anonymous memory (heap: copies would land
 * there) hardly at all. A ~135 MB F32 Llama-shaped model and a sharded BF16 one.
 * Labelled nosan: a sanitizer build's shadow memory and quarantine hide the process's own use. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "formats/checkpoint.h"
#include "model/params.h"
#include "test.h"

static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl) && line[kl] == ':')
            v = strtol(line + kl + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static void measure(const char *dir, const char *what)
{
    long rss0 = status_kb("VmRSS"), anon0 = status_kb("RssAnon");
    tl_checkpoint ck;
    tl_err err = {0};
    int rc = tl_checkpoint_load_ex(dir, 0, &ck, &err);
    CHECKF(rc == 0, "%s: %s", what, err.msg);
    if (rc)
        return;
    int np = tl_params_count(&ck.cfg);
    tl_param *p = calloc((size_t)np, sizeof *p);
    tl_params_list(&ck.cfg, p);
    uint64_t bytes = 0, sum = 0;
    for (int i = 0; i < np; i++) { /* every page of every weight, as a forward pass reads them */
        size_t n = p[i].numel * tl_dtype_size(ck.w[i].dtype);
        const volatile uint8_t *b = ck.w[i].data;
        for (size_t j = 0; j < n; j += 512)
            sum += b[j];
        bytes += n;
    }
    long hwm = status_kb("VmHWM"), anon = status_kb("RssAnon"), file = status_kb("RssFile");
    double wmb = (double)bytes / 1048576.0;
    printf("%s: weights %.1f MiB; before load RSS %.1f MiB; after touching all: peak %.1f MiB (+%.1f), "
           "file-backed %.1f MiB, anonymous +%.1f MiB (checksum %llu)\n", what, wmb, rss0 / 1024.0, hwm / 1024.0,
           (hwm - rss0) / 1024.0, file / 1024.0, (anon - anon0) / 1024.0, (unsigned long long)sum);
    CHECKF((hwm - rss0) * 1024.0 <= (double)bytes * 1.10 + (4 << 20), "%s: peak grew by %.1f MiB for %.1f MiB of "
           "weights (limit +10%%)", what, (hwm - rss0) / 1024.0, wmb);
    CHECKF((double)file * 1024.0 >= (double)bytes * 0.95, "%s: the weights are not resident (%.1f MiB file-backed)",
           what, file / 1024.0);
    CHECKF((anon - anon0) * 1024.0 <= (double)bytes * 0.02 + (2 << 20), "%s: %.1f MiB of heap for %.1f MiB of "
           "mapped weights: a copy?", what, (anon - anon0) / 1024.0, wmb);
    free(p);
    tl_checkpoint_free(&ck);
}

int main(void)
{
    const char *py = test_python("torch"), *src = getenv("TEELM_SRC"); /* torch writes the model */
    const char *root = test_tmpdir();
    CHECK(test_sh("%s %s/tests/reference/make_hf_model.py %s/f32 --family llama --d 512 --layers 6 --heads 8 "
                  "--kv-heads 4 --ff 1376 --vocab 16000 --untied --seed 5 && "
                  "%s %s/tests/reference/make_hf_model.py %s/bf16 --family qwen2 --d 512 --layers 8 --heads 8 "
                  "--kv-heads 2 --ff 1376 --vocab 24000 --dtype BF16 --shards 3 --seed 6",
                  py, src, root, py, src, root) == 0);
    char d1[4096], d2[4096];
    snprintf(d1, sizeof d1, "%s/f32", root);
    snprintf(d2, sizeof d2, "%s/bf16", root);
    /* each in a fresh process: VmHWM is a process's peak over its life */
    const char *dirs[2] = {d1, d2}, *names[2] = {"llama F32", "qwen2 BF16, 3 shards"};
    for (int i = 0; i < 2; i++) {
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            measure(dirs[i], names[i]);
            fflush(NULL);
            _exit(test_failures ? 1 : 0);
        }
        int st = -1;
        CHECKF(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: failed", names[i]);
    }
    test_sh("rm -rf %s", root);
    return test_finish();
}
