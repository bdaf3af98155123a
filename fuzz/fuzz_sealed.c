/* Fuzzes the sealed-format parsers that see attacker bytes: the plaintext header (before
 * authentication) and, behind it, the descriptor and manifest (after decryption they are trusted
 * only as far as the owner is, but a parser must still never crash), plus a whole-file read with a
 * fixed key. Input: first byte selects the target. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/checkpoint.h"
#include "seal/format.h"
#include "seal/seal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    data++;
    size--;
    tl_err err = {0};
    if (sel % 3 == 0 && size >= TL_SEAL_HEADER_LEN) {
        tl_seal_header h;
        if (tl_seal_header_parse(data, &h, &err) == 0 && size >= TL_SEAL_HEADER_LEN + TL_SEAL_DESC_LEN) {
            tl_seal_desc d;
            tl_seal_desc_parse(data + TL_SEAL_HEADER_LEN, &h, &d, &err);
        }
    } else if (sel % 3 == 1) {
        tl_seal_manifest m;
        if (tl_seal_manifest_parse((const char *)data, size, 1 + sel / 3 % 4, &m, &err) == 0)
            tl_seal_manifest_free(&m);
    } else {
        char path[64];
        snprintf(path, sizeof path, "/tmp/fuzz-sealed-%d", (int)getpid());
        FILE *f = fopen(path, "wb");
        if (!f)
            return 0;
        fwrite(data, 1, size, f);
        fclose(f);
        tl_data_key key = {0};
        memcpy(key.key_id, "fuzz", 5);
        tl_checkpoint ck;
        if (tl_seal_read(path, &key, &ck, NULL, &err) == 0)
            tl_checkpoint_free(&ck);
        unlink(path);
    }
    return 0;
}
