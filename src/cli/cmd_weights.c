/* teelm import / export / inspect: weight files (docs/weights-format.md). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/gguf_out.h"
#include "formats/checkpoint.h"
#include "formats/hf_config.h"
#include "formats/hf_dir.h"
#include "formats/gguf.h"
#include "formats/hf_save.h"
#include "formats/import.h"
#include "formats/inspect.h"
#include "seal/seal.h"
#include "util/codec.h"
#include "util/io.h"
#include "tensor/dtype.h"

/* The tokenizer a GGUF file embeds (tokenizer.json, and tokenizer_config.json for its chat
 * template), written beside a directory tl_hf_save wrote: it copies files only from a source
 * directory. */
static int write_embedded(const tl_checkpoint *ck, const char *out, int *ncopied, tl_err *err)
{
    char p[4096];
    for (int i = -1; i < ck->nfiles; i++) {
        const uint8_t *d = i < 0 ? ck->tokenizer_data : ck->files[i].data;
        if (!d)
            continue;
        if (tl_path_join(p, sizeof p, out, i < 0 ? "tokenizer.json" : ck->files[i].name))
            return tl_errf(err, TL_EINVAL, "%s: path too long", out);
        if (tl_write_file_atomic(p, d, i < 0 ? ck->tokenizer_len : ck->files[i].len, 0644, err))
            return err->code;
        ++*ncopied;
    }
    return 0;
}

/* A Hugging Face model (a directory, or a GGUF file) validated by loading it, then written as a
 * Hugging Face directory. */
static int hf_write(const char *cmd, const char *model, const char *out, int dtype, int shards)
{
    tl_checkpoint ck;
    tl_err err = {0};
    if (tl_cli_load_plaintext(cmd, model, &ck))
        return 1;
    tl_hf_save_opts o = {dtype, shards};
    tl_hf_save_report rep;
    int rc = tl_hf_save(&ck, out, &o, &rep, &err);
    if (!rc && !ck.hf_dir[0])
        rc = write_embedded(&ck, out, &rep.ncopied, &err);
    const char *arch = tl_hf_class_name(ck.cfg.arch);
    tl_checkpoint_free(&ck);
    if (rc) {
        fprintf(stderr, "teelm %s: %s\n", cmd, err.msg);
        return 1;
    }
    printf("%s %s (%s): %d tensors, %llu bytes in %d file%s%s, config.json, %d file%s copied, into %s\n",
           !strcmp(cmd, "import") ? "imported" : "exported", model, arch, rep.ntensors, rep.bytes, rep.nfiles,
           rep.nfiles == 1 ? "" : "s", rep.nfiles > 1 ? " + " TL_HF_INDEX : "", rep.ncopied,
           rep.ncopied == 1 ? "" : "s", out);
    return 0;
}

