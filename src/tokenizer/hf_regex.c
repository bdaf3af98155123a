/* tokenizer.json regexes for PCRE2. The reference (npm @huggingface/tokenizers) rewrites the Oniguruma
 * text of a Split pattern into a JavaScript regex and runs it with the `u` flag; this file rewrites the
 * same text into PCRE2 with the same meaning, for the constructs real tokenizer.json files use, and
 * refuses the others by name (docs/tokenizer.md):
 *   (?i:...)  ASCII-only case folding (the reference expands letters to [sS]; 'ſ does not match 's)
 *   \s \S     Unicode White_Space; \d = \p{Nd}; \p{X} gains node's newer Unicode (hf_unicode.c)
 *   (?>...)   becomes a plain group and a possessive quantifier a greedy one, as in the reference
 *   .  ^  $   [^\n], start or after \n, before \n or end (the reference's lookaround forms)
 * The ByteLevel pre-tokenizer's own pattern is JavaScript text whose \s is JavaScript's (U+FEFF yes,
 * U+0085 no). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/hf_internal.h"
#include "tokenizer/tok_text.h"

typedef tl_strbuf sb;

typedef struct {
    const char *s;
    size_t n, i;
    const char *what, *field;
    tl_err *err;
    int failed;
} rx;

static int refuse(rx *r, const char *why)
{
    if (!r->failed)
        tl_errf(r->err, TL_EINVAL, "%s: %s: unsupported regex construct at offset %zu: %s", r->what, r->field, r->i, why);
    r->failed = 1;
    return -1;
}

/* \p{X} / \P{X} at s[i] (i at the backslash): class content (no brackets) into b; *neg set for \P. */
static int prop(rx *r, sb *b, int in_class)
{
    char k = r->s[r->i + 1];
    size_t j = r->i + 2, nl;
    const char *name;
    if (j < r->n && r->s[j] == '{') {
        const char *close = memchr(r->s + j, '}', r->n - j);
        if (!close)
            return refuse(r, "unterminated \\p{");
        name = r->s + j + 1;
        nl = (size_t)(close - name);
        j = (size_t)(close - r->s) + 1;
    } else if (j < r->n) {
        name = r->s + j;
        nl = 1;
        j++;
    } else {
        return refuse(r, "unterminated \\p");
    }
    const tl_ucat_extra *e = tok_ucat_find(tl_ucat_extras_hf, name, nl);
    if (!e)
        return refuse(r, "Unicode property not supported (known: L Lu Lt Lm Lo M Mc N Nd Nl No P S Z Zs)");
    if (k == 'P' && in_class && e->n)
        return refuse(r, "\\P{X} inside a character class");
    if (!in_class)
        tok_sb_puts(b, k == 'P' ? "[^" : "[");
    tl_strbuf_put(b, "\\p{", 3);
    tl_strbuf_put(b, name, nl);
    tl_strbuf_putc(b, '}');
    if (k == 'p' || !in_class)
        tok_sb_ranges(b, e);
    if (!in_class)
        tok_sb_puts(b, "]");
    r->i = j;
    return 0;
}

/* An escape shared by both contexts: \s \S \d \D \r \n \t \f \v \xHH \x{H} \uHHHH \a \e and escaped
 * punctuation. Returns 1 if handled, 0 if not one of these, -1 on refusal. fold: ASCII letters from
 * hex escapes become [xX] (outside classes only). */
