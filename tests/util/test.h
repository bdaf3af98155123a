/* Minimal test harness: CHECK records a failure and continues; tests end with test_finish(). */
#ifndef TEELM_TEST_H
#define TEELM_TEST_H

#include <stdio.h>
#include <stdlib.h>

extern int test_failures;
extern int test_checks;

#define CHECK(cond) do { test_checks++; if (!(cond)) { test_failures++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECKF(cond, ...) do { test_checks++; if (!(cond)) { test_failures++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

/* Path under the shared fixtures dir, or NULL (after printing why) when it is absent. */
const char *test_shared(const char *rel);
/* Exits 77 (CTest skip) after printing the reason. */
void test_skip(const char *why) __attribute__((noreturn));
/* Prints a summary and returns the exit code for main. */
int test_finish(void);
/* Creates a fresh temporary directory (removed by the caller or left in /tmp). */
const char *test_tmpdir(void);
/* Runs a shell command, returns its exit status (or -1). */
int test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
