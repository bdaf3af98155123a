/* Hostile tokenizer.json / tokenizer_config.json files: each case is one mutation of a valid file
 * written by tests/reference/make_hf_tokenizers.py. Every refusal must come from the loader's own
 * checks (the message names the file and the JSON field: asserted by fragments), never from an
 * allocation: in the normal build the process runs under a 2 GiB address-space limit, so a size
 * taken from the file without a check would end in "out of memory" (or a crash) and fail here.
 * `teelm tokenize` on the same file must exit 1 (not a signal) with the same message. Cases that
 * are legal however odd they look (merges in reverse order, so every merge's halves are produced
 * by later merges) must load and encode exactly as npm @huggingface/tokenizers 0.2.0 does. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "tok_testutil.h"
#include "util/io.h"
#include "test.h"

static char dir[] = "/tmp/teelm_hfhostile_XXXXXX";
static const char *bin;
static int ncase;

static json_t *base(const char *name)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s/tokenizer.json", dir, name);
    json_error_t je;
    json_t *r = json_load_file(p, 0, &je);
    if (!r) {
        fprintf(stderr, "%s: %s\n", p, je.text);
        exit(1);
    }
    return r;
}

static char *slurp(const char *path, size_t *n)
{
    uint8_t *d = NULL;
    tl_err err = {0};
    if (tl_read_file(path, 64u << 20, &d, n, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    char *s = realloc(d, *n + 1);
    s[*n] = 0;
    return s;
}

static void put(const char *path, const char *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(d, 1, n, f) == n);
    if (f)
        fclose(f);
}

/* Writes case directory N with tokenizer.json = js (text) and tokenizer_config.json = cfg (text;
 * NULL: the base's), loads it in-process and through the CLI, asserts the message fragments. */
static void expect_text(const char *label, const char *basename, const char *js, size_t jl, const char *cfg,
                        const char *const *frags)
{
    char d[4200], p[4300], cp[4300], src[4300];
    snprintf(d, sizeof d, "%s/case%02d", dir, ncase++);
    CHECK(test_sh("mkdir -p %s", d) == 0);
    snprintf(p, sizeof p, "%s/tokenizer.json", d);
    snprintf(cp, sizeof cp, "%s/tokenizer_config.json", d);
    put(p, js, jl);
    if (cfg) {
        put(cp, cfg, strlen(cfg));
    } else {
        snprintf(src, sizeof src, "%s/%s/tokenizer_config.json", dir, basename);
        size_t cl;
        char *c = slurp(src, &cl);
        put(cp, c, cl);
        free(c);
    }
    tl_err err = {0};
    tl_tokenizer *t = tl_tokenizer_load(p, NULL, &err);
    CHECKF(t == NULL, "%s: loaded", label);
    tl_tokenizer_free(t);
    CHECKF(strstr(err.msg, p) != NULL, "%s: message does not name the file: %s", label, err.msg);
    CHECKF(strstr(err.msg, "out of memory") == NULL, "%s: refused by an allocation: %s", label, err.msg);
    for (const char *const *f = frags; *f; f++)
        CHECKF(strstr(err.msg, *f) != NULL, "%s: message lacks '%s': %s", label, *f, err.msg);
    /* the CLI: exit status 1 and the same message on stderr */
    int st = test_sh("printf 'hi' | %s tokenize --tokenizer %s >%s/out 2>%s/err", bin, p, d, d);
    CHECKF(st == 1, "%s: teelm tokenize exit status %d", label, st);
    char ep[4300];
    snprintf(ep, sizeof ep, "%s/err", d);
    size_t el;
    char *e = slurp(ep, &el);
    CHECKF(strstr(e, err.msg) != NULL, "%s: teelm tokenize stderr lacks the message: %s", label, e);
    free(e);
    printf("ok %-28s %s\n", label, err.msg);
}

static void expect(const char *label, const char *basename, json_t *root, const char *const *frags)
{
    char *s = json_dumps(root, JSON_INDENT(1));
    expect_text(label, basename, s, strlen(s), NULL, frags);
    free(s);
    json_decref(root);
}

static void expect_cfg(const char *label, const char *basename, const char *cfg, const char *const *frags)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s/tokenizer.json", dir, basename);
    size_t n;
    char *js = slurp(p, &n);
    expect_text(label, basename, js, n, cfg, frags);
    free(js);
}