int cmd_import(int argc, char **argv)
{
    const char *out = NULL;
    int split = 0;
    const tl_opt opts[] = {
        {"--out", TL_ARG_STR, &out, "DIR", "directory to write the safetensors files to (required)", .required = 1},
        {"--split", TL_ARG_FLAG, &split, NULL, "write the split layout instead of model.safetensors"},
        {0},
    };
    const tl_cmdspec spec = {"import", "SRC... --out DIR [--split]",
        "Converts PyTorch .pth state_dicts to safetensors without running any code from them. SRC is a "
        "model.pth, one of the prototype's per-layer files (token_embedding.pth, transformer_block_N.pth, "
        "final_linear.pth) or a directory of them. The config is inferred from the tensor shapes. Importing "
        "only some parts writes their split-layout files and says what is missing. A Hugging Face model "
        "directory (config.json naming its class) is validated and written normalized: one model.safetensors "
        "in its dtype under canonical names, config.json, generation_config.json and the tokenizer files.",
        opts, 1, 64, .missing = "--out is required"};
    const char *pos[64];
    int npos = 0;
    TL_ARGS_PARSE_OR_RETURN(&spec, argc, argv, pos, &npos);
    if (npos == 1 && tl_is_dir(pos[0]) && tl_hf_is_model_dir(pos[0])) {
        if (split)
            return tl_usage_error(&spec, "--split is for the prototype's layouts, not a Hugging Face model");
        return hf_write("import", pos[0], out, -1, 1);
    }
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
    const char *model = NULL, *out = NULL, *layout = NULL, *dtype = NULL, *format = NULL, *quantize = NULL;
    int shards = 0;
    const tl_opt opts[] = {
        {"--model", TL_ARG_STR, &model, "PATH", "model directory or .safetensors file (required)", .required = 1},
        {"--out", TL_ARG_STR, &out, "DIR", "directory to write (required; with --format gguf: the file)", .required = 1},
        {"--format", TL_ARG_STR, &format, "gguf", "write one GGUF file for llama.cpp instead (docs/gguf.md)"},
        {"--quantize", TL_ARG_STR, &quantize, "F32|F16|Q8_0|Q4_0", "with --format gguf: the matrices' type "
         "(default: keep)"},
        {"--layout", TL_ARG_STR, &layout, "full|split|both", "which layout to write (default full)"},
        {"--dtype", TL_ARG_STR, &dtype, "F32|F16|BF16", "Hugging Face models: convert the weights (default: keep)"},
        {"--shards", TL_ARG_INT, &shards, "N", "Hugging Face models: N shards + model.safetensors.index.json "
         "(default 1: model.safetensors)", 1, 99999},
        {0},
    };
    const tl_cmdspec spec = {"export", "--model PATH --out DIR [--layout full|split|both] [--dtype D] [--shards N] | "
                                       "--model PATH --out FILE --format gguf [--quantize T]",
        "Writes a plaintext model's weights, config and tokenizer in the full layout (model.safetensors), the "
        "split layout (token_embedding / transformer_block_N / final_linear .safetensors) or both. Optimizer "
        "state is not exported. A Hugging Face model is written back as a Hugging Face directory, optionally "
        "sharded and converted to another dtype (docs/weights-format.md).",
        opts, 0, 0, .missing = "--model and --out are required"};
    TL_ARGS_PARSE_OR_RETURN(&spec, argc, argv, NULL, NULL);
    if (format && strcmp(format, "gguf"))
        return tl_usage_error(&spec, "--format must be gguf, not '%s'", format);
    if (quantize && !format)
        return tl_usage_error(&spec, "--quantize needs --format gguf");
    if (format) {
        if (layout || dtype || shards)
            return tl_usage_error(&spec, "--layout, --dtype and --shards do not apply to --format gguf");
        return tl_cli_write_gguf("export", model, out, quantize);
    }
    if ((tl_is_dir(model) && tl_hf_is_model_dir(model)) || tl_gguf_is_file(model)) {
        if (layout)
            return tl_usage_error(&spec, "--layout is for the prototype's layouts; a Hugging Face model is written "
                                  "as model.safetensors or shards (--shards)");
        int dt = !dtype ? -1 : !strcmp(dtype, "F32") ? TL_DT_F32 : !strcmp(dtype, "F16") ? TL_DT_F16
               : !strcmp(dtype, "BF16") ? TL_DT_BF16 : -2;
        if (dt == -2)
            return tl_usage_error(&spec, "--dtype must be F32, F16 or BF16, not '%s'", dtype);
        return hf_write("export", model, out, dt, shards ? shards : 1);
    }
    if (dtype || shards)
        return tl_usage_error(&spec, "--dtype and --shards apply to Hugging Face models only");
    if (!layout)
        layout = "full";
    int layouts = !strcmp(layout, "full") ? TL_LAYOUT_FULL : !strcmp(layout, "split") ? TL_LAYOUT_SPLIT
                : !strcmp(layout, "both") ? TL_LAYOUT_FULL | TL_LAYOUT_SPLIT : 0;
    if (!layouts)
        return tl_usage_error(&spec, "--layout must be full, split or both, not '%s'", layout);
    tl_checkpoint ck;
    tl_err err = {0};
    if (tl_cli_load_plaintext("export", model, &ck))
        return 1;
    if (ck.note[0])
        fprintf(stderr, "teelm export: note: %s\n", ck.note);
    /* optimizer state stays behind: an export is for use, not for resuming training */
    tl_checkpoint plain = ck;
    plain.adam_m = plain.adam_v = NULL;
    int rc = tl_checkpoint_save(out, &plain, layouts, &err);
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

/* The "files", "tensors" and "total_sha256" members both JSON reports share, added to root. */
static void add_tensors_json(json_t *root, const tl_inspect_report *r)
{
    json_t *files = json_array(), *ts = json_array();
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
}

/* Prints root (and frees it); 1 if it could not be serialized. */
static int dump_json(json_t *root)
{
    char *s = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!s)
        return 1;
    puts(s);
    free(s);
    return 0;
}

