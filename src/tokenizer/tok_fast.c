/* Hand-written ASCII pre-tokenizers for the cl100k and o200k patterns. Each returns the end of the
 * piece that starts at s[p] — exactly what PCRE2 would match there — or 0 when it cannot tell
 * without looking at a non-ASCII character, in which case the caller asks PCRE2. n is the slice end
 * (lookaheads see nothing beyond it). Proven against PCRE2 and npm tiktoken by tests/tokenizer. */
#include "tokenizer/tok_internal.h"

enum { UP = 1, LO = 2, DG = 4, WS = 8, NL = 16 };

/* ASCII classes: letters, digits, White_Space (\t \n \v \f \r and space), \r\n; the rest
 * (punctuation, controls) is "other": [^\s\p{L}\p{N}]. */
static const uint8_t cls[128] = {
    ['\t'] = WS, ['\n'] = WS | NL, ['\v'] = WS, ['\f'] = WS, ['\r'] = WS | NL, [' '] = WS,
    ['0'] = DG, ['1'] = DG, ['2'] = DG, ['3'] = DG, ['4'] = DG, ['5'] = DG, ['6'] = DG, ['7'] = DG, ['8'] = DG, ['9'] = DG,
    ['A'] = UP, ['B'] = UP, ['C'] = UP, ['D'] = UP, ['E'] = UP, ['F'] = UP, ['G'] = UP, ['H'] = UP, ['I'] = UP,
    ['J'] = UP, ['K'] = UP, ['L'] = UP, ['M'] = UP, ['N'] = UP, ['O'] = UP, ['P'] = UP, ['Q'] = UP, ['R'] = UP,
    ['S'] = UP, ['T'] = UP, ['U'] = UP, ['V'] = UP, ['W'] = UP, ['X'] = UP, ['Y'] = UP, ['Z'] = UP,
    ['a'] = LO, ['b'] = LO, ['c'] = LO, ['d'] = LO, ['e'] = LO, ['f'] = LO, ['g'] = LO, ['h'] = LO, ['i'] = LO,
    ['j'] = LO, ['k'] = LO, ['l'] = LO, ['m'] = LO, ['n'] = LO, ['o'] = LO, ['p'] = LO, ['q'] = LO, ['r'] = LO,
    ['s'] = LO, ['t'] = LO, ['u'] = LO, ['v'] = LO, ['w'] = LO, ['x'] = LO, ['y'] = LO, ['z'] = LO,
};
#define LETTER (UP | LO)
#define OTHER(c) (cls[c] == 0)

#define UNDECIDED ((size_t)-1)

/* (?i:'s|'t|'re|'ve|'m|'ll|'d) at s[q] == '\'': the end, q if no match, UNDECIDED if a non-ASCII
 * byte decides ('ſ is 's to tiktoken). */
static size_t contraction(const uint8_t *s, size_t n, size_t q)
{
    if (q + 1 >= n)
        return q;
    uint8_t c = s[q + 1];
    if (c >= 0x80)
        return UNDECIDED;
    c |= 0x20;
    if (c == 's' || c == 't' || c == 'm' || c == 'd')
        return q + 2;
    if (c != 'r' && c != 'v' && c != 'l')
        return q;
    if (q + 2 >= n)
        return q;
    uint8_t d = s[q + 2];
    if (d >= 0x80)
        return UNDECIDED;
    d |= 0x20;
    return (c == 'l' ? d == 'l' : d == 'e') ? q + 3 : q;
}

/* End of the maximal run of bytes whose class has one of the bits; 0 if it stops at non-ASCII. */
static size_t run(const uint8_t *s, size_t n, size_t q, uint8_t bits)
{
    while (q < n && s[q] < 0x80 && (cls[s[q]] & bits))
        q++;
    return q < n && s[q] >= 0x80 ? 0 : q;
}

/* \p{N}{1,3} */
static size_t digits(const uint8_t *s, size_t n, size_t p)
{
    size_t q = p;
    while (q < n && q < p + 3 && s[q] < 0x80 && (cls[s[q]] & DG))
        q++;
    return q < p + 3 && q < n && s[q] >= 0x80 ? 0 : q;
}

/* The shared tail of both patterns: ` ?[^\s\p{L}\p{N}]+` followed by [\r\n]* (cl100k) or [\r\n/]*
 * (o200k), then \s*[\r\n]+ | \s+(?!\S) | \s+. Called when the letter alternatives did not match. */
static size_t tail(const uint8_t *s, size_t n, size_t p, int slash)
{
    uint8_t c = s[p];
    size_t q0 = p + (c == ' ');
    if (q0 < n && s[q0] >= 0x80)
        return 0;
    if (q0 < n && OTHER(s[q0])) {
        size_t q = q0;
        while (q < n && s[q] < 0x80 && OTHER(s[q]))
            q++;
        if (q < n && s[q] >= 0x80)
            return 0;
        while (q < n && (s[q] == '\r' || s[q] == '\n' || (slash && s[q] == '/')))
            q++;
        return q;
    }
    if (!(cls[c] & WS))
        return 0;  /* not reached for ASCII input: every class is handled */
    size_t e = run(s, n, p, WS);
    if (!e)
        return 0;
    size_t last_nl = 0;
    for (size_t q = p; q < e; q++)
        if (cls[s[q]] & NL)
            last_nl = q + 1;
    if (last_nl)
        return last_nl;      /* \s*[\r\n]+ */
    if (e == n || e - p >= 2)
        return e == n ? e : e - 1;  /* \s+(?!\S) */
    return e;                /* \s+ */
}

size_t tok_fast_cl100k(const uint8_t *s, size_t n, size_t p)
{
    uint8_t c = s[p];
    if (c == '\'') {
        size_t q = contraction(s, n, p);
        if (q == UNDECIDED)
            return 0;
        if (q != p)
            return q;
    }
    size_t l = p;
    if (!(cls[c] & (LETTER | DG | NL))) {  /* optional [^\r\n\p{L}\p{N}] before letters */
        if (p + 1 >= n)
            return tail(s, n, p, 0);
        if (s[p + 1] >= 0x80)
            return 0;
        l = p + 1;
    }
    if (cls[s[l]] & LETTER)
        return run(s, n, l, LETTER);
    if (cls[c] & DG)
        return digits(s, n, p);
    return tail(s, n, p, 0);
}

/* Letters from q under o200k's two letter alternatives: [Lu..]*[Ll..]+ or [Lu..]+[Ll..]*, then an
 * optional contraction. In ASCII that is the uppercase run, then the lowercase run. */
static size_t o200k_letters(const uint8_t *s, size_t n, size_t q)
{
    size_t u = run(s, n, q, UP);
    if (!u)
        return 0;
    size_t l = run(s, n, u, LO);
    if (!l)
        return 0;
    if (l < n && s[l] == '\'') {
        size_t c = contraction(s, n, l);
        return c == UNDECIDED ? 0 : c;
    }
    return l;
}

size_t tok_fast_o200k(const uint8_t *s, size_t n, size_t p)
{
    uint8_t c = s[p];
    size_t l = p;
    if (!(cls[c] & (LETTER | DG | NL))) {
        if (p + 1 >= n)
            return tail(s, n, p, 1);
        if (s[p + 1] >= 0x80)
            return 0;
        l = p + 1;
    }
    if (cls[s[l]] & LETTER)
        return o200k_letters(s, n, l);
    if (cls[c] & DG)
        return digits(s, n, p);
    return tail(s, n, p, 1);
}