/* base text with the first occurrence of `from` replaced by `to` */
static void expect_edit(const char *label, const char *basename, const char *from, const char *to,
                        const char *const *frags)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s/tokenizer.json", dir, basename);
    size_t n;
    char *js = slurp(p, &n);
    char *at = strstr(js, from);
    CHECKF(at != NULL, "%s: '%s' not in the base file", label, from);
    if (at) {
        size_t fl = strlen(from), tl = strlen(to), pre = (size_t)(at - js);
        char *o = malloc(n - fl + tl + 1);
        memcpy(o, js, pre);
        memcpy(o + pre, to, tl);
        memcpy(o + pre + tl, at + fl, n - pre - fl + 1);
        expect_text(label, basename, o, n - fl + tl, NULL, frags);
        free(o);
    }
    free(js);
}

#define F(...) ((const char *const[]){__VA_ARGS__, NULL})

static json_t *model(json_t *r) { return json_object_get(r, "model"); }
static json_t *vocab(json_t *r) { return json_object_get(model(r), "vocab"); }
static json_t *merges(json_t *r) { return json_object_get(model(r), "merges"); }

static json_t *path_get(json_t *r, const char *p)
{
    /* "a.b.0.c": object keys and array indices */
    char buf[256];
    snprintf(buf, sizeof buf, "%s", p);
    for (char *tok = strtok(buf, "."); tok && r; tok = strtok(NULL, "."))
        r = json_is_array(r) ? json_array_get(r, (size_t)atoi(tok)) : json_object_get(r, tok);
    return r;
}

/* base(basename) with model.merges[i] replaced by merge (a "a b" string or an [a, b] pair) is refused
 * with frag. */
static void set_merge(const char *label, const char *basename, size_t i, json_t *merge, const char *frag)
{
    json_t *r = base(basename);
    json_array_set_new(merges(r), i, merge);
    expect(label, basename, r, F(frag));
}

static void set_type(const char *label, const char *basename, const char *at, const char *type, const char *frag)
{
    json_t *r = base(basename);
    json_t *o = path_get(r, at);
    CHECKF(json_is_object(o), "%s: no %s", label, at);
    if (!json_is_object(o)) {
        json_decref(r);
        return;
    }
    json_object_set_new(o, "type", json_string(type));
    char q[128];
    snprintf(q, sizeof q, "'%s' is not supported", type);
    expect(label, basename, r, F(frag, q));
}

static void set_regex(const char *label, const char *pat, const char *frag)
{
    json_t *r = base("llama3");
    json_object_set_new(path_get(r, "pre_tokenizer.pretokenizers.0.pattern"), "Regex", json_string(pat));
    expect(label, "llama3", r, F("pre_tokenizer.pretokenizers[0].pattern.Regex", frag));
}

/* Two single-character vocabulary tokens whose concatenation is not a token: a merge whose result is
 * missing. */
static int missing_pair(json_t *v, char *a, char *b)
{
    const char *k1, *k2;
    json_t *x1, *x2;
    json_object_foreach(v, k1, x1) {
        if (strlen(k1) != 1)
            continue;
        json_object_foreach(v, k2, x2) {
            char cat[3] = {k1[0], k2[0], 0};
            if (strlen(k2) == 1 && !json_object_get(v, cat)) {
                strcpy(a, k1), strcpy(b, k2);
                return 1;
            }
        }
    }
    return 0;
}

/* A legal file: loads, and encodes texts (3 modes: recognize added tokens, with the post-processor,
 * special tokens as text) and decodes id lists exactly as the reference. Returns the loaded
 * tokenizer (for further checks) and the reference's decode answers (base64 lines) in ref_dec. */
