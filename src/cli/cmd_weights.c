/* teelm import / export / inspect: weight files (docs/weights-format.md). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "formats/checkpoint.h"
#include "formats/import.h"
#include "formats/inspect.h"
#include "seal/seal.h"
#include "util/codec.h"
#include "util/io.h"

int cmd_import(int argc, char **argv)
{
    const char *out = NULL;
    int split = 0;
    const tl_opt opts[] = {
        {"--out", TL_ARG_STR, &out, "DIR", "directory to write the safetensors files to (required)"},
        {"--split", TL_ARG_FLAG, &split, NULL, "write the split layout instead of model.safetensors"},
        {0},
    };
    const tl_cmdspec spec = {"import", "SRC... --out DIR [--split]",
        "Converts PyTorch .pth state_dicts to safetensors without running any code from them. SRC is a "
        "model.pth, one of the prototype's per-layer files (token_embedding.pth, transformer_block_N.pth, "
        "final_linear.pth) or a directory of them. The config is inferred from the tensor shapes. Importing "
        "only some parts writes their split-layout files and says what is missing.",
        opts, 1, 64};
    const char *pos[64];
    int npos = 0, rc = tl_args_parse(&spec, argc, argv, pos, &npos);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (!out)
        return tl_usage_error(&spec, "--out is required");
    tl_import_report rep;
    tl_err err = {0};
    if (tl_import_pth(pos, npos, out, split ? TL_LAYOUT_SPLIT : TL_LAYOUT_FULL, &rep, &err)) {
        fprintf(stderr, "teelm import: %s\n", err.msg);
        return 1;
    }
    printf("imported %d tensors from %d file%s into %s (%s)\n", rep.ntensors, rep.nfiles, rep.nfiles == 1 ? "" : "s",
           out, !rep.complete ? "partial model, split layout" : split ? "split layout" : "full layout");
    if (rep.note[0])
        fprintf(stderr, "teelm import: %s: %s\n", rep.complete ? "note" : "warning", rep.note);
    return 0;
}

static int copy_file(const char *src, const char *dir, const char *name, tl_err *err)
{
    uint8_t *data;
    size_t len;
    char dst[4096];
    if (tl_path_join(dst, sizeof dst, dir, name))
        return tl_errf(err, TL_EINVAL, "%s: path too long", dir);
    if (tl_read_file(src, 1u << 30, &data, &len, err))
        return err->code;
    int rc = tl_write_file_atomic(dst, data, len, 0644, err);
    free(data);
    return rc;
}

/* A sealed model's header is public (key id, model id, file count, chunk size); everything else,
 * config and shapes included, is encrypted. */
static int inspect_sealed(const char *path, int json)
{
    tl_err err = {0};
    tl_seal_info h;
    if (tl_sealed_header_info(path, &h, &err)) {
        fprintf(stderr, "teelm inspect: %s\n", err.msg);
        return 1;
    }
    if (json) {
        json_t *o = json_pack("{s:s,s:b,s:s,s:s,s:I,s:I}", "path", path, "sealed", 1, "key_id", h.key_id,
                              "model_id", h.model_id, "file_count", (json_int_t)h.file_count,
                              "chunk_size", (json_int_t)h.chunk_size);
        char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        printf("%s\n", text);
        free(text);
        json_decref(o);
    } else
        printf("%s: sealed model (docs/sealed-format.md)\n  key id      %s\n  model id    %s\n  files       %u\n"
               "  chunk size  %u\nIts config, tensor shapes, weights and tokenizer are encrypted; the owner can\n"
               "read them with 'teelm unseal --model %s --key-file KEY --out DIR'.\n",
               path, h.key_id, h.model_id, h.file_count, h.chunk_size, path);
    return 0;
}

int cmd_export(int argc, char **argv)
{
    const char *model = NULL, *out = NULL, *layout = "full";
    const tl_opt opts[] = {
        {"--model", TL_ARG_STR, &model, "PATH", "model directory or .safetensors file (required)"},
        {"--out", TL_ARG_STR, &out, "DIR", "directory to write (required)"},
        {"--layout", TL_ARG_STR, &layout, "full|split|both", "which layout to write (default full)"},
        {0},
    };
    const tl_cmdspec spec = {"export", "--model PATH --out DIR [--layout full|split|both]",
        "Writes a plaintext model's weights, config and tokenizer in the full layout (model.safetensors), the "
        "split layout (token_embedding / transformer_block_N / final_linear .safetensors) or both. Optimizer "
        "state is not exported.",
        opts, 0, 0};
    int rc = tl_args_parse(&spec, argc, argv, NULL, NULL);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (!model || !out)
        return tl_usage_error(&spec, "--model and --out are required");
    int layouts = !strcmp(layout, "full") ? TL_LAYOUT_FULL : !strcmp(layout, "split") ? TL_LAYOUT_SPLIT
                : !strcmp(layout, "both") ? TL_LAYOUT_FULL | TL_LAYOUT_SPLIT : 0;
    if (!layouts)
        return tl_usage_error(&spec, "--layout must be full, split or both, not '%s'", layout);
    char index[4096];
    if (tl_sealed_detect(model, index, sizeof index)) {
        fprintf(stderr, "teelm export: %s is a sealed model; the owner gets the plaintext back with "
                        "'teelm unseal --model %s --key-file KEY --out DIR'\n", model, model);
        return 1;
    }
    tl_checkpoint ck;
    tl_err err = {0};
    if (tl_checkpoint_load(model, &ck, &err)) {
        fprintf(stderr, "teelm export: %s\n", err.msg);
        return 1;
    }
    if (ck.note[0])
        fprintf(stderr, "teelm export: note: %s\n", ck.note);
    /* optimizer state stays behind: an export is for use, not for resuming training */
    tl_checkpoint plain = ck;
    plain.adam_m = plain.adam_v = NULL;
    rc = tl_checkpoint_save(out, &plain, layouts, &err);
    if (!rc && ck.tokenizer_path[0]) {
        const char *base = strrchr(ck.tokenizer_path, '/') ? strrchr(ck.tokenizer_path, '/') + 1 : ck.tokenizer_path;
        rc = copy_file(ck.tokenizer_path, out, base, &err);
    }
    tl_checkpoint_free(&ck);
    if (rc) {
        fprintf(stderr, "teelm export: %s\n", err.msg);
        return 1;
    }
    printf("exported %s to %s (%s layout%s)\n", model, out, layout, layouts == 3 ? "s" : "");
    return 0;
}

