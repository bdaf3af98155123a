/* Sealed format: round trips (full and split, several chunk sizes) are bit-identical, and every
 * attack on the files is refused with a message naming what was refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "seal/format.h"
#include "seal/seal.h"
#include "seal_fixture.h"
#include "test.h"
#include "util/io.h"

static const char *tmp;
static uint8_t tok[5000];

static void spit(const char *path, const uint8_t *d, size_t len)
{
    tl_err e = {0};
    if (tl_write_file_atomic(path, d, len, 0644, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        exit(1);
    }
}

static char *pathf(const char *fmt, const char *a)
{
    static char buf[8][4096];
    static int slot;
    char *b = buf[slot++ % 8];
    snprintf(b, 4096, "%s/", tmp);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(b + strlen(b), 4096 - strlen(b), fmt, a);
#pragma GCC diagnostic pop
    return b;
}

/* Loads path with key; expects success and the same model as ck. */
static void expect_same(const char *path, const tl_data_key *key, const tl_checkpoint *ck, const char *what)
{
    tl_checkpoint got;
    tl_err e = {0};
    tl_seal_info info;
    int rc = tl_seal_read(path, key, &got, &info, &e);
    CHECKF(rc == 0, "%s: %s", what, e.msg);
    if (rc)
        return;
    CHECKF(memcmp(&got.cfg, &ck->cfg, sizeof got.cfg) == 0, "%s: config differs", what);
    CHECKF(memcmp(got.params, ck->params, fx_arena_bytes(ck)) == 0, "%s: arena differs", what);
    CHECKF(got.tokenizer_len == sizeof tok && got.tokenizer_data && memcmp(got.tokenizer_data, tok, sizeof tok) == 0,
           "%s: tokenizer differs", what);
    CHECK(strcmp(info.tokenizer_name, "tokenizer.tiktoken") == 0);
    CHECK(strcmp(info.key_id, key->key_id) == 0);
    tl_checkpoint_free(&got);
}

static int seal(const tl_checkpoint *ck, const tl_data_key *key, int split, uint32_t cs, const char *out)
{
    tl_err e = {0};
    tl_seal_opts o = {.split = split, .chunk_size = cs, .tokenizer = tok, .tokenizer_len = sizeof tok,
                      .tokenizer_name = "tokenizer.tiktoken"};
    int rc = tl_seal_write(ck, key, &o, out, &e);
    CHECKF(rc == 0, "seal %s: %s", out, e.msg);
    return rc;
}

static int contains(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(hay + i, needle, m) == 0)
            return 1;
    return 0;
}

static void test_roundtrips(const tl_checkpoint *ck, const tl_data_key *key)
{
    static const uint32_t sizes[] = {4096, 8192, 65536, TL_SEAL_CHUNK_DEFAULT};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "full, chunk %u", sizes[i]);
        const char *p = pathf("rt-%s.sealed", what + 12);
        if (seal(ck, key, 0, sizes[i], p) == 0)
            expect_same(p, key, ck, what);
        snprintf(what, sizeof what, "split, chunk %u", sizes[i]);
        p = pathf("rt-split-%s", what + 13);
        if (seal(ck, key, 1, sizes[i], p) == 0)
            expect_same(p, key, ck, what);
        /* the directory and its index file both open */
        char idx[4096];
        snprintf(idx, sizeof idx, "%s/model.sealed", p);
        expect_same(idx, key, ck, "split via index file");
    }
    /* Size hiding: the file is the header plus whole chunks; nothing in clear. */
    const char *p = pathf("%s", "plain-check.sealed");
    seal(ck, key, 0, 4096, p);
    size_t n;
    uint8_t *d = fx_slurp(p, &n);
    CHECK((n - TL_SEAL_HEADER_LEN) % (4096 + 16) == 0);
    CHECK(!contains(d, n, (const uint8_t *)"vocab_size", 10));
    CHECK(!contains(d, n, (const uint8_t *)"token_embedding", 15));
    CHECK(!contains(d, n, tok + 100, 16));
    CHECK(!contains(d, n, (const uint8_t *)ck->params + 256, 16));
    /* Sealing twice gives a different model id and different ciphertext (fresh nonces per model). */
    const char *p2 = pathf("%s", "plain-check2.sealed");
    seal(ck, key, 0, 4096, p2);
    size_t n2;
    uint8_t *d2 = fx_slurp(p2, &n2);
    CHECK(n2 == n && memcmp(d + 16, d2 + 16, 32) != 0 && memcmp(d + 300, d2 + 300, 64) != 0);
    free(d);
    free(d2);
}

