#include "chat_testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

const char *ct_src_dir(void)
{
    const char *s = getenv("TEELM_SRC");
    return s ? s : ".";
}

void ct_require_node(const char *const *pkgs)
{
    for (; *pkgs; pkgs++) {
        char p[4096], why[256];
        snprintf(p, sizeof p, "%s/node_modules/%s/package.json", ct_src_dir(), *pkgs);
        snprintf(why, sizeof why, "npm %s is absent (node_modules; run scripts/install-deps.sh)", *pkgs);
        if (access(p, R_OK) != 0)
            test_skip(why);
    }
    if (test_sh("node --version >/dev/null 2>&1") != 0)
        test_skip("node is absent");
}

char *ct_read(const char *rel, size_t *len)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", ct_src_dir(), rel);
    FILE *f = fopen(p, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    size_t r;
    while (b && (r = fread(b + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n < 2) {
            char *nb = realloc(b, cap *= 2);
            if (!nb) {
                free(b);
                b = NULL;
            }
            b = nb;
        }
    }
    fclose(f);
    if (b) {
        b[n] = 0;
        if (len)
            *len = n;
    }
    return b;
}

int ct_render(const char *src, const tl_chat_msg *msgs, size_t n, int agp, tl_chat_prompt *out, tl_err *err)
{
    memset(err, 0, sizeof *err);
    tl_chat_template *t = tl_chat_template_compile(src, strlen(src), "t", NULL, err);
    if (!t)
        return err->code;
    tl_chat_input in = {.messages = msgs, .n_messages = n, .bos_token = "<s>", .eos_token = "</s>",
                        .add_generation_prompt = agp, .now = 1764633600};
    int rc = tl_chat_template_render(t, &in, out, err);
    tl_chat_template_free(t);
    return rc;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const ct_fixture *)a)->name, ((const ct_fixture *)b)->name);
}

size_t ct_load_fixtures(ct_fixture *t, size_t max)
{
    size_t nt = 0;
    char p[4096];
    snprintf(p, sizeof p, "%s/tests/fixtures/chat_templates", ct_src_dir());
    DIR *d = opendir(p);
    CHECK(d != NULL);
    struct dirent *de;
    while (d && (de = readdir(d)) && nt < max) {
        size_t l = strlen(de->d_name);
        if (l < 7 || strcmp(de->d_name + l - 6, ".jinja") != 0)
            continue;
        char rel[600];
        snprintf(rel, sizeof rel, "tests/fixtures/chat_templates/%s", de->d_name);
        t[nt].name = strdup(de->d_name);
        t[nt].src = ct_read(rel, NULL);
        CHECKF(t[nt].src != NULL, "%s", rel);
        nt++;
    }
    if (d)
        closedir(d);
    qsort(t, nt, sizeof *t, cmp_name);
    CHECK(nt >= 12);
    return nt;
}

void ct_free_fixtures(ct_fixture *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(t[i].name);
        free(t[i].src);
    }
}

json_t *ct_reference(const char *script, json_t *in, const char *dir)
{
    char inp[4200], outp[4200];
    snprintf(inp, sizeof inp, "%s/cases.json", dir);
    snprintf(outp, sizeof outp, "%s/out.json", dir);
    CHECK(json_dump_file(in, inp, 0) == 0);
    int rc = test_sh("TZ=UTC LANG=en_US.UTF-8 node '%s/tests/reference/%s' '%s' '%s'", ct_src_dir(), script, inp, outp);
    CHECK(rc == 0);
    json_error_t je;
    json_t *res = rc == 0 ? json_load_file(outp, 0, &je) : NULL;
    CHECK(res && json_array_size(res) == json_array_size(json_object_get(in, "cases")));
    return res;
}