static const char *config_source(const tl_inspect_report *r)
{
    return r->config_state == TL_CONFIG_GIVEN ? "metadata" : r->config_state == TL_CONFIG_INFERRED ? "inferred" : "unknown";
}

static int print_json(const tl_inspect_report *r)
{
    json_t *root = json_object(), *files = json_array(), *ts = json_array();
    char h[65];
    for (int i = 0; i < r->nfiles; i++)
        json_array_append_new(files, json_pack("{s:s,s:s}", "path", r->files[i], "format", r->formats[i]));
    for (int i = 0; i < r->n; i++) {
        const tl_inspect_tensor *t = &r->t[i];
        json_t *shape = json_array();
        for (int d = 0; d < t->ndim; d++)
            json_array_append_new(shape, json_integer(t->shape[d]));
        tl_hex(t->sha256, 32, h);
        json_array_append_new(ts, json_pack("{s:s,s:s,s:s,s:s,s:o,s:s}", "name", t->name, "key", t->key, "file",
                                            r->files[t->file], "dtype", tl_dtype_name(t->dtype), "shape", shape,
                                            "sha256", h));
    }
    tl_hex(r->total, 32, h);
    json_object_set_new(root, "files", files);
    json_object_set_new(root, "tensors", ts);
    json_object_set_new(root, "total_sha256", json_string(h));
    json_object_set_new(root, "config_source", json_string(config_source(r)));
    if (r->config_state) {
        char *cj = tl_config_to_json(&r->cfg);
        json_object_set_new(root, "config", cj ? json_loads(cj, 0, NULL) : json_null());
        free(cj);
    } else
        json_object_set_new(root, "config", json_null());
    json_object_set_new(root, "note", json_string(r->note));
    json_object_set_new(root, "optimizer", json_boolean(r->has_optimizer));
    char *s = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!s)
        return 1;
    puts(s);
    free(s);
    return 0;
}

int cmd_inspect(int argc, char **argv)
{
    int as_json = 0;
    const tl_opt opts[] = {
        {"--json", TL_ARG_FLAG, &as_json, NULL, "print JSON"},
        {0},
    };
    const tl_cmdspec spec = {"inspect", "FILE|DIR [--json]",
        "Lists the tensors (name, dtype, shape, SHA-256 of the data), the config (from metadata or inferred "
        "from shapes) and a total checksum of a .safetensors file, a .pth file or a model directory. The total "
        "does not depend on the format or layout (docs/weights-format.md).",
        opts, 1, 1};
    const char *pos[1];
    int npos = 0, rc = tl_args_parse(&spec, argc, argv, pos, &npos);
    if (rc)
        return rc == 1 ? 0 : rc;
    char index[4096];
    if (tl_sealed_detect(pos[0], index, sizeof index))
        return inspect_sealed(pos[0], as_json);
    tl_inspect_report r;
    tl_err err = {0};
    if (tl_inspect(pos[0], &r, &err)) {
        fprintf(stderr, "teelm inspect: %s\n", err.msg);
        return 1;
    }
    if (as_json) {
        rc = print_json(&r);
        tl_inspect_free(&r);
        return rc;
    }
    uint64_t elems = 0;
    int last = -1;
    char h[65], sh[96];
    for (int i = 0; i < r.n; i++) {
        const tl_inspect_tensor *t = &r.t[i];
        if (t->file != last) {
            printf("%s (%s)\n", r.files[t->file], r.formats[t->file]);
            last = t->file;
        }
        uint64_t ne = 1;
        for (int d = 0; d < t->ndim; d++)
            ne *= (uint64_t)t->shape[d];
        elems += ne;
        tl_hex(t->sha256, 32, h);
        tl_shape_str(t->ndim, t->shape, sh, sizeof sh);
        printf("  %-60s %-4s %-14s %s\n", t->name, tl_dtype_name(t->dtype), sh, h);
    }
    for (int i = 0; i < r.nfiles; i++)
        if (i > last)
            printf("%s (%s): no tensors\n", r.files[i], r.formats[i]);
    tl_hex(r.total, 32, h);
    printf("tensors: %d, elements: %llu\n", r.n, (unsigned long long)elems);
    if (r.config_state) {
        char *cj = tl_config_to_json(&r.cfg);
        printf("config (%s): %s\n", config_source(&r), cj ? cj : "?");
        free(cj);
    } else
        printf("config: unknown\n");
    if (r.note[0])
        printf("note: %s\n", r.note);
    if (r.has_optimizer)
        printf("optimizer state: %s present (not listed)\n", TL_FILE_OPTIMIZER);
    printf("total sha256: %s\n", h);
    tl_inspect_free(&r);
    return 0;
}