static int common_escape(rx *r, sb *b, int in_class, int fold)
{
    char d = r->s[r->i + 1];
    char tmp[32];
    switch (d) {
    case 's': tok_sb_puts(b, in_class ? "\\p{White_Space}" : "\\p{White_Space}"); r->i += 2; return 1;
    case 'S': tok_sb_puts(b, "\\P{White_Space}"); r->i += 2; return 1;
    case 'd':
    case 'D': {
        const tl_ucat_extra *e = tok_ucat_find(tl_ucat_extras_hf, "Nd", 2);
        if (d == 'D' && in_class && e->n)
            return refuse(r, "\\D inside a character class");
        if (!in_class)
            tok_sb_puts(b, d == 'D' ? "[^" : "[");
        tok_sb_puts(b, "\\p{Nd}");
        tok_sb_ranges(b, e);
        if (!in_class)
            tok_sb_puts(b, "]");
        r->i += 2;
        return 1;
    }
    case 'r': case 'n': case 't': case 'f': case 'v':
        tl_strbuf_put(b, r->s + r->i, 2);
        r->i += 2;
        return 1;
    case 'a': tok_sb_puts(b, "\\x07"); r->i += 2; return 1;
    case 'e': tok_sb_puts(b, "\\x1B"); r->i += 2; return 1;
    case 'x':
    case 'u': {
        size_t j = r->i + 2, k = j;
        unsigned long v = 0;
        if (d == 'x' && j < r->n && r->s[j] == '{') {
            k = ++j;
            while (k < r->n && k - j < 8 && strchr("0123456789abcdefABCDEF", r->s[k]) && r->s[k])
                k++;
            if (k == j || k >= r->n || r->s[k] != '}')
                return refuse(r, "malformed \\x{...}");
            v = strtoul(r->s + j, NULL, 16);
            k++;
        } else {
            size_t want = d == 'x' ? 2 : 4;
            for (size_t q = 0; q < want; q++)
                if (j + q >= r->n || !r->s[j + q] || !strchr("0123456789abcdefABCDEF", r->s[j + q]))
                    return refuse(r, d == 'x' ? "malformed \\xHH" : "malformed \\uHHHH");
            char h[5] = {0};
            memcpy(h, r->s + j, want);
            v = strtoul(h, NULL, 16);
            k = j + want;
        }
        if (v > 0x10FFFF || (v >= 0xD800 && v < 0xE000))
            return refuse(r, "escape outside the Unicode scalar values");
        if (fold && !in_class && v < 128 && ((v | 0x20) >= 'a' && (v | 0x20) <= 'z'))
            snprintf(tmp, sizeof tmp, "[%c%c]", (char)(v | 0x20), (char)(v & ~0x20u));
        else
            snprintf(tmp, sizeof tmp, "\\x{%lX}", v);
        tok_sb_puts(b, tmp);
        r->i = k;
        return 1;
    }
    case 'p':
    case 'P':
        return prop(r, b, in_class) ? -1 : 1;
    default:
        break;
    }
    if ((d >= 'a' && d <= 'z') || (d >= 'A' && d <= 'Z') || (d >= '0' && d <= '9'))
        return 0;
    /* escaped punctuation or other character: literal */
    if ((unsigned char)d < 0x80) {
        tmp[0] = '\\';
        tmp[1] = d;
        tl_strbuf_put(b, tmp, 2);
        r->i += 2;
    } else {
        size_t l = hf_clen((uint8_t)d);
        tl_strbuf_put(b, r->s + r->i + 1, l);
        r->i += 1 + l;
    }
    return 1;
}

/* [...] at s[i]. fold: the reference adds the other case of each ASCII letter the class holds in one
 * case only; computed here with PCRE2 on the class itself. */
static int char_class(rx *r, sb *b, int fold)
{
    sb c = {0};
    size_t start = r->i;
    r->i++;
    int neg = 0;
    if (r->i < r->n && r->s[r->i] == '^') {
        neg = 1;
        r->i++;
    }
    size_t first = r->i;
    for (;;) {
        if (r->i >= r->n) {
            free(c.p);
            r->i = start;
            return refuse(r, "unterminated character class");
        }
        char ch = r->s[r->i];
        if (ch == ']' && r->i > first)
            break;
        if (ch == ']') {  /* leading ] is literal */
            tok_sb_puts(&c, "\\]");
            r->i++;
            continue;
        }
        if (ch == '[') {
            free(c.p);
            return refuse(r, "nested character classes and POSIX brackets");
        }
        if (ch == '&' && r->i + 1 < r->n && r->s[r->i + 1] == '&') {
            free(c.p);
            return refuse(r, "character-class intersection &&");
        }
        if (ch == '\\') {
            if (r->i + 1 >= r->n) {
                free(c.p);
                return refuse(r, "unterminated escape");
            }
            int h = common_escape(r, &c, 1, 0);
            if (h < 0) {
                free(c.p);
                return -1;
            }
            if (h == 0) {
                free(c.p);
                return refuse(r, "escape not supported inside a character class");
            }
            continue;
        }
        size_t l = hf_clen((uint8_t)ch);
        if (ch == '^')
            tok_sb_puts(&c, "\\^");
        else
            tl_strbuf_put(&c, r->s + r->i, l);
        r->i += l;
    }
    r->i++;  /* ] */
    if (c.oom) {
        free(c.p);
        r->failed = 1;
        return tl_errf(r->err, TL_ENOMEM, "%s: out of memory", r->what) ? -1 : -1;
    }
    if (fold) {
        /* which ASCII letters the positive class holds */
        sb pos = {0};
        tok_sb_puts(&pos, "^[");
        tl_strbuf_put(&pos, c.p, c.n);
        tok_sb_puts(&pos, "]$");
        int ec;
        PCRE2_SIZE eo;
        pcre2_code *re = pos.oom ? NULL : pcre2_compile((PCRE2_SPTR)pos.p, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP,
                                                        &ec, &eo, NULL);
        free(pos.p);
        if (!re) {
            free(c.p);
            return refuse(r, "character class does not compile");
        }
        pcre2_match_data *md = pcre2_match_data_create(1, NULL);
        for (int k = 0; md && k < 26; k++) {
            char up = (char)('A' + k), lo = (char)('a' + k);
            int hu = pcre2_match(re, (PCRE2_SPTR)&up, 1, 0, 0, md, NULL) >= 0;
            int hl = pcre2_match(re, (PCRE2_SPTR)&lo, 1, 0, 0, md, NULL) >= 0;
            if (hu != hl)
                tl_strbuf_put(&c, hu ? &lo : &up, 1);
        }
        pcre2_match_data_free(md);
        pcre2_code_free(re);
    }
    tok_sb_puts(b, neg ? "[^" : "[");
    tl_strbuf_put(b, c.p, c.n);
    tok_sb_puts(b, "]");
    free(c.p);
    return 0;
}