static void test_header_bits(const tl_checkpoint *ck, const tl_data_key *key, int split)
{
    const char *p = pathf(split ? "hdr-split-%s" : "hdr-full%s.sealed", "");
    seal(ck, key, split, 4096, p);
    const char *victim = split ? pathf("hdr-split-/%s", "part-002.sealed") : p;
    size_t n;
    uint8_t *orig = fx_slurp(victim, &n);
    int refused = 0, named = 0;
    for (int bit = 0; bit < TL_SEAL_HEADER_LEN * 8; bit++) {
        orig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        spit(victim, orig, n);
        orig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        tl_checkpoint got;
        tl_err e = {0};
        int rc = tl_seal_read(p, key, &got, NULL, &e);
        refused += rc != 0;
        named += rc != 0 && strstr(e.msg, "sealed header") != NULL;
        if (rc == 0) {
            fprintf(stderr, "header bit %d flip accepted\n", bit);
            tl_checkpoint_free(&got);
        } else if (!strstr(e.msg, "sealed header")) {
            fprintf(stderr, "header bit %d: message '%s'\n", bit, e.msg);
        }
    }
    CHECKF(refused == TL_SEAL_HEADER_LEN * 8, "%d of %d header bit flips refused", refused, TL_SEAL_HEADER_LEN * 8);
    CHECKF(named == refused, "%d of %d refusals name the header", named, refused);
    spit(victim, orig, n);
    expect_same(p, key, ck, "restored after header flips");
    free(orig);
}

static void test_chunks(const tl_checkpoint *ck, const tl_data_key *key)
{
    const char *p = pathf("%s", "chunks.sealed");
    seal(ck, key, 0, 4096, p);
    size_t n;
    uint8_t *orig = fx_slurp(p, &n);
    const size_t cs = 4096, rec = cs + 16;
    size_t nchunks = (n - TL_SEAL_HEADER_LEN) / rec;
    CHECKF(nchunks >= 4, "want several chunks, got %zu", nchunks);
    uint64_t rs = 99;
    /* one flipped bit in each chunk: ciphertext start, middle, end, and the tag */
    for (size_t c = 0; c < nchunks; c++) {
        size_t offs[4] = {0, fx_rand(&rs) % cs, cs - 1, cs + fx_rand(&rs) % 16};
        for (int k = 0; k < 4; k++) {
            size_t at = TL_SEAL_HEADER_LEN + c * rec + offs[k];
            orig[at] ^= 0x10;
            spit(p, orig, n);
            orig[at] ^= 0x10;
            char want[128], what[128];
            snprintf(want, sizeof want, "chunk %zu of %zu: authentication failed", c, nchunks);
            snprintf(what, sizeof what, "flip in chunk %zu at %zu", c, offs[k]);
            fx_expect_refused(p, key, want, what);
        }
    }
    /* two chunks swapped */
    uint8_t *sw = malloc(n);
    memcpy(sw, orig, n);
    memcpy(sw + TL_SEAL_HEADER_LEN + 1 * rec, orig + TL_SEAL_HEADER_LEN + 2 * rec, rec);
    memcpy(sw + TL_SEAL_HEADER_LEN + 2 * rec, orig + TL_SEAL_HEADER_LEN + 1 * rec, rec);
    spit(p, sw, n);
    fx_expect_refused(p, key, "authentication failed", "chunks 1 and 2 swapped");
    /* a chunk duplicated over another */
    memcpy(sw, orig, n);
    memcpy(sw + TL_SEAL_HEADER_LEN + 3 * rec, orig + TL_SEAL_HEADER_LEN + 2 * rec, rec);
    spit(p, sw, n);
    fx_expect_refused(p, key, "chunk 3 of", "chunk 2 copied over chunk 3");
    /* truncations: 1 byte, one tag, one whole chunk, everything but the header */
    spit(p, orig, n - 1);
    fx_expect_refused(p, key, "truncated", "truncated by 1 byte");
    spit(p, orig, n - 16);
    fx_expect_refused(p, key, "truncated", "truncated by 16 bytes");
    spit(p, orig, n - rec);
    fx_expect_refused(p, key, "truncated", "truncated by one chunk");
    spit(p, orig, TL_SEAL_HEADER_LEN);
    fx_expect_refused(p, key, "truncated", "header only");
    spit(p, orig, 100);
    fx_expect_refused(p, key, "too short", "half a header");
    /* truncated by one chunk with the chunk count in the header lowered to match */
    memcpy(sw, orig, n);
    sw[64]--;
    spit(p, sw, n - rec);
    fx_expect_refused(p, key, "sealed header: authentication failed", "truncated + header edited");
    /* extended */
    memcpy(sw, orig, n);
    uint8_t *ext = malloc(n + rec);
    memcpy(ext, orig, n);
    memcpy(ext + n, orig + TL_SEAL_HEADER_LEN, rec);
    spit(p, ext, n + rec);
    fx_expect_refused(p, key, "extended", "a chunk appended");
    spit(p, orig, n);
    expect_same(p, key, ck, "restored after chunk attacks");
    free(ext);
    free(sw);
    free(orig);
}