#define MAXQ 600
static tl_tokenizer *same_as_ref(const char *label, const char *src, json_t *r, const char *const *texts, size_t nt,
                                 const uint32_t *const *dec, const size_t *decn, size_t nd, char **ref_dec)
{
    static int nref;
    char d[4200], p[4300], cmdf[4300], ansf[4300];
    snprintf(d, sizeof d, "%s/legal%02d", dir, nref++);
    CHECK(test_sh("mkdir -p %s", d) == 0);
    snprintf(p, sizeof p, "%s/tokenizer.json", d);
    CHECK(json_dump_file(r, p, 0) == 0);
    json_decref(r);
    tl_err err = {0};
    tl_tokenizer *t = tl_tokenizer_load(p, NULL, &err);
    CHECKF(t != NULL, "%s: %s", label, err.msg);
    if (!t)
        return NULL;
    snprintf(cmdf, sizeof cmdf, "%s/cmd", d);
    snprintf(ansf, sizeof ansf, "%s/ans", d);
    FILE *f = fopen(cmdf, "w");
    static uint32_t *ids[MAXQ * 3];
    static size_t nids[MAXQ * 3];
    static const char modes[] = "nap";
    for (size_t i = 0; i < nt && i < MAXQ; i++) {
        char *b = tt_b64((const uint8_t *)texts[i], strlen(texts[i]));
        for (int m = 0; m < 3; m++) {
            fprintf(f, "E %c %s\n", modes[m], b);
            unsigned fl = m == 1 ? TL_TOK_ADD_SPECIAL : m == 2 ? TL_TOK_PLAIN : 0;
            CHECK(tl_tokenizer_encode_ex(t, texts[i], strlen(texts[i]), fl, &ids[i * 3 + m], &nids[i * 3 + m], &err) == 0);
        }
        free(b);
    }
    for (size_t i = 0; i < nd; i++) {
        fprintf(f, "D ");
        for (size_t k = 0; k < decn[i]; k++)
            fprintf(f, "%s%u", k ? "," : "", dec[i][k]);
        fprintf(f, "\n");
    }
    fclose(f);
    CHECK(test_sh("node %s/tests/reference/hf_tokenizer.js %s - < %s > %s", src, p, cmdf, ansf) == 0);
    FILE *a = fopen(ansf, "r");
    char *line = NULL;
    size_t cap = 0, same = 0, all = 0;
    for (size_t i = 0; a && i < nt * 3 && i < MAXQ * 3; i++, all++) {
        uint32_t *ref = NULL;
        long rn = getline(&line, &cap, a) >= 0 ? tt_parse_ids(line, &ref) : -2;
        int ok = rn == (long)nids[i] && (rn == 0 || memcmp(ref, ids[i], (size_t)rn * 4) == 0);
        CHECKF(ok, "%s: text %zu mode %c: ids differ from the reference (%.200s)", label, i / 3, modes[i % 3], line);
        same += (size_t)ok;
        free(ref);
        free(ids[i]);
    }
    for (size_t i = 0; a && i < nd; i++) {
        CHECK(getline(&line, &cap, a) >= 0);
        line[strcspn(line, "\n")] = 0;
        ref_dec[i] = strdup(line);
    }
    printf("%s: %zu of %zu encodings identical to the reference\n", label, same, all);
    CHECK(same == all);
    free(line);
    if (a)
        fclose(a);
    return t;
}

static char *lines[MAXQ];
static size_t read_lines(const char *src)
{
    char sp[4300];
    snprintf(sp, sizeof sp, "%s/tests/tokenizer/data/unicode_stress.txt", src);
    size_t n, nl = 0;
    char *text = slurp(sp, &n);
    for (char *line = text, *e; *line && nl < MAXQ; line = e) {
        e = strchr(line, '\n');
        e = e ? e + 1 : line + strlen(line);
        lines[nl++] = strndup(line, (size_t)(e - line));
    }
    free(text);
    return nl;
}

/* Legal but odd: the merges in reverse order (every merge's halves come from later merges); the
 * rank of a merge decides, wherever its halves come from. */
static void reversed_merges(const char *src)
{
    json_t *r = base("gpt2");
    json_t *m = merges(r), *rev = json_array();
    for (size_t i = json_array_size(m); i-- > 0;)
        json_array_append(rev, json_array_get(m, i));
    json_object_set_new(model(r), "merges", rev);
    size_t nl = read_lines(src);
    CHECK(nl > 10);
    tl_tokenizer_free(same_as_ref("reversed merges", src, r, (const char *const *)lines, nl, NULL, NULL, 0, NULL));
    for (size_t i = 0; i < nl; i++)
        free(lines[i]);
}

