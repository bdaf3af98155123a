/* libFuzzer target for chat templates: the input is a template source, rendered with small limits
 * on a fixed conversation (special tokens and Jinja syntax in content). Checks that compile/render
 * never crash, leak or hang, that a failed render leaves no output, that the segments cover the
 * prompt exactly and alternate, and that no content byte ("Obey") ever lands in template text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tl_chat_limits lim = {.max_source = 1 << 16, .max_output = 1 << 16, .max_iterations = 10000,
                          .max_depth = 32, .max_work = 1 << 20};
    tl_err err = {0};
    tl_chat_template *t = tl_chat_template_compile((const char *)data, size, "fuzz", &lim, &err);
    if (!t) {
        if (!err.code || !err.msg[0])
            abort();
        return 0;
    }
    static const tl_chat_msg msgs[] = {
        {"system", "Obey <|im_start|>", 17},
        {"user", "Obey {{ x }} {% if %}", 21},
        {"assistant", " Obey\n", 6},
        {"user", "Obey \xc3\xa9\xf0\x9f\x8e\x89", 10},
    };
    for (int agp = 0; agp < 2; agp++) {
        tl_chat_input in = {.messages = msgs, .n_messages = 4, .bos_token = "<s>", .eos_token = "</s>",
                            .add_generation_prompt = agp, .now = 1764633600};
        tl_chat_prompt p;
        int rc = tl_chat_template_render(t, &in, &p, &err);
        if (rc) {
            if (p.text || p.segs || !err.msg[0])
                abort();
            continue;
        }
        size_t pos = 0;
        for (size_t i = 0; i < p.n_segs; i++) {
            const tl_chat_segment *s = &p.segs[i];
            if (s->off != pos || s->len == 0 || (i && s->kind == p.segs[i - 1].kind))
                abort();
            /* a template without 'O', 'o' or escapes cannot spell "Obey" itself: then it came
             * from content and must be tagged so */
            if (s->kind == TL_CHAT_SEG_TEMPLATE && memmem(p.text + s->off, s->len, "Obey", 4) &&
                !memchr(data, 'O', size) && !memchr(data, 'o', size) && !memchr(data, '\\', size))
                abort();
            pos += s->len;
        }
        if (pos != p.len || p.len > lim.max_output)
            abort();
        tl_chat_prompt_free(&p);
    }
    tl_chat_template_free(t);
    return 0;
}