static void copy_file(const char *from, const char *to)
{
    size_t n;
    uint8_t *d = fx_slurp(from, &n);
    spit(to, d, n);
    free(d);
}

static void test_mixing(const tl_checkpoint *ck, const tl_checkpoint *other, const tl_data_key *key)
{
    /* A and B: the same key; B once from the same weights (sealed again) and once another model. */
    seal(ck, key, 1, 4096, pathf("%s", "mixA"));
    seal(ck, key, 1, 4096, pathf("%s", "mixB"));
    seal(other, key, 1, 4096, pathf("%s", "mixC"));
    const char *a = pathf("%s", "mixA");
    expect_same(a, key, ck, "split A");
    char from[4096], to[4096], save[4096];
    snprintf(to, sizeof to, "%s/part-002.sealed", a);
    snprintf(save, sizeof save, "%s/saved.bin", a);
    copy_file(to, save);
    snprintf(from, sizeof from, "%s/mixB/part-002.sealed", tmp);
    copy_file(from, to);
    fx_expect_refused(a, key, "belongs to another sealed model", "layer file from the same weights sealed again");
    snprintf(from, sizeof from, "%s/mixC/part-002.sealed", tmp);
    copy_file(from, to);
    fx_expect_refused(a, key, "belongs to another sealed model", "layer file from another model");
    /* ... with its model id rewritten to A's: the header no longer authenticates */
    size_t na, nb;
    char a0[4096];
    snprintf(a0, sizeof a0, "%s/model.sealed", a);
    uint8_t *ha = fx_slurp(a0, &na), *hb = fx_slurp(to, &nb);
    memcpy(hb + 16, ha + 16, 32);
    spit(to, hb, nb);
    fx_expect_refused(a, key, "sealed header: authentication failed", "foreign layer with forged model id");
    free(ha);
    free(hb);
    /* two layer files of the same model swapped (renamed) */
    copy_file(save, to);
    expect_same(a, key, ck, "split A restored");
    char p1[4096], p3[4096];
    snprintf(p1, sizeof p1, "%s/part-001.sealed", a);
    snprintf(p3, sizeof p3, "%s/part-003.sealed", a);
    copy_file(p1, save);
    copy_file(p3, p1);
    copy_file(save, p3);
    fx_expect_refused(a, key, "files swapped or renamed", "two layer files swapped");
    copy_file(p3, p1); /* now part-001 twice */
    fx_expect_refused(a, key, "files swapped or renamed", "a layer file duplicated");
    /* a missing layer file */
    unlink(p3);
    fx_expect_refused(a, key, "part-003.sealed", "missing layer file");
    /* index file of another model with A's parts */
    seal(ck, key, 1, 4096, pathf("%s", "mixD"));
    snprintf(from, sizeof from, "%s/mixC/model.sealed", tmp);
    snprintf(to, sizeof to, "%s/mixD/model.sealed", tmp);
    copy_file(from, to);
    fx_expect_refused(pathf("%s", "mixD"), key, "belongs to another sealed model", "index file of another model");
    /* re-sealing a directory with a model of fewer layers leaves no stale parts behind */
    {
        tl_checkpoint small;
        tl_config c = ck->cfg;
        c.n_layer = 1;
        tl_err e2 = {0};
        CHECK(tl_checkpoint_alloc(&small, &c, 0, &e2) == 0);
        seal(&small, key, 1, 4096, pathf("%s", "mixD"));
        CHECK(test_sh("test -f %s/mixD/part-003.sealed && ! test -e %s/mixD/part-004.sealed", tmp, tmp) == 0);
        fx_expect_refused(pathf("%s", "mixD"), &(tl_data_key){0}, "key id", "(wrong key for the re-sealed dir)");
        tl_checkpoint got;
        CHECK(tl_seal_read(pathf("%s", "mixD"), key, &got, NULL, &e2) == 0 && got.cfg.n_layer == 1);
        if (got.params)
            tl_checkpoint_free(&got);
        tl_checkpoint_free(&small);
    }
    /* a layer file given as the model */
    snprintf(from, sizeof from, "%s/mixC/part-001.sealed", tmp);
    fx_expect_refused(from, key, "not the index file", "a layer file as the model");
}

