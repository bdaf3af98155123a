/* libFuzzer target for the VCEK/VLEK extension parser: the input as a DER certificate (all AMD
 * extensions parsed) and, byte 0 choosing the extension, the rest as one extension value.
 * Seeds: fuzz/corpus/fuzz_snp_certext (the fixture VCEKs/VLEK, both hwID encodings). */
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#include "tee/snp_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tl_snp_certext x;
    tl_err err = {0};
    const uint8_t *p = data;
    X509 *c = d2i_X509(NULL, &p, (long)size);
    if (c) {
        tl_snp_certext_parse(c, &x, &err);
        X509_free(c);
    }
    if (size >= 1)
        tl_snp_certext_value(data[0] % 7, data + 1, size - 1, &x, &err);
    return 0;
}
