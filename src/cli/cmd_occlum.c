/* teelm occlum-config: Occlum.json resource limits for serving a model. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "deploy/occlum_limits.h"
#include "model/config.h"
#include "model/params.h"
#include "app/open.h"
#include "util/io.h"

static char *mb(int64_t bytes, char *buf)
{
    sprintf(buf, "%lldMB", (long long)((bytes + (1 << 20) - 1) >> 20));
    return buf;
}

int cmd_occlum_config(int argc, char **argv)
{
    const char *model = NULL, *config = NULL, *tokenizer = NULL;
    tl_open_opts open = {0};
    tl_occlum_inputs in;
    tl_occlum_defaults(&in);
    int product_id = 1, version = 1, json = 0, max_body_kib = (int)(in.max_body / 1024), headroom_pct = 25;
    const tl_opt opts[] = {
        {"--model", TL_ARG_STR, &model, "PATH", "model the enclave will serve (plaintext, or sealed with a key source)"},
        {"--config", TL_ARG_STR, &config, "FILE", "size from a model config JSON instead of a model"},
        {"--tokenizer", TL_ARG_STR, &tokenizer, "FILE", "tokenizer file, for its size (default: the model's)"},
        {"--key-file", TL_ARG_STR, &open.key_file, "FILE", "sealed model: the owner's key file"},
        {"--threads", TL_ARG_INT, &in.threads, "N", "compute threads (default 2)", 1, 256},
        {"--max-batch", TL_ARG_INT, &in.max_batch, "B", "sequences decoded together (default 8)", 1, 4096},
        {"--max-context", TL_ARG_INT, &in.max_context, "C", "tokens kept per request (default: model context)", 1, 1 << 20},
        {"--ctx", TL_ARG_INT, &in.max_context, "N",
         "Hugging Face models: serve's --ctx, key/value cache positions per sequence (default min(max_pos, 4096))", 1,
         1 << 24},
        {"--max-connections", TL_ARG_INT, &in.max_connections, "N", "concurrent connections (default 64)", 1, 65536},
        {"--max-body", TL_ARG_INT, &max_body_kib, "KIB", "request body limit in KiB (default 1024)", 1, 1 << 20},
        {"--headroom", TL_ARG_INT, &headroom_pct, "PCT", "margin over the computed need, percent (default 25)", 0, 400},
        {"--product-id", TL_ARG_INT, &product_id, "N", "ISVPRODID written to metadata (default 1)", 0, 65535},
        {"--version", TL_ARG_INT, &version, "N", "ISVSVN written to metadata (default 1)", 0, 65535},
        {"--json", TL_ARG_FLAG, &json, NULL, "print only the JSON fragment (for scripts)"},
        {0},
    };
    const tl_cmdspec spec = {"occlum-config", "(--model PATH | --config FILE) [flags]",
        "Computes Occlum.json resource limits (user space, kernel heap, threads, heaps) from the model's\n"
        "real memory needs plus the server's, and sets debuggable: false, product id and version.",
        opts, 0, 0};
    TL_ARGS_PARSE_OR_RETURN(&spec, argc, argv, NULL, NULL);
    if (!model == !config)
        return tl_usage_error(&spec, "give exactly one of --model or --config");
    in.max_body = (int64_t)max_body_kib * 1024;
    in.headroom = headroom_pct / 100.0;

    tl_err err = {0};
    tl_config cfg;
    char tok_path[4096] = "";
    if (config) {
        if (tl_config_load(config, &cfg, &err) || (cfg.vocab_size == 0 && tl_errf(&err, TL_EINVAL, "%s: vocab_size is required", config))) {
            fprintf(stderr, "teelm occlum-config: %s\n", err.msg);
            return 1;
        }
    } else {
        tl_checkpoint ck;
        if (tl_model_open(model, &open, &ck, &err)) {
            fprintf(stderr, "teelm occlum-config: %s\n", err.msg);
            return 1;
        }
        cfg = ck.cfg;
        if (tl_config_is_hf(&cfg)) {
            /* the weights are read as stored: their dtypes decide the bytes */
            int np = tl_params_count(&cfg);
            tl_param *pl = calloc((size_t)np, sizeof *pl);
            if (!pl || tl_params_list(&cfg, pl) != np) {
                free(pl);
                tl_checkpoint_free(&ck);
                fprintf(stderr, "teelm occlum-config: out of memory\n");
                return 1;
            }
            for (int i = 0; i < np; i++)
                in.weight_bytes += (int64_t)tl_dtype_bytes(ck.w[i].dtype, pl[i].numel);
            free(pl);
        }
        snprintf(tok_path, sizeof tok_path, "%s", ck.tokenizer_path);
        tl_checkpoint_free(&ck);
    }
    if (tokenizer)
        snprintf(tok_path, sizeof tok_path, "%s", tokenizer);
    struct stat st;
    if (tok_path[0] && stat(tok_path, &st) == 0)
        in.tokenizer_bytes = st.st_size;

    tl_occlum_limits l;
    tl_occlum_compute(&cfg, &in, &l);
    char b1[32], b2[32], b3[32], b4[32], b5[32], b6[32];
    json_t *o = json_pack("{s:{s:s,s:s,s:s,s:i},s:{s:s,s:s,s:s},s:{s:i,s:i,s:b},s:i,s:s}",
        "resource_limits", "user_space_size", mb(l.user_space_size, b1),
        "kernel_space_heap_size", mb(l.kernel_space_heap_size, b2),
        "kernel_space_stack_size", mb(l.kernel_space_stack_size, b3),
        "max_num_of_threads", l.max_num_of_threads,
        "process", "default_stack_size", mb(l.default_stack_size, b4),
        "default_heap_size", mb(l.default_heap_size, b5), "default_mmap_size", mb(l.default_mmap_size, b6),
        "metadata", "product_id", product_id, "version_number", version, "debuggable", 0,
        "omp_threads", in.threads, "thread_stack_size", "1M");
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!json) {
        printf("Memory teelm serve needs for this model (MiB):\n");
        if (tl_config_is_hf(&cfg)) {
            printf("  weights      %8.1f  stored tensors (read in place) + one decryption chunk\n", l.weights / 1048576.0);
            printf("  workspaces   %8.1f  batch of %d: key/value caches of %d positions, activations, logits (x2)\n",
                   l.workspaces / 1048576.0, in.max_batch,
                   in.max_context > 0 ? in.max_context : cfg.max_pos < 4096 ? cfg.max_pos : 4096);
        } else {
            printf("  weights      %8.1f  parameter arena + one decryption chunk\n", l.weights / 1048576.0);
            printf("  workspaces   %8.1f  batch of %d: activations, logits, token history (x2)\n", l.workspaces / 1048576.0, in.max_batch);
        }
        printf("  tokenizer    %8.1f\n", l.tokenizer / 1048576.0);
        printf("  connections  %8.1f  %d x (body limit + buffers)\n", l.connections / 1048576.0, in.max_connections);
        printf("  stacks       %8.1f  %d threads x 1 MiB\n", l.stacks / 1048576.0, l.max_num_of_threads);
        printf("  runtime      %8.1f  binary, libraries, malloc arenas\n", l.runtime / 1048576.0);
        printf("  + %d%% headroom = user_space_size %s\n\n", headroom_pct, b1);
        printf("Occlum.json fragments (merge into the instance's Occlum.json; deploy/occlum/build.sh does it).\n");
        printf("Also set env.default: OMP_NUM_THREADS=%d, OMP_STACKSIZE=1M, MALLOC_ARENA_MAX=2.\n", in.threads);
    }
    printf("%s\n", text);
    free(text);
    return 0;
}
