/* Bounded-rate logging of repeated events (e.g. refused connections): at most one line per
 * interval per kind, and what was held back is counted and reported, never lost silently.
 * Internal to src/net; single-threaded (the loop thread). */
#ifndef TEELM_NET_RATELOG_H
#define TEELM_NET_RATELOG_H

typedef struct {
    double last;              /* when the last line went out (monotonic seconds; 0: never) */
    unsigned long suppressed; /* events held back since then */
} tl_ratelog;

/* An event at time now: returns 1 when a line may be written now (the caller writes it and
 * reports *held, the events held back before it), else 0 (the event is counted). */
int tl_ratelog_event(tl_ratelog *r, double now, double interval, unsigned long *held);
/* Takes the count of held-back events (for a summary line once the interval is over). */
unsigned long tl_ratelog_take(tl_ratelog *r, double now);

#endif
