/* tiktoken's byte pair merge: repeatedly merge the adjacent pair whose bytes have the lowest rank,
 * the leftmost one on ties, until no adjacent pair is a token. */
#include <stdlib.h>

#include "tokenizer/tok_internal.h"

size_t tok_bpe_small(const tl_tokenizer *t, const uint8_t *p, size_t n, uint32_t *out)
{
    /* part i starts at start[i]; rank[i] is the rank of part i joined with part i+1 (TOK_NONE if
     * that is no token); tok[i] is part i's own rank. The last entry is the end sentinel. */
    uint32_t start[TOK_SMALL_PIECE + 1], rank[TOK_SMALL_PIECE + 1], tok[TOK_SMALL_PIECE + 1];
    size_t m = n + 1;
    uint32_t minr = TOK_NONE;
    size_t mini = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        uint32_t r = t->pair_rank[(uint32_t)p[i] << 8 | p[i + 1]];
        start[i] = (uint32_t)i;
        rank[i] = r;
        tok[i] = t->byte_rank[p[i]];
        if (r < minr) {
            minr = r;
            mini = i;
        }
    }
    start[n - 1] = (uint32_t)(n - 1);
    rank[n - 1] = TOK_NONE;
    tok[n - 1] = t->byte_rank[p[n - 1]];
    start[n] = (uint32_t)n;
    rank[n] = TOK_NONE;
    while (minr != TOK_NONE) {
        size_t i = mini;
        /* parts i and i+1 become one token (rank minr); recompute the pairs that touch it, reading
         * part i+2's end before part i+1 is removed, as tiktoken does */
        tok[i] = minr;
        if (i > 0)
            rank[i - 1] = i + 2 < m ? tok_rank(t, p + start[i - 1], start[i + 2] - start[i - 1]) : TOK_NONE;
        rank[i] = i + 3 < m ? tok_rank(t, p + start[i], start[i + 3] - start[i]) : TOK_NONE;
        for (size_t j = i + 1; j + 1 < m; j++) {
            start[j] = start[j + 1];
            rank[j] = rank[j + 1];
            tok[j] = tok[j + 1];
        }
        m--;
        minr = TOK_NONE;
        for (size_t j = 0; j + 1 < m; j++)
            if (rank[j] < minr) {
                minr = rank[j];
                mini = j;
            }
    }
    for (size_t i = 0; i + 1 < m; i++)
        out[i] = tok[i];
    return m - 1;
}

/* Heap of (rank << 32 | start): the smallest is the lowest rank, leftmost on ties, exactly the pair
 * the array version picks. Stale entries (a part merged away or re-ranked) are skipped when popped. */
void tok_heap_push(uint64_t *h, size_t *n, uint64_t v)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t par = (i - 1) / 2;
        if (h[par] <= v)
            break;
        h[i] = h[par];
        i = par;
    }
    h[i] = v;
}

uint64_t tok_heap_pop(uint64_t *h, size_t *n)
{
    uint64_t top = h[0], v = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && h[c + 1] < h[c])
            c++;
        if (h[c] >= v)
            break;
        h[i] = h[c];
        i = c;
    }
    if (*n)
        h[i] = v;
    return top;
}

size_t tok_bpe_large(const tl_tokenizer *t, const uint8_t *p, size_t n, uint32_t *out)
{
    /* parts are indexed by their start byte; nxt[i] is the next part's start (n = end), prv[i] the
     * previous one's; rank[i] pairs part i with the next; dead parts have nxt[i] == 0 */
    uint32_t *nxt = malloc((n + 1) * sizeof *nxt), *prv = malloc((n + 1) * sizeof *prv);
    uint32_t *rank = malloc((n + 1) * sizeof *rank), *tok = malloc((n + 1) * sizeof *tok);
    uint64_t *heap = malloc(3 * (n + 1) * sizeof *heap);
    size_t hn = 0, k = 0;
    if (!nxt || !prv || !rank || !tok || !heap) {
        free(nxt), free(prv), free(rank), free(tok), free(heap);
        return (size_t)-1;
    }
    for (size_t i = 0; i < n; i++) {
        nxt[i] = (uint32_t)i + 1;
        prv[i] = (uint32_t)i - 1;
        tok[i] = t->byte_rank[p[i]];
        rank[i] = i + 1 < n ? t->pair_rank[(uint32_t)p[i] << 8 | p[i + 1]] : TOK_NONE;
        if (rank[i] != TOK_NONE)
            tok_heap_push(heap, &hn, (uint64_t)rank[i] << 32 | i);
    }
    while (hn) {
        uint64_t top = tok_heap_pop(heap, &hn);
        uint32_t r = (uint32_t)(top >> 32), i = (uint32_t)top;
        if (nxt[i] == 0 || rank[i] != r)
            continue;
        uint32_t j = nxt[i], jn = nxt[j];
        tok[i] = r;
        nxt[i] = jn;
        nxt[j] = 0;
        if (jn < n)
            prv[jn] = i;
        rank[i] = jn < n ? tok_rank(t, p + i, nxt[jn] - i) : TOK_NONE;
        if (rank[i] != TOK_NONE)
            tok_heap_push(heap, &hn, (uint64_t)rank[i] << 32 | i);
        if (i > 0) {
            uint32_t h = prv[i];
            rank[h] = tok_rank(t, p + h, jn - h);
            if (rank[h] != TOK_NONE)
                tok_heap_push(heap, &hn, (uint64_t)rank[h] << 32 | h);
        }
    }
    for (size_t i = 0; i < n; i = nxt[i])
        out[k++] = tok[i];
    free(nxt), free(prv), free(rank), free(tok), free(heap);
    return k;
}
