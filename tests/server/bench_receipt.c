/* The CPU cost of one receipt on the scheduler thread (bench/receipts.sh): tl_receipt_issue for a
 * completion of 32 tokens' text (SHA-256 of it, the response document, canonicalization, Ed25519),
 * plus the request hash, averaged over many calls. */
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/ratls.h"
#include "server/receipt.h"
#include "tee/tee.h"

static int fake_evidence(tl_tee *t, const uint8_t rd[64], uint8_t **ev, size_t *len, tl_err *e)
{
    (void)t;
    (void)e;
    *ev = malloc(64);
    memcpy(*ev, rd, 64);
    *len = 64;
    return 0;
}

int main(void)
{
    tl_tee fake = {.name = "bench", .simulated = 1, .evidence = fake_evidence};
    static const char doc[] = "{\"model\":{\"kind\":\"plaintext\"},\"teelm\":\"serve\",\"version\":1}";
    tl_ratls ra;
    tl_err err = {0};
    if (tl_ratls_create(&fake, doc, sizeof doc - 1, 1, &ra, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    uint8_t w[32] = {0};
    tl_receipts *r = tl_receipts_new(&ra, "bench", w, time(NULL), &err);
    char text[200], body[120];
    memset(text, 'a', sizeof text - 1);
    text[sizeof text - 1] = 0;
    snprintf(body, sizeof body, "{\"prompt\":\"The sales team\",\"max_tokens\":32,\"temperature\":1.0,\"seed\":1}");
    tl_receipt_choice ch = {.text = text, .len = sizeof text - 1, .finish_reason = "length"};
    tl_receipt_sampling sp = {.temperature = 1, .top_p = 1, .max_tokens = 32, .n = 1, .logprobs = -1, .seed = 1};
    const int iters = 5000;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < iters; i++) {
        uint8_t h[32];
        SHA256((const unsigned char *)body, strlen(body), h);
        tl_receipt_in in = {.endpoint = "/v1/completions", .request_sha256 = h, .choices = &ch, .n = 1,
                            .prompt_tokens = 3, .completion_tokens = 32, .sampling = &sp};
        char *s = tl_receipt_issue(r, &in);
        free(s);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double us = ((double)(b.tv_sec - a.tv_sec) * 1e6 + (double)(b.tv_nsec - a.tv_nsec) / 1e3) / iters;
    printf("receipt: %.1f us per completion (request hash, response document, JCS, Ed25519 signature)\n", us);
    tl_receipts_free(r);
    tl_ratls_free(&ra);
    return 0;
}
