/* POST /v1/completions bodies come from any client: the parser must refuse or accept, never crash
 * or leak, and an accepted request must satisfy the documented ranges. */
#include <stdint.h>
#include <stdlib.h>

#include "server/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const tl_req_limits lim = {.max_tokens = 64, .default_max_tokens = 16, .model_id = "m"};
    tl_completion_req r;
    tl_api_error e;
    if (tl_completion_parse((const char *)data, size, &lim, &r, &e) == 0) {
        if (!r.prompt || r.max_tokens < 1 || r.max_tokens > 64 || r.temperature < 0 || r.temperature > 2 ||
            r.top_p <= 0 || r.top_p > 1 || r.nstop > TL_MAX_STOP)
            abort();
    } else if (e.status < 400 || e.status > 599) {
        abort();
    }
    tl_completion_req_free(&r);
    char *text;
    size_t n;
    if (tl_tokenize_parse((const char *)data, size, &lim, &text, &n, &e) == 0)
        free(text);
    uint32_t *ids;
    if (tl_detokenize_parse((const char *)data, size, &lim, 1000, 64, &ids, &n, &e) == 0)
        free(ids);
    return 0;
}
