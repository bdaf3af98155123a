#include "server/textout.h"

#include <string.h>

#include "util/grow.h"
#include "util/secmem.h"

void tl_textout_init(tl_textout *t, const char *const *stop, const size_t *stop_len, int nstop)
{
    memset(t, 0, sizeof *t);
    t->stop = stop;
    t->stop_len = stop_len;
    t->nstop = nstop;
    for (int i = 0; i < nstop; i++)
        if (stop_len[i] > t->max_stop)
            t->max_stop = stop_len[i];
}

int tl_textout_push(tl_textout *t, const uint8_t *bytes, size_t n)
{
    if (t->stopped)
        return 1;
    if (TL_GROW_SECRET(t->buf, &t->cap, t->len + n + 1, 256))
        return -1;
    size_t old = t->len;
    memcpy(t->buf + t->len, bytes, n);
    t->len += n;
    t->buf[t->len] = 0;
    /* a new match must end inside the new bytes: start looking max_stop-1 bytes before them */
    size_t from = old > t->max_stop ? old - t->max_stop + 1 : 0;
    if (from < t->sent)
        from = t->sent;
    size_t best = (size_t)-1;
    for (int i = 0; i < t->nstop; i++) {
        const char *hit = memmem(t->buf + from, t->len - from, t->stop[i], t->stop_len[i]);
        if (hit && (size_t)(hit - t->buf) < best)
            best = (size_t)(hit - t->buf);
    }
    if (best != (size_t)-1) {
        memset(t->buf + best, 0, t->len - best);
        t->len = best;
        t->stopped = 1;
        return 1;
    }
    return 0;
}

/* Length of a UTF-8 sequence from its lead byte, 0 for a byte that cannot lead. */
static int seq_len(unsigned char c)
{
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return 2;
    if (c >= 0xe0 && c <= 0xef)
        return 3;
    if (c >= 0xf0 && c <= 0xf4)
        return 4;
    return 0;
}

/* Second-byte ranges that keep a sequence well-formed (Unicode Table 3-7). */
static int second_ok(unsigned char lead, unsigned char c)
{
    unsigned char lo = 0x80, hi = 0xbf;
    if (lead == 0xe0)
        lo = 0xa0;
    else if (lead == 0xed)
        hi = 0x9f;
    else if (lead == 0xf0)
        lo = 0x90;
    else if (lead == 0xf4)
        hi = 0x8f;
    return c >= lo && c <= hi;
}

/* Bytes at the end of s[0..n) that are a well-formed but unfinished sequence (0 if none). */
static size_t unfinished_tail(const char *s, size_t n)
{
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        unsigned char c = (unsigned char)s[n - back];
        if ((c & 0xc0) == 0x80)
            continue; /* continuation byte: keep looking for its lead */
        int need = seq_len(c);
        if (need <= (int)back)
            return 0;
        if (back >= 2 && !second_ok(c, (unsigned char)s[n - back + 1]))
            return 0;
        return back;
    }
    return 0;
}

size_t tl_textout_take(tl_textout *t, int final, const char **out)
{
    size_t end = t->len;
    if (!final && !t->stopped) {
        /* hold back the longest tail that is a proper prefix of some stop sequence */
        size_t hold = 0;
        for (int i = 0; i < t->nstop; i++) {
            size_t k = t->stop_len[i] - 1 < t->len ? t->stop_len[i] - 1 : t->len;
            for (; k > hold; k--)
                if (memcmp(t->buf + t->len - k, t->stop[i], k) == 0) {
                    hold = k;
                    break;
                }
        }
        end = t->len - hold;
        end -= unfinished_tail(t->buf, end);
    }
    if (end < t->sent)
        end = t->sent;
    *out = t->buf ? t->buf + t->sent : "";
    size_t n = end - t->sent;
    t->sent = end;
    return n;
}

void tl_textout_free(tl_textout *t)
{
    tl_sec_free(t->buf);
    memset(t, 0, sizeof *t);
}

long tl_utf8_sanitize(const char *s, size_t n, char **out)
{
    /* worst case: every byte becomes U+FFFD (3 bytes) */
    char *o = tl_sec_malloc(3 * n + 1);
    if (!o)
        return -1;
    size_t w = 0, i = 0;
    const unsigned char *u = (const unsigned char *)s;
    while (i < n) {
        int need = seq_len(u[i]);
        if (need == 1) {
            o[w++] = (char)u[i++];
            continue;
        }
        /* take the longest well-formed prefix of the sequence */
        size_t j = i + 1;
        if (need > 1 && j < n && second_ok(u[i], u[j])) {
            j++;
            while ((int)(j - i) < need && j < n && (u[j] & 0xc0) == 0x80)
                j++;
        }
        if (need > 1 && (int)(j - i) == need) {
            memcpy(o + w, s + i, (size_t)need);
            w += (size_t)need;
        } else {
            memcpy(o + w, "\xef\xbf\xbd", 3); /* one U+FFFD per maximal subpart */
            w += 3;
        }
        i = j;
    }
    o[w] = 0;
    *out = o;
    return (long)w;
}
