#include "cli/engine_cli.h"

#include <omp.h>
#include <string.h>

#include "util/pool.h"

int tl_cli_check_open_flags(const tl_cmdspec *spec, const tl_open_opts *o)
{
    static const char *tees[] = {"sim", "occlum", "tsm", "auto"};
    if (o->tee) {
        for (size_t i = 0; i < sizeof tees / sizeof tees[0]; i++)
            if (strcmp(o->tee, tees[i]) == 0)
                return 0;
        return tl_usage_error(spec, "--tee must be sim, occlum, tsm or auto, got '%s'", o->tee);
    }
    return 0;
}

void tl_cli_set_threads(int n)
{
    if (n > 0) {
        tl_set_threads(n);
        omp_set_num_threads(n); /* for OpenMP code in other layers (weight loading) */
    }
}

int tl_cli_load_data(const char *data, const char *tokens, const tl_tokenizer *tok, tl_dataset *ds, tl_err *err)
{
    if (tokens)
        return tl_dataset_load_tokens(ds, tokens, err);
    return tl_dataset_load_text(ds, data, tok, err);
}
