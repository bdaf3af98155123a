#include "tok_testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "util/io.h"

static char *cmds;
static size_t cmds_len, cmds_cap, ncmds;
static char **answers;
static size_t nanswers;
static uint8_t *answer_buf;

static const char *src_dir(void)
{
    const char *s = getenv("TEELM_SRC");
    return s ? s : ".";
}

void tt_require_node(void)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/node_modules/tiktoken/package.json", src_dir());
    if (access(p, R_OK) != 0)
        test_skip("npm tiktoken is absent (node_modules/tiktoken; run scripts/install-deps.sh)");
    if (test_sh("node --version >/dev/null 2>&1") != 0)
        test_skip("node is absent");
}

static void append(const char *s, size_t n)
{
    if (cmds_len + n + 1 > cmds_cap) {
        cmds_cap = (cmds_len + n + 1) * 2;
        cmds = realloc(cmds, cmds_cap);
        if (!cmds)
            abort();
    }
    memcpy(cmds + cmds_len, s, n);
    cmds_len += n;
    cmds[cmds_len] = 0;
}

char *tt_b64(const uint8_t *d, size_t n)
{
    static const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *o = malloc((n + 2) / 3 * 4 + 1), *p = o;
    if (!o)
        abort();
    for (size_t i = 0; i < n; i += 3) {
        uint32_t w = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) | (i + 2 < n ? d[i + 2] : 0);
        *p++ = a[w >> 18 & 63];
        *p++ = a[w >> 12 & 63];
        *p++ = i + 1 < n ? a[w >> 6 & 63] : '=';
        *p++ = i + 2 < n ? a[w & 63] : '=';
    }
    *p = 0;
    return o;
}

long tt_unb64(const char *s, uint8_t *out)
{
    long o = 0;
    uint32_t w = 0;
    int k = 0;
    for (; *s && *s != '\n'; s++) {
        const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        if (*s == '=')
            break;
        const char *q = strchr(a, *s);
        if (!q)
            return -1;
        w = w << 6 | (uint32_t)(q - a);
        if (++k == 4) {
            out[o++] = (uint8_t)(w >> 16), out[o++] = (uint8_t)(w >> 8), out[o++] = (uint8_t)w;
            k = 0;
            w = 0;
        }
    }
    if (k == 2)
        out[o++] = (uint8_t)(w >> 4);
    else if (k == 3)
        out[o++] = (uint8_t)(w >> 10), out[o++] = (uint8_t)(w >> 2);
    return o;
}

void tt_cmd_encode(const char *encoding, int allow_special, const uint8_t *text, size_t len)
{
    char *b = tt_b64(text, len), head[64];
    snprintf(head, sizeof head, "E %s %d ", encoding, allow_special ? 1 : 0);
    append(head, strlen(head));
    append(b, strlen(b));
    append("\n", 1);
    free(b);
    ncmds++;
}

void tt_cmd_file(const char *encoding, const char *path)
{
    append("F ", 2);
    append(encoding, strlen(encoding));
    append(" ", 1);
    append(path, strlen(path));
    append("\n", 1);
    ncmds++;
}

void tt_cmd_sanitize(const uint8_t *text, size_t len)
{
    char *b = tt_b64(text, len);
    append("S ", 2);
    append(b, strlen(b));
    append("\n", 1);
    free(b);
    ncmds++;
}

void tt_reset(void)
{
    free(cmds);
    free(answers);
    free(answer_buf);
    cmds = NULL;
    answers = NULL;
    answer_buf = NULL;
    cmds_len = cmds_cap = ncmds = nanswers = 0;
}

size_t tt_ncmds(void) { return ncmds; }