/* ignore_merges and a piece spelled like an added token that is not in the vocabulary: the reference
 * (and teelm) give the added token's id, the Rust library would run BPE (its added tokens are not in
 * the model's vocabulary). A special one is plain text in plain mode. */
static void ignore_merges_added(const char *src)
{
    json_t *r = base("llama3");
    CHECK(json_is_true(json_object_get(model(r), "ignore_merges")));
    json_t *at = json_object_get(r, "added_tokens");
    json_int_t next = 0;
    for (size_t i = 0; i < json_array_size(at); i++)
        if (json_integer_value(json_object_get(json_array_get(at, i), "id")) >= next)
            next = json_integer_value(json_object_get(json_array_get(at, i), "id")) + 1;
    /* "Ġzqxj" and "wvvk" are the byte-level spellings of the pieces " zqxj" and "wvvk" */
    CHECK(!json_object_get(vocab(r), "\xc4\xa0zqxj") && !json_object_get(vocab(r), "wvvk"));
    json_array_append_new(at, json_pack("{s:I,s:s,s:b,s:b,s:b,s:b,s:b}", "id", next, "content", "\xc4\xa0zqxj",
                                        "single_word", 0, "lstrip", 0, "rstrip", 0, "normalized", 0, "special", 1));
    json_array_append_new(at, json_pack("{s:I,s:s,s:b,s:b,s:b,s:b,s:b}", "id", next + 1, "content", "wvvk",
                                        "single_word", 0, "lstrip", 0, "rstrip", 0, "normalized", 0, "special", 0));
    static const char *const texts[] = {" zqxj", "a zqxj b", "zqxj", " zqxjj", "wvvk", " wvvk", "x wvvk, zqxj zqxj"};
    tl_tokenizer *t = same_as_ref("ignore_merges + added spelling", src, r, texts, sizeof texts / sizeof *texts, NULL, NULL, 0, NULL);
    if (t) {  /* and the case is really exercised: " zqxj" is the added token, "wvvk" too */
        uint32_t *ids = NULL;
        size_t n = 0;
        tl_err err = {0};
        CHECK(tl_tokenizer_encode_ex(t, " zqxj", 5, 0, &ids, &n, &err) == 0 && n == 1 && ids[0] == (uint32_t)next);
        free(ids);
        CHECK(tl_tokenizer_encode_ex(t, "wvvk", 4, 0, &ids, &n, &err) == 0 && n == 1 && ids[0] == (uint32_t)next + 1);
        free(ids);
    }
    tl_tokenizer_free(t);
}

/* A special token that only normalization spells out ("<|Y|>" becomes "<|x|>") is still a special
 * token: refused where the caller forbids them (tl_tokenizer_encode's default), as one in the raw
 * text is; its id where they are allowed. */
static void forbidden_after_normalizing(void)
{
    json_t *r = base("qwen2");
    json_t *at = json_object_get(r, "added_tokens");
    json_int_t next = 0;
    for (size_t i = 0; i < json_array_size(at); i++)
        if (json_integer_value(json_object_get(json_array_get(at, i), "id")) >= next)
            next = json_integer_value(json_object_get(json_array_get(at, i), "id")) + 1;
    json_array_append_new(at, json_pack("{s:I,s:s,s:b,s:b,s:b,s:b,s:b}", "id", next, "content", "<|x|>",
                                        "single_word", 0, "lstrip", 0, "rstrip", 0, "normalized", 0, "special", 1));
    json_object_set_new(r, "normalizer", json_pack("{s:s,s:{s:s},s:s}", "type", "Replace", "pattern", "String", "Y",
                                                   "content", "x"));
    char d[4200], p[4300];
    snprintf(d, sizeof d, "%s/forbid", dir);
    snprintf(p, sizeof p, "%s/tokenizer.json", d);
    CHECK(test_sh("mkdir -p %s", d) == 0 && json_dump_file(r, p, 0) == 0);
    json_decref(r);
    tl_err err = {0};
    tl_tokenizer *t = tl_tokenizer_load(p, NULL, &err);
    CHECKF(t != NULL, "forbidden after normalizing: %s", err.msg);
    if (!t)
        return;
    uint32_t *ids = NULL;
    size_t n = 0;
    CHECKF(tl_tokenizer_encode_ex(t, "<|Y|>", 5, TL_TOK_FORBID, &ids, &n, &err) != 0 &&
               strstr(err.msg, "special token <|x|>"),
           "a special token spelled by the normalizer passed a forbidding encode (%s)", err.msg);
    free(ids);
    ids = NULL;
    CHECK(tl_tokenizer_encode_ex(t, "<|Y|>", 5, 0, &ids, &n, &err) == 0 && n == 1 && ids[0] == (uint32_t)next);
    free(ids);
    tl_tokenizer_free(t);
}

