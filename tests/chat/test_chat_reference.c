/* Byte-for-byte comparison with npm @huggingface/jinja (tests/reference/jinja_render.js): every
 * template of tests/fixtures/chat_templates on every conversation of conversations.json with
 * add_generation_prompt false and true, and every language snippet of snippets.json. Where the
 * reference refuses (raise_exception or an error) the renderer must refuse too, and vice versa. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "chat/chat_template.h"
#include "chat_testutil.h"
#include "test.h"

#define NOW 1764633600   /* 2025-12-02 00:00 UTC, given to both renderers */

static json_t *msgs_json(json_t *conv) { return json_object_get(conv, "messages"); }

static void add_case(json_t *cases, const char *src, json_t *msgs, int agp)
{
    json_t *c = json_object();
    json_object_set_new(c, "template", json_string(src));
    json_object_set(c, "messages", msgs);
    json_object_set_new(c, "bos_token", json_string("<s>"));
    json_object_set_new(c, "eos_token", json_string("</s>"));
    json_object_set_new(c, "add_generation_prompt", json_boolean(agp));
    json_array_append_new(cases, c);
}

static void show(const char *label, const char *s, size_t n)
{
    fprintf(stderr, "  %s (%zu bytes): \"", label, n);
    for (size_t i = 0; i < n && i < 400; i++)
        fputc(s[i] == '\n' ? '|' : s[i], stderr);
    fprintf(stderr, "\"\n");
}

int main(void)
{
    const char *src = ct_src_dir();
    ct_require_node((const char *const[]){"@huggingface/jinja", NULL});
    char p[4096];

    json_error_t je;
    snprintf(p, sizeof p, "%s/tests/chat/conversations.json", src);
    json_t *convs = json_load_file(p, 0, &je);
    snprintf(p, sizeof p, "%s/tests/chat/snippets.json", src);
    json_t *snips = json_load_file(p, 0, &je);
    CHECK(convs && snips);
    if (!convs || !snips)
        return test_finish();
    json_t *cl = json_object_get(convs, "conversations"), *sl = json_object_get(snips, "snippets");

    ct_fixture t[64];
    size_t nt = ct_load_fixtures(t, 64);

    json_t *cases = json_array();
    size_t nc = json_array_size(cl);
    for (size_t i = 0; i < nt; i++)
        for (size_t k = 0; k < nc; k++)
            for (int agp = 0; agp < 2; agp++)
                add_case(cases, t[i].src, msgs_json(json_array_get(cl, k)), agp);
    json_t *snipconv = msgs_json(json_array_get(cl, 3));   /* system_multi_turn */
    for (size_t s = 0; s < json_array_size(sl); s++)
        add_case(cases, json_string_value(json_array_get(sl, s)), snipconv, 1);
    json_t *in = json_object();
    json_object_set_new(in, "now", json_integer(NOW));
    json_object_set_new(in, "cases", cases);
    const char *dir = test_tmpdir();
    json_t *res = ct_reference("jinja_render.js", in, dir);

    size_t same = 0, both_refuse = 0, diff = 0, per_ok[64] = {0}, per_refuse[64] = {0};
    for (size_t i = 0; res && i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i), *r = json_array_get(res, i);
        json_t *mj = json_object_get(c, "messages");
        size_t nm = json_array_size(mj);
        tl_chat_msg *m = calloc(nm ? nm : 1, sizeof *m);
        for (size_t k = 0; k < nm; k++) {
            json_t *e = json_array_get(mj, k);
            m[k].role = json_string_value(json_object_get(e, "role"));
            m[k].content = json_string_value(json_object_get(e, "content"));
            m[k].content_len = json_string_length(json_object_get(e, "content"));
        }
        const char *tsrc = json_string_value(json_object_get(c, "template"));
        tl_chat_template *ct = tl_chat_template_compile(tsrc, strlen(tsrc), "case", NULL, &(tl_err){0});
        tl_err err = {0};
        tl_chat_prompt out = {0};
        int mine = -1;
        if (ct) {
            tl_chat_input ci = {.messages = m, .n_messages = nm, .bos_token = "<s>", .eos_token = "</s>",
                                .add_generation_prompt = json_is_true(json_object_get(c, "add_generation_prompt")),
                                .now = NOW};
            mine = tl_chat_template_render(ct, &ci, &out, &err);
        } else {
            tl_chat_template_compile(tsrc, strlen(tsrc), "case", NULL, &err);
        }
        int ref_ok = json_is_true(json_object_get(r, "ok"));
        const char *ref = json_string_value(json_object_get(r, "out"));
        size_t ref_len = json_string_length(json_object_get(r, "out"));
        size_t ti = i / (nc * 2);
        int ok;
        if (ref_ok && mine == 0) {
            ok = out.len == ref_len && memcmp(out.text, ref, ref_len) == 0;
            same += ok;
            if (ok && ti < nt)
                per_ok[ti]++;
        } else {
            ok = !ref_ok && mine != 0;
            both_refuse += ok;
            if (ok && ti < nt)
                per_refuse[ti]++;
        }
        if (i >= nt * nc * 2) {
            /* snippets say whether the reference itself must refuse them */
            int want_refuse = strncmp(tsrc, "{#refuse#}", 10) == 0;
            CHECKF(ref_ok != want_refuse, "reference %s snippet %zu", ref_ok ? "renders" : "refuses", i - nt * nc * 2);
        }
        if (!ok) {
            diff++;
            if (i < nt * nc * 2)
                fprintf(stderr, "DIFF %s conversation %zu agp=%d\n", t[ti].name, (i / 2) % nc, (int)(i % 2));
            else
                fprintf(stderr, "DIFF snippet %zu: %s\n", i - nt * nc * 2, tsrc);
            if (ref_ok)
                show("reference", ref, ref_len);
            else
                fprintf(stderr, "  reference refused: %s\n", json_string_value(json_object_get(r, "error")));
            if (mine == 0)
                show("teelm", out.text, out.len);
            else
                fprintf(stderr, "  teelm refused: %s\n", err.msg);
        }
        CHECK(ok);
        tl_chat_prompt_free(&out);
        tl_chat_template_free(ct);
        free(m);
    }
    for (size_t i = 0; i < nt; i++) {
        printf("%-20s %2zu identical, %2zu refused by both\n", t[i].name, per_ok[i], per_refuse[i]);
        /* a template that refuses everything would compare nothing */
        CHECK(per_ok[i] >= 10);
    }
    ct_free_fixtures(t, nt);
    printf("%zu cases byte-identical, %zu refused by both, %zu differ\n", same, both_refuse, diff);
    json_decref(res);
    json_decref(in);
    json_decref(convs);
    json_decref(snips);
    test_sh("rm -rf '%s'", dir);
    return test_finish();
}