int tt_run(void)
{
    const char *dir = test_tmpdir();
    char in[256], out[256];
    snprintf(in, sizeof in, "%s/cmds", dir);
    snprintf(out, sizeof out, "%s/answers", dir);
    tl_err err = {0};
    if (tl_write_file_atomic(in, cmds ? cmds : "", cmds_len, 0600, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    int rc = test_sh("cd '%s/tests/reference' && node tiktoken_encode.js < '%s' > '%s'", src_dir(), in, out);
    size_t n = 0;
    if (rc != 0 || tl_read_file(out, (size_t)1 << 30, &answer_buf, &n, &err)) {
        fprintf(stderr, "reference run failed (exit %d) %s\n", rc, err.msg);
        return -1;
    }
    answers = calloc(ncmds + 1, sizeof *answers);
    char *p = (char *)answer_buf;
    for (nanswers = 0; nanswers < ncmds && p < (char *)answer_buf + n; nanswers++) {
        answers[nanswers] = p;
        char *e = strchr(p, '\n');
        if (!e)
            break;
        *e = 0;
        p = e + 1;
    }
    test_sh("rm -rf '%s'", dir);
    if (nanswers != ncmds) {
        fprintf(stderr, "reference answered %zu of %zu commands\n", nanswers, ncmds);
        return -1;
    }
    return 0;
}

const char *tt_answer(size_t i) { return i < nanswers ? answers[i] : "ERR missing"; }

long tt_parse_ids(const char *line, uint32_t **ids)
{
    *ids = NULL;
    if (strncmp(line, "ERR", 3) == 0)
        return -1;
    size_t cap = 16, n = 0;
    uint32_t *v = malloc(cap * sizeof *v);
    const char *p = line;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        char *e;
        unsigned long x = strtoul(p, &e, 10);
        if (e == p)
            break;
        if (n == cap)
            v = realloc(v, (cap *= 2) * sizeof *v);
        v[n++] = (uint32_t)x;
        p = e;
    }
    *ids = v;
    return (long)n;
}

/* ---- random text ---------------------------------------------------------------------------- */

static uint64_t rs = 88172645463325252ull;
void tt_seed(uint64_t s) { rs = s ? s : 88172645463325252ull; }
uint64_t tt_rand(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}
static uint32_t rn(uint32_t n) { return (uint32_t)(tt_rand() % n); }

size_t tt_put_utf8(uint8_t *o, uint32_t c)
{
    if (c < 0x80) {
        o[0] = (uint8_t)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (uint8_t)(0xC0 | c >> 6), o[1] = (uint8_t)(0x80 | (c & 63));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (uint8_t)(0xE0 | c >> 12), o[1] = (uint8_t)(0x80 | (c >> 6 & 63)), o[2] = (uint8_t)(0x80 | (c & 63));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | c >> 18), o[1] = (uint8_t)(0x80 | (c >> 12 & 63));
    o[2] = (uint8_t)(0x80 | (c >> 6 & 63)), o[3] = (uint8_t)(0x80 | (c & 63));
    return 4;
}

static const uint32_t ranges[][2] = {
    {0x660, 0x669}, {0x966, 0x96F}, {0xFF10, 0xFF19}, {0xB2, 0xB3}, {0x2160, 0x216B}, {0x2460, 0x2473}, {0x11F50, 0x11F59},
    {0x4E00, 0x9FFF}, {0x3040, 0x309F}, {0x30A0, 0x30FF}, {0xAC00, 0xD7A3}, {0x5D0, 0x5EA}, {0x620, 0x64A}, {0x64B, 0x652},
    {0x300, 0x36F}, {0x20D0, 0x20F0}, {0x1F600, 0x1F64F}, {0x1F300, 0x1F5FF}, {0x1F900, 0x1F9FF}, {0x1FA70, 0x1FAFF},
    {0x1F3FB, 0x1F3FF}, {0x1F1E6, 0x1F1FF}, {0x391, 0x3C9}, {0x410, 0x44F}, {0x10A0, 0x10FF}, {0xE00, 0xE5B},
    {0x105C0, 0x105F3}, {0x11F04, 0x11F10}, {0x31350, 0x323AF}, {0x10D4A, 0x10D65}, {0x10D6F, 0x10D85},
    {0x2EBF0, 0x2EE5D}, {0x1C89, 0x1C8A}, {0xA7CB, 0xA7DC}, {0x16100, 0x1611D}, {0x1E5D0, 0x1E5FA}, {0x13460, 0x143FA},
    {0x1E030, 0x1E06D}, {0x16D40, 0x16D79}, {0x11380, 0x113D3}, {0x1CCF0, 0x1CCF9}, {0x1D2C0, 0x1D2D3},
    {0x2000, 0x200F}, {0x2028, 0x202F}, {0x205F, 0x206F}, {0xFE00, 0xFE0F}, {0xE0020, 0xE007F}, {0x1DF00, 0x1DF2A},
    {0x80, 0xFF}, {0x100, 0x24F}, {0x1E00, 0x1EFF}, {0x1F00, 0x1FFF}, {0x2100, 0x214F}, {0xFB00, 0xFB4F},
};
static const uint32_t singles[] = {
    0x20, 0x20, 0x20, 0x20, '\t', '\n', '\r', 0x0B, 0x0C, 0x85, 0xA0, 0x1680, 0x180E, 0x2007, 0x200B, 0x200D, 0x2028,
    0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF, 0x17F, 0x212A, 0x130, 0x131, 0xDF, 0x1E9E, 0x3A3, 0x3C2, 0x1C5, 0x2019,
    '/', '/', '\'', '\'', '\'', 0, 1, 0x1B, 0x7F, 0xFFFD, 0xFFFE, 0x10FFFF, 0xE000, 0x2060, 0x200F, 0x61C,
};

static size_t atom(uint8_t *o, int kind)
{
    static const char *contr[] = {"s", "t", "re", "ve", "m", "ll", "d", "S", "T", "RE", "Re", "rE", "VE", "Ve",
                                  "M", "LL", "Ll", "lL", "D", "x", "", "ſ"};
    static const char *punct = "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~";
    static const char *nl[] = {"\n", "\r\n", "\r", "\n\n", " \n", "\r\n\r\n", "\n ", "\t\n", "  \r\n", "\n\r"};
    static const char *emo[] = {"👨‍👩‍👧‍👦", "👩🏾‍💻", "🏳️‍🌈", "❤️", "1️⃣", "🇺🇸", "👍🏽", "🧑‍🤝‍🧑", "é", "ñ", "ǅ"};
    static const char *bad[] = {"\x80", "\xBF", "\xC0\xAF", "\xC1\x81", "\xED\xA0\x80", "\xED\xBF\xBF", "\xE2\x82",
                                "\xF4\x90\x80\x80", "\xFF", "\xFE", "\xF0\x9F\x98", "\xF8\x88\x80\x80\x80", "\xE0\x80\x80",
                                "\xF0\x80\x80\x80", "\xC2", "\xE1\x80", "\xF5", "\xC2\x41"};
    static const char *spec[] = {"<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
                                 "<|endofprompt|>", "<|endoftext", "<|", "|>"};
    size_t n = 0;
    uint32_t r = rn(100);
    if (r < 14) { /* word, random case */
        uint32_t l = 1 + rn(rn(4) ? 8 : 20), mode = rn(4);
        for (uint32_t i = 0; i < l; i++) {
            char c = (char)('a' + rn(26));
            if (mode == 1 || (mode == 2 && i == 0) || (mode == 3 && rn(2)))
                c = (char)(c - 32);
            o[n++] = (uint8_t)c;
        }
    } else if (r < 20) { /* ASCII digits */
        uint32_t l = 1 + rn(rn(3) ? 5 : 14);
        for (uint32_t i = 0; i < l; i++)
            o[n++] = (uint8_t)('0' + rn(10));
    } else if (r < 28) { /* whitespace runs */
        uint32_t l = 1 + rn(rn(3) ? 3 : 12);
        for (uint32_t i = 0; i < l; i++)
            o[n++] = rn(5) ? ' ' : "\t\n\r\v\f"[rn(5)];
    } else if (r < 34) {
        const char *s = nl[rn(10)];
        memcpy(o, s, strlen(s));
        n = strlen(s);
    } else if (r < 42) { /* contractions */
        const char *s = contr[rn(sizeof contr / sizeof contr[0])];
        if (rn(4) == 0)
            n += tt_put_utf8(o, 0x2019);
        else
            o[n++] = '\'';
        memcpy(o + n, s, strlen(s));
        n += strlen(s);
    } else if (r < 50) {
        uint32_t l = 1 + rn(4);
        for (uint32_t i = 0; i < l; i++)
            o[n++] = (uint8_t)punct[rn((uint32_t)strlen(punct))];
    } else if (r < 66) { /* a code point from an interesting range */
        const uint32_t *g = ranges[rn(sizeof ranges / sizeof ranges[0])];
        uint32_t l = 1 + rn(3);
        for (uint32_t i = 0; i < l; i++)
            n += tt_put_utf8(o + n, g[0] + rn(g[1] - g[0] + 1));
    } else if (r < 76) {
        n = tt_put_utf8(o, singles[rn(sizeof singles / sizeof singles[0])]);
    } else if (r < 80) {
        const char *s = emo[rn(sizeof emo / sizeof emo[0])];
        memcpy(o, s, strlen(s));
        n = strlen(s);
    } else if (r < 85) { /* any scalar value */
        uint32_t c;
        do
            c = rn(4) ? rn(0x10000) : rn(0x110000);
        while (c >= 0xD800 && c <= 0xDFFF);
        n = tt_put_utf8(o, c);
    } else if (r < 88) { /* long runs: big pieces take the heap merge */
        uint32_t l = 100 + rn(500), t = rn(5);
        for (uint32_t i = 0; i < l; i++)
            o[n++] = t == 0 ? 'a' : t == 1 ? (uint8_t)('a' + rn(3)) : t == 2 ? (uint8_t)('0' + rn(10))
                     : t == 3 ? ' ' : (uint8_t)"=-*"[rn(3)];
    } else if (r < 91 && (kind & 1)) {
        const char *s = bad[rn(sizeof bad / sizeof bad[0])];
        memcpy(o, s, strlen(s));
        n = strlen(s);
    } else if (r < 93 && (kind & 2)) {
        const char *s = spec[rn(sizeof spec / sizeof spec[0])];
        memcpy(o, s, strlen(s));
        n = strlen(s);
    } else {
        o[n++] = (uint8_t)(' ' + rn(95));
    }
    return n;
}

size_t tt_random_text(uint8_t *buf, size_t cap, int kind)
{
    size_t n = 0;
    uint32_t atoms = rn(10) ? rn(12) : rn(40);
    uint8_t tmp[4096];
    for (uint32_t i = 0; i < atoms; i++) {
        size_t k = atom(tmp, kind);
        if (n + k > cap)
            break;
        memcpy(buf + n, tmp, k);
        n += k;
    }
    return n;
}