/* ByteFallback's reading of "<0xNN>": the Rust library's u8::from_str_radix (two hex digits of either
 * case, or '+' and one) where the two references agree; where npm's parseInt also reads a prefix
 * ("<0x1G>" as 0x01, "<0x 1>", "<0x-1>" as 0xFF) teelm keeps the Rust answer: the token is text. */
static void byte_tokens(const char *src)
{
    json_t *r = base("llama2");
    json_t *v = vocab(r);
    static const char *const agree[] = {"<0x0a>", "<0x+F>", "<0xe9>", "<0xG1>", "<0x+G>", "<0x++>"};
    static const char *const differ[] = {"<0x1G>", "<0x 1>", "<0x-1>", "<0xA>>"};
    json_int_t next = (json_int_t)json_object_size(v) + 100;
    uint32_t aid[6], did[4], a_id = (uint32_t)json_integer_value(json_object_get(v, "a"));
    CHECK(json_object_get(v, "a") != NULL);
    for (int i = 0; i < 6; i++)
        json_object_set_new(v, agree[i], json_integer(next)), aid[i] = (uint32_t)next++;
    for (int i = 0; i < 4; i++)
        json_object_set_new(v, differ[i], json_integer(next)), did[i] = (uint32_t)next++;
    /* decode each after "a" (so Strip's one leading space does not matter), and the byte pair 0x+F 0x0a */
    uint32_t q[12][2];
    const uint32_t *qp[12];
    size_t qn[12];
    for (int i = 0; i < 10; i++) {
        q[i][0] = a_id;
        q[i][1] = i < 6 ? aid[i] : did[i - 6];
        qp[i] = q[i], qn[i] = 2;
    }
    q[10][0] = aid[2], q[10][1] = aid[2];  /* <0xe9><0xe9>: invalid UTF-8, U+FFFD each */
    qp[10] = q[10], qn[10] = 2;
    q[11][0] = aid[1], q[11][1] = aid[0];
    qp[11] = q[11], qn[11] = 2;
    char *ref[12] = {0};
    tl_tokenizer *t = same_as_ref("byte tokens", src, r, (const char *const[]){"a"}, 1, qp, qn, 12, ref);
    if (!t)
        return;
    tl_err err = {0};
    for (int i = 0; i < 12; i++) {
        char *out = NULL;
        size_t ol = 0;
        CHECK(tl_tokenizer_decode(t, qp[i], qn[i], &out, &ol, &err) == 0);
        uint8_t want[64];
        long wl;
        if (i >= 6 && i < 10) {  /* the Rust answer: "a" then the token as text */
            wl = snprintf((char *)want, sizeof want, "a%s", differ[i - 6]);
            uint8_t rb[64];
            long rl = ref[i] ? tt_unb64(ref[i], rb) : -1;
            CHECKF(rl >= 2 && rl < wl && rb[0] == 'a', "byte tokens: npm no longer reads %s as a byte (%s)",
                   differ[i - 6], ref[i] ? ref[i] : "?");
        } else {
            wl = ref[i] ? tt_unb64(ref[i], want) : -1;
        }
        CHECKF(wl == (long)ol && memcmp(want, out, ol) == 0, "byte tokens: query %d: '%.*s'", i, (int)ol, out);
        free(out);
        free(ref[i]);
    }
    /* streaming bytes agree with decoding: <0x0a> is the byte 0x0a, <0x+F> 0x0f, <0x1G> its text */
    size_t l;
    const uint8_t *b = tl_tokenizer_token_bytes(t, aid[0], &l);
    CHECK(b && l == 1 && b[0] == 0x0a);
    b = tl_tokenizer_token_bytes(t, aid[1], &l);
    CHECK(b && l == 1 && b[0] == 0x0f);
    b = tl_tokenizer_token_bytes(t, did[0], &l);
    CHECK(b && l == 6 && memcmp(b, "<0x1G>", 6) == 0);
    tl_tokenizer_free(t);
}

