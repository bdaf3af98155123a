/* Minimal test harness: CHECK records a failure and continues; tests end with test_finish().
 *
 * Skips: a test that cannot run exits 77 (CTest's skip code) after saying why, through one of
 * the two skip calls below. Each records "kind<TAB>reason" in $TEELM_SKIP_DIR/$TEELM_TEST_NAME
 * (set by tests/teelm_test.cmake), and scripts/test-summary.sh lists every skip after `make test`:
 * a "shared" skip (../shared is absent) never fails the run, any other skip fails it unless
 * TEELM_ALLOW_SKIP=1. tests/util/skip.sh and skip.py give scripts the same two calls. */
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

/* Path of REL under ../shared ($TEELM_SHARED), or NULL (after printing why) when it is absent.
 * "fixtures/X" is taken from tests/fixtures/X in the source tree first: the repository carries
 * the fixtures whose licences allow it (tests/fixtures/README.md). */
const char *test_shared(const char *rel);
/* The cl100k_base ranks: ../shared/data/cl100k_base.tiktoken, else npm tiktoken's
 * cl100k_base.json (the same ranks); NULL (after printing why) when neither is there. */
const char *test_cl100k(void);
/* Skips because a tool or reference the test needs is missing: fails `make test` unless the
 * person running it set TEELM_ALLOW_SKIP=1 (scripts/install-deps.sh installs every one). */
void test_skip(const char *why) __attribute__((noreturn));
/* Skips because ../shared (the prototype's text and checkpoints) is absent: never fails the run.
 * When ../shared exists but lacks what the test needs, this is an ordinary (failing) skip. */
void test_skip_shared(const char *why) __attribute__((noreturn));
/* Prints a summary and returns the exit code for main: non-zero on a failed check, and also
 * when no check ran at all (a test that asserted nothing has not passed). */
int test_finish(void);
/* Creates a fresh temporary directory (removed by the caller or left in /tmp). */
const char *test_tmpdir(void);
/* Runs fn(&bad[i]) on n threads at once (n at most 16) and waits for all of them; each thread
 * counts what it found wrong in bad[i]. Returns 0, or -1 when a thread could not be started. */
int test_concurrently(void *(*fn)(void *), int *bad, int n);
/* Runs a shell command, returns its exit status (or -1). */
int test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The bytes of the file at path (malloc'd; *n their count), or NULL. */
unsigned char *test_slurp(const char *path, size_t *n);
/* $TEELM_PYTHON, checked to import modules ("numpy", "torch, numpy"); skips (test_skip) when it
 * is unset or cannot import them, or when $TEELM_SRC (the references' checkout, then set) is unset. */
const char *test_python(const char *modules);
/* Runs "$TEELM_PYTHON $TEELM_SRC/tests/reference/SCRIPT ARGS OUT" (fmt gives "SCRIPT ARGS", OUT is
 * a fresh temporary file) and returns OUT's bytes (NULL, after a failed check, when it fails);
 * skips as test_python("numpy") does. */
unsigned char *test_reference_bytes(size_t *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
