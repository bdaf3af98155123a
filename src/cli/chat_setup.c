/* Chat template choice: see chat_setup.h. */
#include "cli/chat_setup.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_template.h"
#include "util/io.h"

/* A tokenizer_config.json token field: a string, or an AddedToken object {"content": ...}. */
static char *token_field(json_t *cfg, const char *name)
{
    json_t *v = json_object_get(cfg, name);
    if (json_is_object(v))
        v = json_object_get(v, "content");
    return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

/* chat_template: a string, or a list of {name, template} whose "default" is used. */
static const char *config_template(json_t *cfg, const char *cfg_name, tl_err *err)
{
    json_t *t = json_object_get(cfg, "chat_template");
    if (json_is_array(t)) {
        size_t i;
        json_t *it, *found = NULL;
        json_array_foreach(t, i, it) {
            json_t *nm = json_object_get(it, "name");
            if (json_is_string(nm) && !strcmp(json_string_value(nm), "default"))
                found = json_object_get(it, "template");
        }
        t = found;
    }
    if (!json_is_string(t))
        tl_errf(err, TL_EINVAL, "%s: chat_template must be a string or a list with a \"default\" template", cfg_name);
    return json_is_string(t) ? json_string_value(t) : NULL;
}

int tl_cli_chat_setup(const char *arg, const uint8_t *cfg_text, size_t cfg_len, const char *cfg_name, tl_cli_chat *cs,
                      tl_err *err)
{
    memset(cs, 0, sizeof *cs);
    json_t *cfg = NULL;
    if (cfg_text) {
        json_error_t je = {0};
        cfg = json_loadb((const char *)cfg_text, cfg_len, JSON_REJECT_DUPLICATES, &je);
        if (!cfg || !json_is_object(cfg)) {
            json_decref(cfg);
            return tl_errf(err, TL_EINVAL, "%s: not a JSON object (line %d: %s)", cfg_name, je.line, je.text);
        }
        cs->bos = token_field(cfg, "bos_token");
        cs->eos = token_field(cfg, "eos_token");
    }
    const char *src = NULL;
    if (arg) {
        if ((src = tl_chat_template_builtin(arg)))
            snprintf(cs->name, sizeof cs->name, "%s", arg);
        else {
            uint8_t *data = NULL;
            size_t n = 0;
            if (tl_read_file(arg, 1 << 20, &data, &n, err)) {
                json_decref(cfg);
                tl_cli_chat_free(cs);
                return tl_err_prefix(err, "--chat-template");
            }
            cs->src = (char *)data;
            cs->len = n;
            const char *base = strrchr(arg, '/');
            snprintf(cs->name, sizeof cs->name, "file:%s", base ? base + 1 : arg);
        }
    } else if (cfg && json_object_get(cfg, "chat_template")) {
        if (!(src = config_template(cfg, cfg_name, err))) {
            json_decref(cfg);
            tl_cli_chat_free(cs);
            return err->code;
        }
        snprintf(cs->name, sizeof cs->name, "model");
    } else {
        src = tl_chat_template_builtin("plain");
        snprintf(cs->name, sizeof cs->name, "plain");
    }
    if (src) {
        cs->len = strlen(src);
        cs->src = malloc(cs->len + 1);
        if (cs->src)
            memcpy(cs->src, src, cs->len + 1);
    }
    json_decref(cfg);
    if (!cs->src) {
        tl_cli_chat_free(cs);
        return tl_errf(err, TL_ENOMEM, "out of memory");
    }
    if (!strcmp(cs->name, "plain"))
        cs->stop = "\n\nUser:"; /* docs/chat-templates.md: the next turn */
    return 0;
}

int tl_cli_chat_setup_model(const char *arg, const tl_checkpoint *ck, const char *tokenizer, tl_cli_chat *cs,
                            tl_err *err)
{
    char dir[4096] = "", path[4200];
    const char *tp = tokenizer ? tokenizer : ck->tokenizer_path[0] ? ck->tokenizer_path : NULL;
    if (tp) {
        snprintf(dir, sizeof dir, "%s", tp);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = 0;
        else
            snprintf(dir, sizeof dir, ".");
    } else if (ck->hf_dir[0]) {
        snprintf(dir, sizeof dir, "%s", ck->hf_dir);
    }
    const struct tl_ck_file *carried = tokenizer ? NULL : tl_checkpoint_file(ck, "tokenizer_config.json");
    if (carried)
        return tl_cli_chat_setup(arg, carried->data, carried->len, "the model's tokenizer_config.json", cs, err);
    uint8_t *text = NULL;
    size_t text_len = 0;
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    if (dir[0] && tl_is_file(path) && tl_read_file(path, 16u << 20, &text, &text_len, err))
        return err->code;
    int rc = tl_cli_chat_setup(arg, text, text_len, path, cs, err);
    free(text);
    return rc;
}

void tl_cli_chat_free(tl_cli_chat *cs)
{
    free(cs->src);
    free(cs->bos);
    free(cs->eos);
    memset(cs, 0, sizeof *cs);
}