int main(void)
{
    tt_require_node();
    const char *src = getenv("TEELM_SRC") ? getenv("TEELM_SRC") : ".";
    bin = getenv("TEELM_BIN");
    if (!bin)
        test_skip("TEELM_BIN is not set (run through ctest)");
    CHECK(mkdtemp(dir) != NULL);
    CHECK(test_sh("cd %s && /usr/bin/python3 tests/reference/make_hf_tokenizers.py %s "
                  "tests/tokenizer/data/unicode_stress.txt 1000 >/dev/null", src, dir) == 0);
    reversed_merges(src);
    ignore_merges_added(src);
    byte_tokens(src);
    forbidden_after_normalizing();
    /* node reserves far more address space than this; everything after runs without it */
    const char *san = getenv("TEELM_SANITIZE");
    if (!san || strcmp(san, "1") != 0) {
        struct rlimit rl = {2ull << 30, 2ull << 30};
        CHECK(setrlimit(RLIMIT_AS, &rl) == 0);
    }
    json_t *r;

    /* duplicates */
    r = base("gpt2");
    json_object_set(vocab(r), "!", json_object_get(vocab(r), "\""));
    expect("duplicate id", "gpt2", r, F("model.vocab: id 1 is given to two tokens"));
    expect_edit("duplicate token (key)", "gpt2", "\"vocab\": {", "\"vocab\": {\"#\": 77, ",
                F("duplicate object key", "line "));
    r = base("llama3");
    json_object_set(json_array_get(json_object_get(r, "added_tokens"), 2), "id",
                    json_object_get(json_array_get(json_object_get(r, "added_tokens"), 0), "id"));
    expect("duplicate added id", "llama3", r, F("added_tokens[2].id 1000 is also added_tokens[0].id"));
    r = base("qwen2");
    json_object_set_new(json_array_get(json_object_get(r, "added_tokens"), 3), "content", json_string("<|im_start|>"));
    expect("duplicate added content", "qwen2", r, F("added_tokens[3].content '<|im_start|>' is given twice"));

    /* merges */
    set_merge("merge half missing", "gpt2", 3, json_string("ZZZZqqqq t"),
              "model.merges[3]: token 'ZZZZqqqq' is not in model.vocab");
    set_merge("merge half missing (list)", "llama3", 4, json_pack("[ss]", "t", "ZZZZqqqq"),
              "model.merges[4]: token 'ZZZZqqqq' is not in model.vocab");
    r = base("llama2");
    char a[8], b[8], frag[128];
    CHECK(missing_pair(vocab(r), a, b));
    json_array_insert_new(merges(r), 2, json_sprintf("%s %s", a, b));
    snprintf(frag, sizeof frag, "model.merges[2]: the merged token '%s%s' is not in model.vocab", a, b);
    expect("merge result missing", "llama2", r, F(frag));
    r = base("llama3");
    json_array_insert(merges(r), 5, json_array_get(merges(r), 0));
    expect("repeated merge", "llama3", r, F("model.merges[5] repeats model.merges[0]"));
    set_merge("empty merge half", "gpt2", 1, json_string(" t"), "model.merges[1]: a token is empty");
    set_merge("empty merge half (list)", "mistral", 1, json_pack("[ss]", "a", ""), "model.merges[1]: a token is empty");
    set_merge("merge of three", "gpt2", 2, json_string("t h e"),
              "model.merges[2] 't h e' must be two tokens separated by one space");
    set_merge("mixed merge forms", "llama3", 2, json_string("t h"), "model.merges[2] must be a pair of strings");

    /* unknown types, refused by name */
    set_type("model type", "gpt2", "model", "WordPiece", "model.type");
    set_type("pre_tokenizer type", "gpt2", "pre_tokenizer", "Whitespace", "pre_tokenizer.type");
    set_type("pre_tokenizer in Sequence", "llama3", "pre_tokenizer.pretokenizers.0", "BertPreTokenizer",
             "pre_tokenizer.pretokenizers[0].type");
    set_type("normalizer in Sequence", "llama2", "normalizer.normalizers.1", "Lowercase", "normalizer.normalizers[1].type");
    set_type("normalizer type", "qwen2", "normalizer", "BertNormalizer", "normalizer.type");
    set_type("decoder in Sequence", "llama2", "decoder.decoders.2", "CTC", "decoder.decoders[2].type");
    set_type("decoder type", "gpt2", "decoder", "WordPiece", "decoder.type");
    set_type("post_processor type", "gpt2", "post_processor", "RobertaProcessing", "post_processor.type");
    r = base("gpt2");
    json_object_del(model(r), "type");
    expect("model without type", "gpt2", r, F("model.type is missing or not a string"));

    /* ids and sizes */
    r = base("gpt2");
    json_object_set_new(vocab(r), "!", json_integer(1ll << 40));
    expect("id 2^40", "gpt2", r, F("model.vocab['!'] must be an integer id in [0, 16777216)"));
    r = base("gpt2");
    json_object_set_new(vocab(r), "!", json_integer(-1));
    expect("id -1", "gpt2", r, F("model.vocab['!'] must be an integer id"));
    r = base("gpt2");
    json_object_set_new(vocab(r), "!", json_real(1.5));
    expect("id 1.5", "gpt2", r, F("model.vocab['!'] must be an integer id"));
    r = base("gpt2");
    json_object_set_new(vocab(r), "!", json_integer((1 << 24) - 1));
    expect("id leaving holes", "gpt2", r, F("model.vocab: id 16777215 leaves more than 65536 ids without a token"));
    r = base("llama3");
    json_object_set_new(json_array_get(json_object_get(r, "added_tokens"), 0), "id", json_integer(1ll << 33));
    expect("added id 2^33", "llama3", r, F("added_tokens[0].id must be an integer in [0, 16777216)"));
    r = base("llama3");
    json_object_set_new(json_array_get(json_object_get(r, "added_tokens"), 1), "id", json_integer(10000000));
    expect("added id leaving holes", "llama3", r, F("added_tokens ids leave more than 65536 ids without a token"));
    r = base("llama2");
    json_object_set_new(path_get(r, "decoder.decoders.3"), "start", json_integer(1ll << 40));
    expect("Strip start 2^40", "llama2", r, F("decoder.decoders[3].start and .stop must be integers"));
    char *big = malloc(70001);
    memset(big, 'x', 70000);
    big[70000] = 0;
    r = base("gpt2");
    json_object_set_new(vocab(r), big, json_integer(1000));
    expect("token of 70000 bytes", "gpt2", r, F("is longer than 65536 bytes"));
    big[5000] = 0;
    r = base("qwen2");
    json_object_set_new(json_array_get(json_object_get(r, "added_tokens"), 0), "content", json_string(big));
    expect("added content of 5000 bytes", "qwen2", r, F("added_tokens[0].content must be a non-empty string of at most 4096"));
    /* a decoder content longer than the arena that holds every token's streamed bytes */
    big[5000] = 'x';
    big[69999] = 0;
    r = base("llama2");
    json_object_set_new(path_get(r, "decoder.decoders.0"), "content", json_string(big));
    expect("Replace content of 70000 bytes", "llama2", r, F("a Replace content longer than its pattern is not supported"));
    free(big);
    r = base("qwen2");
    json_t *at = json_object_get(r, "added_tokens");
    char *txt = malloc(4001);
    for (int i = 0; i < 1100; i++) {  /* 4.4 MB of distinct added contents */
        memset(txt, 'a' + i % 26, 4000);
        snprintf(txt, 4001, "%06d", i);
        txt[6] = 'x';
        txt[4000] = 0;
        json_array_append_new(at, json_pack("{s:i,s:s,s:b,s:b}", "id", 20000 + i, "content", txt, "special", 1, "normalized", 0));
    }
    free(txt);
    expect("added contents of 4.4 MB", "qwen2", r, F("added_tokens: the contents up to added_tokens[", "exceed 4194304 bytes"));
    r = base("llama3");
    json_t *single = path_get(r, "post_processor.processors.1.single");
    while (json_array_size(single) < 65)
        json_array_append(single, json_array_get(single, 0));
    expect("template of 65 items", "llama3", r, F("post_processor.processors[1].single must be an array of at most 64"));
    r = base("qwen2");
    json_t *nest = json_object_get(r, "normalizer");
    json_incref(nest);
    for (int i = 0; i < 10; i++)
        nest = json_pack("{s:s,s:[o]}", "type", "Sequence", "normalizers", nest);
    json_object_set_new(r, "normalizer", nest);
    expect("Sequence 10 deep", "qwen2", r, F("nested more than 8 deep"));
    r = base("gpt2");
    json_object_set_new(model(r), "dropout", json_real(0.1));
    expect("dropout", "gpt2", r, F("model.dropout must be null or 0"));

    /* the JSON text itself */
    expect_edit("lone high surrogate", "gpt2", "\"vocab\": {", "\"vocab\": {\"\\ud800\": 5000, ",
                F("invalid Unicode '\\uD800'", "line "));
    expect_edit("lone low surrogate", "llama2", "\"vocab\": {", "\"vocab\": {\"a\\udc00\": 5000, ",
                F("invalid Unicode '\\uDC00'", "line "));
    expect_edit("bad UTF-8 byte", "gpt2", "\"vocab\": {", "\"vocab\": {\"\xff\": 5000, ", F("unable to decode byte 0xff"));
    expect_edit("overlong UTF-8", "mistral", "\"vocab\": {", "\"vocab\": {\"\xc0\xaf\": 5000, ",
                F("unable to decode byte 0xc0"));
    expect_edit("UTF-8 surrogate bytes", "qwen2", "\"vocab\": {", "\"vocab\": {\"\xed\xa0\x80\": 5000, ",
                F("unable to decode byte 0xed"));
    expect_edit("NUL escape", "gpt2", "\"vocab\": {", "\"vocab\": {\"a\\u0000b\": 5000, ", F("NUL byte in object key not supported"));
    expect_edit("truncated", "llama3", "\"model\": {", "\"model\": [", F("line "));

    /* regexes the translation refuses */
    set_regex("regex \\w", "\\w+|\\s+", "escape not supported");
    set_regex("regex back-reference", "(a)\\1", "escape not supported");
    set_regex("regex named group", "(?<x>a)|\\s+", "group kind not supported");
    set_regex("regex inline flag", "(?m)^a", "group kind not supported");
    set_regex("regex property", "\\p{Greek}+", "Unicode property not supported");
    set_regex("regex unbalanced", "(a|b", "unbalanced (");

    /* tokenizer_config.json with wrong types */
    expect_cfg("config add_bos_token string", "llama2", "{\"add_bos_token\": \"yes\", \"bos_token\": \"<s>\"}",
               F("tokenizer_config.json.add_bos_token must be true or false"));
    expect_cfg("config clean_up number", "gpt2", "{\"clean_up_tokenization_spaces\": 1}",
               F("tokenizer_config.json.clean_up_tokenization_spaces must be true or false"));
    expect_cfg("config bos_token number", "mistral", "{\"bos_token\": 1}",
               F("tokenizer_config.json: bos_token must be a string or {\"content\": ...}"));
    expect_cfg("config eos_token object", "mistral", "{\"eos_token\": {\"content\": 2}}",
               F("tokenizer_config.json: eos_token must be a string"));
    expect_cfg("config eos_token unknown", "qwen2", "{\"eos_token\": \"<|nope|>\"}",
               F("tokenizer_config.json: eos_token '<|nope|>' is not a token"));
    expect_cfg("config add_bos without bos", "llama2", "{\"add_bos_token\": true, \"bos_token\": null}",
               F("tokenizer_config.json: add_bos_token is true but bos_token is not set"));
    expect_cfg("config array", "gpt2", "[1, 2]", F("tokenizer_config.json must be an object"));
    expect_cfg("config bad UTF-8", "gpt2", "{\"eos_token\": \"\xfe\"}", F("tokenizer_config.json: line 1", "unable to decode byte 0xfe"));
    expect_cfg("config lone surrogate", "gpt2", "{\"eos_token\": \"\\udfff\"}", F("tokenizer_config.json: line 1", "invalid Unicode"));

    printf("%d hostile files refused\n", ncase);
    test_sh("rm -rf %s", dir);
    return test_finish();
}
