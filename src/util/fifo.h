/* An intrusive FIFO queue, written once for the scheduler's jobs, the server's preparation
 * items and the proxy's requests: items of any struct type linked through a `next` member, held
 * by a head and a tail pointer (both NULL when empty). Callers hold their own lock. */
#ifndef TEELM_UTIL_FIFO_H
#define TEELM_UTIL_FIFO_H

/* Appends item (its next is set to NULL) at the tail. */
#define TL_FIFO_PUSH(head, tail, item)   \
    do {                                 \
        (item)->next = NULL;             \
        if (tail)                        \
            (tail)->next = (item);       \
        else                             \
            (head) = (item);             \
        (tail) = (item);                 \
    } while (0)

/* Takes the first item off into out: NULL when the queue is empty. */
#define TL_FIFO_POP(head, tail, out)     \
    do {                                 \
        (out) = (head);                  \
        if (out) {                       \
            (head) = (out)->next;        \
            if (!(head))                 \
                (tail) = NULL;           \
        }                                \
    } while (0)

#endif
