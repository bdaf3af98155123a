/* Timing helper for bench/weights.sh (not a test): loads a model N times with tl_checkpoint_load
 * and prints the median and best wall time in milliseconds. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "formats/checkpoint.h"

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bench_weights_load MODEL REPS\n");
        return 2;
    }
    int reps = atoi(argv[2]);
    if (reps < 1 || reps > 1000)
        return 2;
    double *ms = calloc((size_t)reps, sizeof *ms);
    for (int i = 0; i < reps; i++) {
        struct timespec a, b;
        tl_checkpoint ck;
        tl_err err = {0};
        clock_gettime(CLOCK_MONOTONIC, &a);
        if (tl_checkpoint_load(argv[1], &ck, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        tl_checkpoint_free(&ck);
        ms[i] = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    }
    qsort(ms, (size_t)reps, sizeof *ms, cmp);
    printf("%.3f %.3f\n", ms[reps / 2], ms[0]);
    free(ms);
    return 0;
}