static char *translate(rx *r)
{
    sb b = {0};
    int fold = 0, depth = 0;
    int folds[256];
    int last_quant = 0, have_atom = 0;
    tl_strbuf_put(&b, "", 0);
    while (r->i < r->n && !r->failed) {
        char ch = r->s[r->i];
        if (ch == '\\') {
            if (r->i + 1 >= r->n) {
                refuse(r, "trailing backslash");
                break;
            }
            char d = r->s[r->i + 1];
            if (d == 'A' || d == 'z') {
                tl_strbuf_put(&b, r->s + r->i, 2);
                r->i += 2;
            } else if (d == 'Z') {
                tok_sb_puts(&b, "(?=\\n?\\z)");
                r->i += 2;
            } else {
                int h = common_escape(r, &b, 0, fold);
                if (h < 0)
                    break;
                if (h == 0) {
                    refuse(r, "escape not supported (\\w \\b \\G back-references ...)");
                    break;
                }
            }
            last_quant = 0;
            have_atom = 1;
            continue;
        }
        switch (ch) {
        case '[':
            if (char_class(r, &b, fold))
                goto out;
            last_quant = 0;
            have_atom = 1;
            continue;
        case ']': tok_sb_puts(&b, "\\]"); r->i++; last_quant = 0; have_atom = 1; continue;
        case '.': tok_sb_puts(&b, "[^\\n]"); r->i++; last_quant = 0; have_atom = 1; continue;
        case '^': tok_sb_puts(&b, "(?:\\A|(?<=\\n))"); r->i++; last_quant = 0; have_atom = 1; continue;
        case '$': tok_sb_puts(&b, "(?:(?=\\n)|\\z)"); r->i++; last_quant = 0; have_atom = 1; continue;
        case '(': {
            static const char *keep[] = {"(?:", "(?=", "(?!", "(?<=", "(?<!", NULL};
            const char *rest = r->s + r->i;
            size_t left = r->n - r->i, used = 0;
            if (depth >= 255) {
                refuse(r, "groups nested too deeply");
                goto out;
            }
            folds[depth++] = fold;
            if (left >= 4 && memcmp(rest, "(?i:", 4) == 0) {
                tok_sb_puts(&b, "(?:");
                fold = 1;
                used = 4;
            } else if (left >= 3 && memcmp(rest, "(?>", 3) == 0) {
                tok_sb_puts(&b, "(?:");
                used = 3;
            } else if (left >= 2 && rest[1] == '?') {
                for (int k = 0; keep[k]; k++)
                    if (left >= strlen(keep[k]) && memcmp(rest, keep[k], strlen(keep[k])) == 0)
                        used = strlen(keep[k]);
                if (!used) {
                    refuse(r, "group kind not supported (named groups, inline flags other than (?i:...))");
                    goto out;
                }
                tl_strbuf_put(&b, rest, used);
            } else {
                tok_sb_puts(&b, "(");
                used = 1;
            }
            r->i += used;
            last_quant = 0;
            have_atom = 0;
            continue;
        }
        case ')':
            if (depth == 0) {
                refuse(r, "unbalanced )");
                goto out;
            }
            fold = folds[--depth];
            tok_sb_puts(&b, ")");
            r->i++;
            last_quant = 0;
            have_atom = 1;
            continue;
        case '|': tok_sb_puts(&b, "|"); r->i++; last_quant = 0; have_atom = 0; continue;
        case '{': {
            size_t j = r->i + 1, d1 = j;
            while (j < r->n && r->s[j] >= '0' && r->s[j] <= '9')
                j++;
            int has_comma = j < r->n && r->s[j] == ',';
            size_t d2 = j + has_comma, e = d2;
            while (has_comma && e < r->n && r->s[e] >= '0' && r->s[e] <= '9')
                e++;
            int ok = e < r->n && r->s[e] == '}' && (j > d1 || (has_comma && e > d2));
            if (!ok || !have_atom || last_quant) {
                tok_sb_puts(&b, "\\{");
                r->i++;
                last_quant = 0;
                have_atom = 1;
                continue;
            }
            if (e + 1 < r->n && (r->s[e + 1] == '+' || r->s[e + 1] == '*')) {
                refuse(r, "a quantifier applied to {n,m}");
                goto out;
            }
            tok_sb_puts(&b, "{");
            if (j == d1)
                tok_sb_puts(&b, "0");
            tl_strbuf_put(&b, r->s + d1, e - d1);
            tok_sb_puts(&b, "}");
            r->i = e + 1;
            last_quant = 1;
            continue;
        }
        case '}': tok_sb_puts(&b, "\\}"); r->i++; last_quant = 0; have_atom = 1; continue;
        case '+':
            r->i++;
            if (last_quant)
                continue;  /* possessive: the reference drops it */
            tok_sb_puts(&b, "+");
            last_quant = 1;
            continue;
        case '*':
        case '?':
            tl_strbuf_put(&b, &ch, 1);
            r->i++;
            last_quant = 1;
            continue;
        default: {
            size_t l = hf_clen((uint8_t)ch);
            if (fold && ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z')) {
                char tmp[4] = {'[', (char)(ch | 0x20), (char)(ch & ~0x20), ']'};
                tl_strbuf_put(&b, tmp, 4);
            } else {
                tl_strbuf_put(&b, r->s + r->i, l);
            }
            r->i += l;
            last_quant = 0;
            have_atom = 1;
            continue;
        }
        }
    }
out:
    if (!r->failed && depth)
        refuse(r, "unbalanced (");
    if (r->failed || b.oom) {
        if (!r->failed)
            tl_errf(r->err, TL_ENOMEM, "%s: out of memory", r->what);
        free(b.p);
        return NULL;
    }
    return b.p;
}

