/* Growth by doubling for dynamic arrays, written once: every parser and builder that appends
 * (pickle's stacks, the tokenizer's lists, the BPE trainer, the template renderer, response
 * buffers) grows through it, so the overflow check and the wiping of secret buffers live here. */
#ifndef TEELM_UTIL_GROW_H
#define TEELM_UTIL_GROW_H

#include <stddef.h>

/* Room for need elements in the array arr (an lvalue of pointer type, capacity *cap elements):
 * when need > *cap, the capacity doubles from *cap (from first when 0) until need fits and arr is
 * reallocated. Returns 0, or -1 when out of memory or when the size would pass SIZE_MAX (arr and
 * *cap unchanged). TL_GROW_SECRET grows through tl_sec_realloc, so the block it leaves behind is
 * wiped: for prompts, completions, token ids and response bodies. */
#define TL_GROW(arr, cap, need, first) tl_grow_if(&(arr), (cap), (need), sizeof *(arr), (first), 0)
#define TL_GROW_SECRET(arr, cap, need, first) tl_grow_if(&(arr), (cap), (need), sizeof *(arr), (first), 1)

/* arrp: the address of the array's pointer (read and written as bytes, so any pointer type). */
int tl_grow_(void *arrp, size_t *cap, size_t need, size_t elem, size_t first, int secret);
/* The test that fits stays inline: most calls push one element into room already there (a token
 * id, a tokenizer piece, a pickle stack slot), and they should not cost a call. */
static inline int tl_grow_if(void *arrp, size_t *cap, size_t need, size_t elem, size_t first, int secret)
{
    return need <= *cap ? 0 : tl_grow_(arrp, cap, need, elem, first, secret);
}

#endif
