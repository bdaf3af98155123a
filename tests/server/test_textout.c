/* Completion text assembly: stop sequences end the text before them (never sent in part), UTF-8
 * characters split over tokens are never split over chunks, and for every way of splitting a text
 * into tokens the streamed chunks concatenate to the non-streamed text. */
#include <stdlib.h>
#include <string.h>

#include "util/secmem.h"
#include "server/textout.h"
#include "test.h"

/* Feeds text split at the given cut points, collecting chunks; returns the concatenation. */
static char *run(const char *text, size_t n, const size_t *cuts, int ncut, const char *const *stop, const size_t *sl,
                 int nstop, int *stopped, int check_chunks)
{
    tl_textout t;
    tl_textout_init(&t, stop, sl, nstop);
    char *all = calloc(1, n + 1);
    size_t w = 0, prev = 0;
    *stopped = 0;
    for (int i = 0; i <= ncut; i++) {
        size_t end = i < ncut ? cuts[i] : n;
        int rc = tl_textout_push(&t, (const uint8_t *)text + prev, end - prev);
        prev = end;
        const char *p;
        size_t k = tl_textout_take(&t, rc == 1 || i == ncut, &p);
        if (check_chunks && k) {
            /* each chunk alone is valid UTF-8 unless the text itself is not */
            char *s;
            long sn = tl_utf8_sanitize(p, k, &s);
            CHECKF(sn == (long)k && !memcmp(s, p, k), "chunk of %zu bytes is not valid UTF-8 on its own", k);
            tl_sec_free(s);
        }
        memcpy(all + w, p, k);
        w += k;
        if (rc == 1) {
            *stopped = 1;
            break;
        }
    }
    all[w] = 0;
    tl_textout_free(&t);
    return all;
}

static void sanitize_is(const char *in, size_t n, const char *want, size_t wn)
{
    char *o;
    long k = tl_utf8_sanitize(in, n, &o);
    CHECKF(k == (long)wn && !memcmp(o, want, (size_t)k), "sanitize gave %ld bytes", k);
    tl_sec_free(o);
}

#define SAN(in, want) sanitize_is(in, sizeof in - 1, want, sizeof want - 1)

int main(void)
{
    /* stop sequences */
    const char *stop[] = {"\n\n", "END"};
    const size_t sl[] = {2, 3};
    const char *text = "Hello world.\nMore text\n\nnever";
    size_t n = strlen(text);
    int stopped;
    /* every single cut and every pair of cuts */
    for (size_t a = 0; a <= n; a++)
        for (size_t b = a; b <= n; b++) {
            size_t cuts[2] = {a, b};
            char *got = run(text, n, cuts, 2, stop, sl, 2, &stopped, 1);
            CHECKF(!strcmp(got, "Hello world.\nMore text") && stopped, "cuts %zu,%zu gave '%s'", a, b, got);
            free(got);
        }
    /* the earliest stop wins, even if a later-listed one completes first in the token stream */
    {
        const char *t2 = "abENDxy\n\n";
        size_t cuts[] = {4, 5, 9};
        char *got = run(t2, strlen(t2), cuts, 3, stop, sl, 2, &stopped, 1);
        CHECK(!strcmp(got, "ab") && stopped);
        free(got);
        /* a stop sequence completed inside one token */
        size_t one[] = {0};
        got = run(t2, strlen(t2), one, 0, stop, sl, 2, &stopped, 1);
        CHECK(!strcmp(got, "ab") && stopped);
        free(got);
    }
    /* a held-back partial stop that does not complete is released */
    {
        const char *t3 = "xEN";
        size_t cuts[] = {1, 2};
        char *got = run(t3, 3, cuts, 2, stop, sl, 2, &stopped, 1);
        CHECK(!strcmp(got, "xEN") && !stopped);
        free(got);
        tl_textout t;
        tl_textout_init(&t, stop, sl, 2);
        const char *p;
        tl_textout_push(&t, (const uint8_t *)"xEN", 3);
        CHECK(tl_textout_take(&t, 0, &p) == 1 && p[0] == 'x'); /* "EN" may start END: held */
        tl_textout_push(&t, (const uint8_t *)"D", 1);
        CHECK(t.stopped && tl_textout_take(&t, 1, &p) == 0);
        tl_textout_free(&t);
    }
    /* UTF-8: é (2 bytes), € (3), 😀 (4) split at every point: chunks valid, whole text kept */
    {
        const char *u = "a\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80!";
        size_t un = strlen(u);
        for (size_t a = 0; a <= un; a++)
            for (size_t b = a; b <= un; b++) {
                size_t cuts[2] = {a, b};
                char *got = run(u, un, cuts, 2, NULL, NULL, 0, &stopped, 1);
                CHECK(!strcmp(got, u) && !stopped);
                free(got);
            }
        /* with a multi-byte stop sequence */
        const char *st[] = {"\xe2\x82\xac"};
        size_t stl[] = {3};
        for (size_t a = 0; a <= un; a++) {
            size_t cuts[1] = {a};
            char *got = run(u, un, cuts, 1, st, stl, 1, &stopped, 1);
            CHECK(!strcmp(got, "a\xc3\xa9 ") && stopped);
            free(got);
        }
    }
    /* invalid UTF-8: sanitized per maximal subpart (Unicode 15 section 3.9 examples) */
    SAN("ab", "ab");
    SAN("\x80", "\xef\xbf\xbd");
    SAN("\xe2\x82", "\xef\xbf\xbd");                            /* truncated: one U+FFFD */
    SAN("\xe2\x82" "A", "\xef\xbf\xbd" "A");
    SAN("\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd");                /* overlong: two */
    SAN("\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* surrogate: three */
    SAN("\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* > U+10FFFF */
    SAN("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80");
    SAN("a\0b", "a\0b");
    /* invalid bytes split over tokens: streamed concatenation sanitizes like the whole text */
    {
        const char *bad = "x\xe2\x82y\xf0\x9f\x98z\xc3";
        size_t bn = 9;
        char *whole;
        long wn = tl_utf8_sanitize(bad, bn, &whole);
        for (size_t a = 0; a <= bn; a++) {
            size_t cuts[1] = {a};
            tl_textout t;
            tl_textout_init(&t, NULL, NULL, 0);
            char acc[64] = "";
            size_t an = 0, prev = 0;
            for (int i = 0; i <= 1; i++) {
                size_t end = i < 1 ? cuts[0] : bn;
                tl_textout_push(&t, (const uint8_t *)bad + prev, end - prev);
                prev = end;
                const char *p;
                size_t k = tl_textout_take(&t, i == 1, &p);
                char *s;
                long sn = tl_utf8_sanitize(p, k, &s);
                memcpy(acc + an, s, (size_t)sn);
                an += (size_t)sn;
                tl_sec_free(s);
            }
            CHECKF(an == (size_t)wn && !memcmp(acc, whole, an), "cut %zu", a);
            tl_textout_free(&t);
        }
        tl_sec_free(whole);
    }
    return test_finish();
}
