/* A bump allocator over a list of blocks, everything freed at once: for the many small pieces one
 * parse or one encoding makes and drops together. */
#ifndef TEELM_UTIL_ARENA_H
#define TEELM_UTIL_ARENA_H

#include <stddef.h>

typedef struct tl_arena_blk tl_arena_blk;
typedef struct {
    tl_arena_blk *head;
    size_t total; /* bytes of all blocks */
    size_t max;   /* 0, or the most total may reach: a hostile input's allocations are bounded */
} tl_arena;       /* zero-initialize */

/* n bytes aligned for any type, not zeroed, valid until tl_arena_free; NULL when out of memory or
 * when a new block would take total past max. */
void *tl_arena_alloc(tl_arena *a, size_t n);
/* Frees every block; a (max kept) can be used again. */
void tl_arena_free(tl_arena *a);

#endif
