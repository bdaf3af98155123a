/* Shared helpers of the chat-template tests: source paths and rendering one conversation. */
#ifndef TEELM_TESTS_CHAT_TESTUTIL_H
#define TEELM_TESTS_CHAT_TESTUTIL_H

#include <jansson.h>
#include <stddef.h>

#include "chat/chat_template.h"

/* The checkout (TEELM_SRC, or "." when unset). */
const char *ct_src_dir(void);
/* Skips the test unless every npm package of the NULL-terminated pkgs is in the checkout's
 * node_modules and node runs: the references the tests compare with. */
void ct_require_node(const char *const *pkgs);
/* Reads a whole file under the checkout; NULL when absent. */
char *ct_read(const char *rel, size_t *len);
/* Renders src; returns the tl_err code, fills *out (caller frees) and err. */
int ct_render(const char *src, const tl_chat_msg *msgs, size_t n, int agp, tl_chat_prompt *out, tl_err *err);

/* One template of tests/fixtures/chat_templates: its file name and source. */
typedef struct {
    char *name, *src;
} ct_fixture;
/* Reads every *.jinja template of tests/fixtures/chat_templates into t (at most max), sorted by
 * name so that reports and case order are stable; CHECKs that each one reads and that there are at
 * least 12 of them. Returns how many were read. */
size_t ct_load_fixtures(ct_fixture *t, size_t max);
void ct_free_fixtures(ct_fixture *t, size_t n);
/* Runs the node reference tests/reference/SCRIPT (TZ=UTC, so strftime_now() renders `now` as
 * teelm does) on in, written to dir/cases.json, and returns its results (the caller decrefs them),
 * CHECKing that it ran and answered every one of in's "cases"; NULL when it did not run. */
json_t *ct_reference(const char *script, json_t *in, const char *dir);

#endif
