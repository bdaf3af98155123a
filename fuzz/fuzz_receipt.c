/* Fuzzes what `teelm receipt verify`, `teelm client` and `teelm proxy` parse from a server before
 * trusting it: a receipt in a whole response body, a server-sent event stream or alone
 * (tl_receipt_check, docs/receipts.md "Verifying"), and the RFC 8785 canonical form it is signed in
 * (tl_jcs). The anchor's key is the fixed Ed25519 key fuzz/make_receipt_seeds.py signs the seed
 * corpus with, so the seeds pass every check and mutations reach each refusal after the signature.
 * JCS must be idempotent: the canonical text of any parsed value parses back to an equal value
 * whose canonical text is the same bytes. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/receipt_check.h"
#include "util/jcs.h"

/* Public half of the seed key (RFC 8032 test vector 1's secret key, which make_receipt_seeds.py uses). */
static const uint8_t seed_key[32] = {
    0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a,
    0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a,
};

static void check_jcs(const uint8_t *data, size_t size)
{
    json_t *v = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    if (!v)
        return;
    size_t n1 = 0, n2 = 0;
    char *c1 = tl_jcs(v, &n1);
    if (c1) {
        json_t *w = json_loadb(c1, n1, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
        if (!w || !json_equal(v, w))
            abort();
        char *c2 = tl_jcs(w, &n2);
        if (!c2 || n1 != n2 || memcmp(c1, c2, n1) != 0)
            abort();
        free(c2);
        json_decref(w);
    }
    free(c1);
    json_decref(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tl_receipt_anchor a = {.receipt_key = seed_key};
    tl_receipt_result r;
    memset(&r, 0, sizeof r);
    (void)tl_receipt_check((const char *)data, size, &a, &r, NULL);
    free(r.receipt_json);
    check_jcs(data, size);
    return 0;
}
