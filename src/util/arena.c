/* See arena.h. */
#include "util/arena.h"

#include <stdint.h>
#include <stdlib.h>

struct tl_arena_blk {
    struct tl_arena_blk *next;
    size_t used, cap;
    max_align_t data[];
};

void *tl_arena_alloc(tl_arena *a, size_t n)
{
    if (n > SIZE_MAX - sizeof(max_align_t))
        return NULL;
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (!a->head || a->head->cap - a->head->used < n) {
        /* 64 KiB blocks: few mallocs for small pieces; a larger piece gets a block of its own size */
        size_t cap = n > 65536 ? n : 65536;
        if (a->max && a->total + cap > a->max)
            return NULL;
        tl_arena_blk *blk = malloc(sizeof *blk + cap);
        if (!blk)
            return NULL;
        blk->next = a->head;
        blk->used = 0;
        blk->cap = cap;
        a->head = blk;
        a->total += cap;
    }
    void *p = (char *)a->head->data + a->head->used;
    a->head->used += n;
    return p;
}

void tl_arena_free(tl_arena *a)
{
    while (a->head) {
        tl_arena_blk *n = a->head->next;
        free(a->head);
        a->head = n;
    }
    a->total = 0;
}
