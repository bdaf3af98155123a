/* Chat prompt to ids: see chat_encode.h. Why two encodings: BPE pieces cross the boundaries
 * between template text and content ("[INST] " + "Hi" is one piece " Hi" in the whole string, two
 * pieces when encoded apart), so only the whole string gives the model's ids; and only the
 * per-segment encoding is known to keep content out of the control tokens. When their special
 * tokens agree the whole string adds no control token, and its ids are used. */
#include "chat/chat_encode.h"

#include <string.h>

#include "util/grow.h"
#include "util/secmem.h"

/* Segment by segment; ids grow in a tl_sec_malloc buffer. */
static int encode_segments(const tl_tokenizer *tok, const tl_chat_prompt *p, uint32_t **ids, size_t *n, tl_err *err)
{
    size_t cap = 0;
    *ids = NULL;
    *n = 0;
    for (size_t i = 0; i < p->n_segs; i++) {
        uint32_t *part = NULL;
        size_t k = 0;
        unsigned fl = p->segs[i].kind == TL_CHAT_SEG_CONTENT ? TL_TOK_PLAIN : 0;
        if (tl_tokenizer_encode_ex(tok, p->text + p->segs[i].off, p->segs[i].len, fl, &part, &k, err))
            goto fail;
        if (TL_GROW_SECRET(*ids, &cap, *n + k, 256)) {
            tl_sec_free(part);
            tl_errf(err, TL_ENOMEM, "out of memory");
            goto fail;
        }
        if (k)
            memcpy(*ids + *n, part, k * sizeof *part);
        *n += k;
        tl_sec_free(part);
    }
    return 0;
fail:
    tl_sec_free(*ids);
    *ids = NULL;
    *n = 0;
    return -1;
}

/* Whether a and b hold the same special tokens in the same order. */
static int same_specials(const tl_tokenizer *tok, const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    size_t i = 0, j = 0;
    for (;;) {
        while (i < na && !tl_tokenizer_id_is_special(tok, a[i]))
            i++;
        while (j < nb && !tl_tokenizer_id_is_special(tok, b[j]))
            j++;
        if (i == na || j == nb)
            return i == na && j == nb;
        if (a[i++] != b[j++])
            return 0;
    }
}

int tl_chat_encode(const tl_tokenizer *tok, const tl_chat_prompt *p, uint32_t **ids, size_t *n, int *whole,
                   tl_err *err)
{
    uint32_t *seg = NULL, *all = NULL;
    size_t nseg = 0, nall = 0;
    if (whole)
        *whole = 0;
    *ids = NULL;
    *n = 0;
    if (encode_segments(tok, p, &seg, &nseg, err))
        return -1;
    if (tl_tokenizer_encode_ex(tok, p->text, p->len, 0, &all, &nall, err)) {
        tl_sec_free(seg);
        return -1;
    }
    if (!same_specials(tok, seg, nseg, all, nall)) {
        tl_sec_free(all);
        *ids = seg;
        *n = nseg;
        return 0;
    }
    tl_sec_free(seg);
    *ids = all; /* encode_ex's malloc block: tl_sec_malloc is malloc, tl_sec_free wipes it */
    *n = nall;
    if (whole)
        *whole = 1;
    return 0;
}