static int compile(const char *tp, pcre2_code **re, int *jit, const char *what, const char *field, tl_err *err)
{
    int ec;
    PCRE2_SIZE eo;
    *re = pcre2_compile((PCRE2_SPTR)tp, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
    if (!*re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        return tl_errf(err, TL_EINVAL, "%s: %s: the regex does not compile: %s", what, field, (char *)msg);
    }
    *jit = pcre2_jit_compile(*re, PCRE2_JIT_COMPLETE) == 0;
    return 0;
}

int hf_compile_regex(const char *pat, size_t len, pcre2_code **re, int *jit, const char *what, const char *field,
                     tl_err *err)
{
    if (memchr(pat, 0, len))
        return tl_errf(err, TL_EINVAL, "%s: %s: the regex contains a NUL character", what, field);
    if (len > 65536)
        return tl_errf(err, TL_EINVAL, "%s: %s: the regex is longer than 65536 bytes", what, field);
    rx r = {pat, len, 0, what, field, err, 0};
    char *tp = translate(&r);
    if (!tp)
        return err ? err->code : TL_EINVAL;
    int rc = compile(tp, re, jit, what, field, err);
    free(tp);
    return rc;
}

#define JS_WS "\\t\\n\\x0B\\f\\r \\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}\\x{FEFF}"

int hf_compile_bytelevel(pcre2_code **re, int *jit, const char *what, tl_err *err)
{
    sb b = {0}, l = {0}, n = {0};
    tl_strbuf_put(&l, "\\p{L}", 5);
    tok_sb_ranges(&l, tok_ucat_find(tl_ucat_extras_hf, "L", 1));
    tl_strbuf_put(&n, "\\p{N}", 5);
    tok_sb_ranges(&n, tok_ucat_find(tl_ucat_extras_hf, "N", 1));
    if (l.oom || n.oom) {
        free(l.p), free(n.p);
        return tl_errf(err, TL_ENOMEM, "%s: out of memory", what);
    }
    tok_sb_puts(&b, "'s|'t|'re|'ve|'m|'ll|'d| ?[");
    tok_sb_puts(&b, l.p);
    tok_sb_puts(&b, "]+| ?[");
    tok_sb_puts(&b, n.p);
    tok_sb_puts(&b, "]+| ?[^" JS_WS);
    tok_sb_puts(&b, l.p);
    tok_sb_puts(&b, n.p);
    tok_sb_puts(&b, "]+|[" JS_WS "]+(?![^" JS_WS "])|[" JS_WS "]+");
    free(l.p), free(n.p);
    if (b.oom) {
        free(b.p);
        return tl_errf(err, TL_ENOMEM, "%s: out of memory", what);
    }
    int rc = compile(b.p, re, jit, what, "pre_tokenizer ByteLevel", err);
    free(b.p);
    return rc;
}