static const char *config_source(const tl_inspect_report *r)
{
    return r->config_state == TL_CONFIG_GIVEN ? "metadata" : r->config_state == TL_CONFIG_INFERRED ? "inferred" : "unknown";
}

static int print_json(const tl_inspect_report *r)
{
    json_t *root = json_object();
    add_tensors_json(root, r);
    json_object_set_new(root, "config_source", json_string(config_source(r)));
    if (r->config_state) {
        char *cj = tl_config_to_json(&r->cfg);
        json_object_set_new(root, "config", cj ? json_loads(cj, 0, NULL) : json_null());
        free(cj);
    } else
        json_object_set_new(root, "config", json_null());
    json_object_set_new(root, "note", json_string(r->note));
    json_object_set_new(root, "optimizer", json_boolean(r->has_optimizer));
    return dump_json(root);
}

/* Tensors per dtype, as "F32 18, BF16 2". */
static void dtype_counts(const tl_inspect_report *r, char *out, size_t n)
{
    static const tl_dtype order[] = {TL_DT_F32, TL_DT_F16, TL_DT_BF16};
    size_t at = 0;
    out[0] = 0;
    for (int k = 0; k < 3; k++) {
        int c = 0;
        for (int i = 0; i < r->n; i++)
            c += r->t[i].dtype == order[k];
        if (c && at < n)
            at += (size_t)snprintf(out + at, n - at, "%s%s %d", at ? ", " : "", tl_dtype_name(order[k]), c);
    }
}

static json_t *hf_json(const tl_inspect_report *r)
{
    const tl_config *c = &r->cfg;
    char dts[64];
    dtype_counts(r, dts, sizeof dts);
    json_t *eos = json_array();
    for (int i = 0; i < c->n_eos; i++)
        json_array_append_new(eos, json_integer(c->eos_ids[i]));
    static const char *rope[] = {"default", "linear", "llama3"};
    return json_pack("{s:s,s:I,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:b,s:b,s:b,s:s,s:f,s:f,s:i,s:o,s:s,s:i,s:b,s:i}",
                     "architecture", r->hf_arch, "parameters", (json_int_t)r->n_params, "vocab_size", c->vocab_size,
                     "d_model", c->d_model, "n_layer", c->n_layer, "n_head", c->n_head, "n_kv_head", c->n_kv_head,
                     "head_dim", c->head_dim, "d_ff", c->d_ff, "max_pos", c->max_pos, "tied", c->tie_embeddings,
                     "qkv_bias", c->qkv_bias, "o_bias", c->o_bias, "rope_type", rope[c->rope_type],
                     "rope_theta", (double)c->rope_theta, "norm_eps", (double)c->ln_eps, "bos_id", c->bos_id,
                     "eos_ids", eos, "dtypes", dts, "files", r->nfiles, "sharded", r->hf_sharded,
                     "ignored_buffers", r->hf_ignored);
}

