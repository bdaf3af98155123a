/* formats/tensor_file.h, the one reader interface loading, import and inspect use: the format is
 * told from the first bytes, both backends list the same facts their parsers do (key, dtype, shape,
 * bytes), read raw and float32 data exactly, answer metadata, and refuse bad files with the parser's
 * message; a failed open leaves nothing to leak and close is safe. */
#include <stdint.h>
#include <string.h>

#include "formats/safetensors.h"
#include "formats/tensor_file.h"
#include "test.h"

int main(void)
{
    const char *tmp = test_tmpdir();
    char st[512], zip[512], none[512];
    snprintf(st, sizeof st, "%s/t.safetensors", tmp);
    snprintf(zip, sizeof zip, "%s/fake.pth", tmp);
    snprintf(none, sizeof none, "%s/absent.safetensors", tmp);
    tl_err err = {0};

    /* safetensors: an F32 matrix and an F16 vector, with metadata */
    const float a[6] = {1, -2, 3.5f, 0, 1e-3f, 42};
    const uint16_t h[3] = {0x3c00, 0xc000, 0x3800}; /* 1, -2, 0.5 */
    tl_st_out out[2] = {{"a", TL_DT_F32, 2, {2, 3}, a}, {"h", TL_DT_F16, 1, {3}, h}};
    const char *meta[2] = {"config", "{}"};
    CHECK(tl_st_write(st, out, 2, meta, 1, 0600, &err) == 0);
    CHECK(tl_tensor_file_detect(st) == TL_TF_SAFETENSORS);
    tl_tensor_file f;
    CHECK(tl_tensor_file_open(st, TL_TF_AUTO, &f, &err) == 0);
    CHECK(f.n == 2 && !strcmp(f.format, "safetensors") && f.thread_safe == 1);
    int ia = tl_tensor_file_find(&f, "a"), ih = tl_tensor_file_find(&f, "h");
    CHECK(ia >= 0 && ih >= 0 && tl_tensor_file_find(&f, "b") == -1);
    CHECK(f.t[ia].dtype == TL_DT_F32 && f.t[ia].ndim == 2 && f.t[ia].shape[0] == 2 && f.t[ia].shape[1] == 3);
    CHECK(f.t[ih].dtype == TL_DT_F16 && f.t[ih].numel == 3 && tl_tensor_file_bytes(&f, ih) == 6);
    CHECK(tl_tensor_file_meta(&f, "config") && !strcmp(tl_tensor_file_meta(&f, "config"), "{}"));
    CHECK(tl_tensor_file_meta(&f, "absent") == NULL);
    float got[6];
    uint16_t raw[3];
    CHECK(tl_tensor_file_read_f32(&f, ia, got, &err) == 0 && !memcmp(got, a, sizeof a));
    CHECK(tl_tensor_file_read_raw(&f, ih, raw, &err) == 0 && !memcmp(raw, h, sizeof h));
    CHECK(tl_tensor_file_read_f32(&f, ih, got, &err) == 0 && got[0] == 1 && got[1] == -2 && got[2] == 0.5f);
    tl_tensor_file_close(&f);
    tl_tensor_file_close(&f); /* twice: a closed file is a zeroed one */

    /* a zip header means .pth; a damaged one is refused by the .pth reader, naming the file */
    FILE *fp = fopen(zip, "wb");
    fwrite("PK\3\4garbage that is no zip archive", 1, 35, fp);
    fclose(fp);
    CHECK(tl_tensor_file_detect(zip) == TL_TF_PTH);
    CHECK(tl_tensor_file_open(zip, TL_TF_AUTO, &f, &err) != 0 && strstr(err.msg, zip) != NULL);
    CHECK(f.be == NULL && f.impl == NULL && f.t == NULL);
    tl_tensor_file_close(&f);
    /* forced to safetensors, the same bytes get the safetensors reader's message */
    CHECK(tl_tensor_file_open(zip, TL_TF_SAFETENSORS, &f, &err) != 0 && strstr(err.msg, "header") != NULL);
    CHECK(tl_tensor_file_open(none, TL_TF_AUTO, &f, &err) == TL_ENOTFOUND && strstr(err.msg, none) != NULL);
    CHECK(tl_tensor_file_open(st, (tl_tf_format)99, &f, &err) == TL_EINVAL);

    /* a real .pth (the prototype's block file): same interface, no metadata, not thread-safe */
    const char *pth = test_shared("fixtures/seed_pth/transformer_block_0.pth");
    if (pth) {
        CHECK(tl_tensor_file_detect(pth) == TL_TF_PTH);
        CHECK(tl_tensor_file_open(pth, TL_TF_AUTO, &f, &err) == 0);
        CHECK(!strcmp(f.format, "pth") && f.thread_safe == 0 && f.n > 0);
        CHECK(tl_tensor_file_meta(&f, "config") == NULL);
        int k = tl_tensor_file_find(&f, "feed_forward.linear1.weight");
        CHECK(k >= 0 && f.t[k].ndim == 2 && f.t[k].shape[0] == 256 && f.t[k].shape[1] == 64);
        if (k >= 0) {
            float *w = malloc(tl_tensor_file_bytes(&f, k));
            CHECK(w && tl_tensor_file_read_f32(&f, k, w, &err) == 0);
            free(w);
        }
        tl_tensor_file_close(&f);
    }
    test_sh("rm -rf %s", tmp);
    return test_finish();
}