static void test_keys(const tl_checkpoint *ck, const tl_data_key *key)
{
    const char *p = pathf("%s", "keys.sealed");
    seal(ck, key, 0, 4096, p);
    tl_data_key wrong = *key;
    wrong.key[7] ^= 1;
    fx_expect_refused(p, &wrong, "sealed header: authentication failed (wrong key", "wrong key, same id");
    tl_data_key other = *key;
    snprintf(other.key_id, sizeof other.key_id, "someone-else");
    fx_expect_refused(p, &other, "key id", "key with another id");

    /* key files */
    tl_err e = {0};
    const char *kf = pathf("%s", "k1.key");
    CHECK(tl_data_key_write(kf, key, &e) == 0);
    struct stat st;
    CHECK(stat(kf, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK(tl_data_key_write(kf, key, &e) != 0 && strstr(e.msg, "already exists"));
    tl_data_key back;
    CHECK(tl_data_key_read(kf, &back, &e) == 0 && memcmp(&back, key, sizeof back) == 0);
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"", "empty"},
        {"hello\n", "not a teelm key file"},
        {"teelm-data-key v1\nkey-id: a\n", "missing 'key' line"},
        {"teelm-data-key v1\nkey: 00\n", "64 hex digits"},
        {"teelm-data-key v1\nkey-id: ../etc\nkey: 0000000000000000000000000000000000000000000000000000000000000000\n",
         "invalid key id"},
        {"teelm-data-key v1\nkey-id: a\nkey: 000000000000000000000000000000000000000000000000000000000000000g\n", "hex"},
        {"teelm-data-key v1\nkey-id: a\nkey-id: b\n", "twice"},
        {"teelm-data-key v1\nkey-id: a\nfoo: bar\n", "unexpected line"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *bp = pathf("bad%s.key", "");
        unlink(bp);
        spit(bp, (const uint8_t *)bad[i].text, strlen(bad[i].text));
        chmod(bp, 0600); /* key files must be private (tested in test_key_file_mode) */
        memset(&e, 0, sizeof e);
        int rc = tl_data_key_read(bp, &back, &e);
        CHECKF(rc != 0 && strstr(e.msg, bad[i].want), "bad key file %zu: '%s'", i, e.msg);
        CHECK(strstr(e.msg, "0000000000") == NULL);
    }
    CHECK(tl_key_id_valid("model-1.v2_x") && !tl_key_id_valid("") && !tl_key_id_valid(".hidden") &&
          !tl_key_id_valid("a/b") && !tl_key_id_valid("-x") &&
          !tl_key_id_valid("0123456789012345678901234567890123456789012345678901234567890123"));
}

static void test_manifest(const tl_checkpoint *ck)
{
    tl_seal_file_entry f = {"model", 0, fx_arena_bytes(ck)};
    char *good = tl_seal_manifest_json(&ck->cfg, NULL, &f, 1, "tok", 10, NULL, 0);
    tl_seal_manifest m;
    tl_err e = {0};
    CHECKF(tl_seal_manifest_parse(good, strlen(good), 1, &m, &e) == 0, "%s", e.msg);
    CHECK(m.has_tokenizer && m.tokenizer_len == 10 && memcmp(&m.cfg, &ck->cfg, sizeof m.cfg) == 0);
    tl_seal_manifest_free(&m);
    CHECK(tl_seal_manifest_parse(good, strlen(good), 2, &m, &e) != 0 && strstr(e.msg, "'files'"));
    struct {
        const char *from, *to, *want;
    } edits[] = {
        {"\"offset\":0", "\"offset\":4", "offset"},
        {"\"shape\":[50,16]", "\"shape\":[16,50]", "shape"},
        {"\"d_model\":16", "\"d_model\":32", "tensor"},
        {"\"name\":\"token_embedding_table.weight\"", "\"name\":\"x\"", "tensor 0"},
        {"\"begin\":0", "\"begin\":4", "continue"},
        {"\"format\":\"teelm-sealed\"", "\"format\":\"x\"", "not a teelm-sealed"},
        {"\"version\":1", "\"version\":1,\"extra\":1", "unknown field"},
        {"\"name\":\"tok\"", "\"name\":\"../tok\"", "plain file name"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        char *s = strstr(good, edits[i].from);
        CHECKF(s != NULL, "edit %zu: '%s' not in manifest", i, edits[i].from);
        if (!s)
            continue;
        char buf[65536];
        snprintf(buf, sizeof buf, "%.*s%s%s", (int)(s - good), good, edits[i].to, s + strlen(edits[i].from));
        memset(&e, 0, sizeof e);
        int rc = tl_seal_manifest_parse(buf, strlen(buf), 1, &m, &e);
        CHECKF(rc != 0 && strstr(e.msg, edits[i].want), "edit %zu: rc %d '%s'", i, rc, e.msg);
    }
    CHECK(tl_seal_manifest_parse("{", 1, 1, &m, &e) != 0 && strstr(e.msg, "bad JSON"));
    free(good);
}

int main(void)
{
    tmp = test_tmpdir();
    uint64_t s = 7;
    for (size_t i = 0; i < sizeof tok; i++)
        tok[i] = (uint8_t)fx_rand(&s);
    tl_err e = {0};
    tl_checkpoint ck, other;
    tl_data_key key;
    if (fx_model(&ck, 1, 50, &e) || fx_model(&other, 2, 50, &e) || tl_data_key_generate(&key, "test-key", &e)) {
        fprintf(stderr, "setup: %s\n", e.msg);
        return 1;
    }
    CHECK(fx_arena_bytes(&ck) > 4 * 4096); /* several chunks at the smallest chunk size */
    test_roundtrips(&ck, &key);
    test_header_bits(&ck, &key, 0);
    test_header_bits(&ck, &key, 1);
    test_chunks(&ck, &key);
    test_mixing(&ck, &other, &key);
    test_keys(&ck, &key);
    test_manifest(&ck);
    tl_data_key_clear(&key);
    tl_checkpoint_free(&ck);
    tl_checkpoint_free(&other);
    test_sh("rm -rf %s", tmp);
    return test_finish();
}