static int print_json_hf(const tl_inspect_report *r)
{
    json_t *root = json_object();
    json_object_set_new(root, "hugging_face", hf_json(r));
    add_tensors_json(root, r);
    return dump_json(root);
}

static void print_hf(const tl_inspect_report *r)
{
    const tl_config *c = &r->cfg;
    char h[65], sh[96], dts[64];
    int last = -1;
    for (int i = 0; i < r->n; i++) {
        const tl_inspect_tensor *t = &r->t[i];
        if (t->file != last) {
            printf("%s (%s)\n", r->files[t->file], r->formats[t->file]);
            last = t->file;
        }
        tl_hex(t->sha256, 32, h);
        tl_shape_str(t->ndim, t->shape, sh, sizeof sh);
        printf("  %-60s %-4s %-14s %s\n", t->key, tl_dtype_name(t->dtype), sh, h);
    }
    dtype_counts(r, dts, sizeof dts);
    printf("Hugging Face model: %s\n", r->hf_arch);
    if (c->arch == TL_ARCH_GPT2)
        printf("  dims        vocab %d, d %d, layers %d, heads %d (head_dim %d), ff %d, positions %d\n", c->vocab_size,
               c->d_model, c->n_layer, c->n_head, c->head_dim, c->d_ff, c->max_pos);
    else
        printf("  dims        vocab %d, d %d, layers %d, heads %d, kv heads %d, head_dim %d, ff %d, max positions %d%s%s\n",
               c->vocab_size, c->d_model, c->n_layer, c->n_head, c->n_kv_head, c->head_dim, c->d_ff, c->max_pos,
               c->tie_embeddings ? ", tied head" : ", untied head", c->qkv_bias ? (c->o_bias ? ", q/k/v/o biases" : ", q/k/v biases") : "");
    if (c->arch != TL_ARCH_GPT2)
        printf("  rope        theta %g, %s\n", (double)c->rope_theta,
               c->rope_type == TL_ROPE_LLAMA3 ? "llama3 scaling" : c->rope_type == TL_ROPE_LINEAR ? "linear scaling" : "no scaling");
    printf("  parameters  %llu\n", r->n_params);
    printf("  dtypes      %s%s%s\n", dts, r->hf_torch_dtype >= 0 ? " (config.json torch_dtype " : "",
           r->hf_torch_dtype >= 0 ? (r->hf_torch_dtype == TL_DT_F32 ? "float32)" : r->hf_torch_dtype == TL_DT_F16 ? "float16)" : "bfloat16)") : "");
    printf("  files       %d%s\n", r->nfiles, r->hf_sharded ? " shards (" TL_HF_INDEX ")" : " (model.safetensors)");
    printf("  eos ids    ");
    for (int i = 0; i < c->n_eos; i++)
        printf(" %d", c->eos_ids[i]);
    printf("%s\n  bos id      %d\n", c->n_eos ? "" : " none", c->bos_id);
    if (r->hf_ignored)
        printf("  ignored     %d buffer%s (recomputed from the config)\n", r->hf_ignored, r->hf_ignored == 1 ? "" : "s");
    tl_hex(r->total, 32, h);
    printf("tensors: %d\ntotal sha256: %s\n", r->n, h);
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
    TL_ARGS_PARSE_OR_RETURN(&spec, argc, argv, pos, NULL);
    char index[4096];
    if (tl_sealed_detect(pos[0], index, sizeof index))
        return inspect_sealed(pos[0], as_json);
    tl_inspect_report r;
    int rc;
    tl_err err = {0};
    if (tl_inspect(pos[0], &r, &err)) {
        fprintf(stderr, "teelm inspect: %s\n", err.msg);
        return 1;
    }
    if (r.hf && as_json) {
        rc = print_json_hf(&r);
        tl_inspect_free(&r);
        return rc;
    }
    if (r.hf) {
        print_hf(&r);
        tl_inspect_free(&r);
        return 0;
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
