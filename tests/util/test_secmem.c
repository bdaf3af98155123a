/* util/secmem: every block freed through the wiping allocator is wiped before it returns to
 * malloc. The allocator's test observer sees each block while it is still owned, just before and
 * just after the wipe, so the checks read only memory the test may read (ASan-clean): a canary
 * written into a secret buffer is present before the wipe and gone after it.
 *  - tl_sec_free, tl_sec_realloc (the old block of a moving realloc);
 *  - jansson and libevent after tl_secmem_install (a parsed JSON body holding a data key);
 *  - tl_infer_free: the packed copies of the weights made at bind (and the rest of the workspace)
 *    pass through the wipe, and no block still holds a weight canary afterwards. */
#include <event2/buffer.h>
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "model/model.h"
#include "model/params.h"
#include "test.h"
#include "util/secmem.h"

static const char CANARY[] = "teelm-canary-7f3a9c";

typedef struct {
    const uint8_t *pat;
    size_t patlen;
    int seen_before, seen_after; /* blocks holding the pattern before / after the wipe */
    size_t blocks, bytes;        /* blocks (and bytes) that went through the wipe */
} watch;

static int holds(const uint8_t *p, size_t n, const uint8_t *pat, size_t m)
{
    for (size_t i = 0; i + m <= n; i++)
        if (p[i] == pat[0] && memcmp(p + i, pat, m) == 0)
            return 1;
    return 0;
}

static void observe(const void *p, size_t n, int wiped, void *user)
{
    watch *w = user;
    int has = holds(p, n, w->pat, w->patlen);
    if (!wiped) {
        w->seen_before += has;
        return;
    }
    w->seen_after += has;
    w->blocks++;
    w->bytes += n;
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= ((const uint8_t *)p)[i];
    if (acc)
        w->seen_after += 1000; /* not all zero: the wipe missed part of the block */
}

static void start(watch *w, const void *pat, size_t m)
{
    memset(w, 0, sizeof *w);
    w->pat = pat;
    w->patlen = m;
    tl_secmem_set_observer(observe, w);
}

static void test_free_and_realloc(void)
{
    watch w;
    start(&w, CANARY, strlen(CANARY));
    char *p = tl_sec_malloc(100);
    memcpy(p, CANARY, sizeof CANARY);
    tl_sec_free(p);
    CHECKF(w.seen_before == 1 && w.seen_after == 0 && w.blocks == 1 && w.bytes >= 100,
           "tl_sec_free: before %d after %d blocks %zu", w.seen_before, w.seen_after, w.blocks);

    start(&w, CANARY, strlen(CANARY));
    p = tl_sec_malloc(32);
    memcpy(p, CANARY, sizeof CANARY);
    p = tl_sec_realloc(p, 1 << 20); /* must move: the old block is wiped */
    CHECK(p && strcmp(p, CANARY) == 0);
    CHECKF(w.seen_before == 1 && w.seen_after == 0 && w.blocks == 1, "realloc: the old block was not wiped");
    tl_sec_free(p);
    CHECK(w.seen_before == 2 && w.seen_after == 0 && w.blocks == 2);
    tl_secmem_set_observer(NULL, NULL);
}

/* What the key broker and the server receive: request bodies parsed by jansson, socket data in
 * libevent buffers. */
static void test_libraries(void)
{
    int got = tl_secmem_install();
    CHECK((got & 3) == 3);
    watch w;
    start(&w, CANARY, strlen(CANARY));
    char body[128];
    snprintf(body, sizeof body, "{\"key_id\":\"m\",\"key\":\"%s\"}", CANARY);
    json_t *j = json_loads(body, 0, NULL);
    CHECK(j && strcmp(json_string_value(json_object_get(j, "key")), CANARY) == 0);
    json_decref(j);
    CHECKF(w.seen_before >= 1 && w.seen_after == 0, "jansson: %d blocks held the canary, %d after the wipe",
           w.seen_before, w.seen_after);

    start(&w, CANARY, strlen(CANARY));
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, CANARY, strlen(CANARY));
    evbuffer_free(b);
    CHECKF(w.seen_before >= 1 && w.seen_after == 0, "libevent: %d blocks held the canary, %d after the wipe",
           w.seen_before, w.seen_after);
    tl_secmem_set_observer(NULL, NULL);
}

static void test_infer_workspace(void)
{
    tl_config cfg = tl_config_seed(300);
    cfg.n_layer = 2;
    size_t A = tl_params_arena_floats(&cfg);
    float *params = aligned_alloc(64, (A * sizeof(float) + 63) / 64 * 64);
    /* every weight the same unusual value: any copy of the weights holds its bit pattern */
    const float canary = 1234.5678f;
    for (size_t i = 0; i < A; i++)
        params[i] = canary;
    uint8_t pat[16];
    for (int i = 0; i < 4; i++)
        memcpy(pat + 4 * i, &canary, 4);
    tl_err err = {0};
    tl_infer *w = tl_infer_new(&cfg, 2, &err);
    CHECK(w && tl_infer_bind(w, params, &err) == 0);
    watch wt;
    start(&wt, pat, sizeof pat);
    tl_infer_free(w);
    tl_secmem_set_observer(NULL, NULL);
    /* the packed linears and the packed output layer: two weight copies made at bind */
    CHECKF(wt.seen_before >= 2, "only %d wiped blocks of the workspace held the weights (packed copies freed "
           "without wiping?)", wt.seen_before);
    CHECKF(wt.seen_after == 0, "%d blocks still held weights (or were not all zero) after the wipe", wt.seen_after);
    CHECK(wt.blocks >= 10);
    free(params);
}

int main(void)
{
    test_free_and_realloc();
    test_libraries();
    test_infer_workspace();
    return test_finish();
}
