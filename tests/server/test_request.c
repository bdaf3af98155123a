/* Request parsing: OpenAI's field set and defaults, and every refusal names its field with the
 * right status. */
#include <string.h>

#include "server/request.h"
#include "util/secmem.h"
#include "test.h"

static const tl_req_limits LIM = {.max_tokens = 256, .default_max_tokens = 16, .model_id = "seed", .max_n = 4};

static int parse(const char *body, tl_completion_req *r, tl_api_error *e)
{
    memset(e, 0, sizeof *e);
    return tl_completion_parse(body, strlen(body), &LIM, r, e);
}

/* The body must be refused with status and param (NULL: no param), message containing words. */
static void refuse(const char *body, int status, const char *param, const char *words)
{
    tl_completion_req r;
    tl_api_error e;
    int rc = parse(body, &r, &e);
    CHECKF(rc == -1 && e.status == status && !strcmp(e.param, param ? param : "") && strstr(e.message, words),
           "%s -> rc=%d status=%d param='%s' message='%s'", body, rc, e.status, e.param, e.message);
    tl_completion_req_free(&r);
}

int main(void)
{
    tl_completion_req r;
    tl_api_error e;

    CHECK(parse("{\"prompt\":\"Hello\"}", &r, &e) == 0);
    CHECK(r.prompt_len == 5 && !strcmp(r.prompt, "Hello") && r.max_tokens == 16 && r.temperature == 1.0 &&
          r.top_p == 1.0 && !r.has_seed && !r.stream && r.nstop == 0);
    tl_completion_req_free(&r);

    CHECK(parse("{\"model\":\"seed\",\"prompt\":[\"The \\u00e9\"],\"max_tokens\":32,\"temperature\":0,"
                "\"top_p\":0.5,\"seed\":-3,\"stop\":[\"\\n\",\"END\"],\"stream\":true,"
                "\"stream_options\":{\"include_usage\":true},\"n\":1,\"echo\":false,\"logprobs\":null,"
                "\"user\":\"u1\",\"presence_penalty\":0,\"top_k\":40}", &r, &e) == 0);
    CHECK(!strcmp(r.prompt, "The \xc3\xa9") && r.max_tokens == 32 && r.temperature == 0 && r.top_p == 0.5 &&
          r.has_seed && r.seed == (uint64_t)-3 && r.nstop == 2 && !strcmp(r.stop[0], "\n") &&
          !strcmp(r.stop[1], "END") && r.stop_len[1] == 3 && r.stream && r.include_usage && r.top_k == 40);
    tl_completion_req_free(&r);
    CHECK(parse("{\"prompt\":\"x\",\"stop\":\"###\",\"max_tokens\":null,\"seed\":null}", &r, &e) == 0);
    CHECK(r.nstop == 1 && r.stop_len[0] == 3 && r.max_tokens == 16 && !r.has_seed);
    tl_completion_req_free(&r);

    refuse("{\"prompt\":\"x\"", 400, NULL, "not valid JSON");
    refuse("[1,2]", 400, NULL, "must be a JSON object");
    refuse("", 400, NULL, "not valid JSON");
    refuse("{\"prompt\":\"x\",\"prompt\":\"y\"}", 400, NULL, "not valid JSON");
    refuse("{}", 400, "prompt", "prompt is required");
    refuse("{\"prompt\":\"\"}", 400, "prompt", "must not be empty");
    refuse("{\"prompt\":42}", 400, "prompt", "must be a string");
    refuse("{\"prompt\":[\"a\",\"b\"]}", 400, "prompt", "exactly one string");
    refuse("{\"prompt\":[1,2,3]}", 400, "prompt", "exactly one string");
    refuse("{\"prompt\":\"a\\u0000b\"}", 400, NULL, "not valid JSON");
    refuse("{\"prompt\":\"x\",\"max_tokens\":\"5\"}", 400, "max_tokens", "must be an integer");
    refuse("{\"prompt\":\"x\",\"max_tokens\":5.0}", 400, "max_tokens", "must be an integer");
    refuse("{\"prompt\":\"x\",\"max_tokens\":0}", 400, "max_tokens", "between 1 and 256");
    refuse("{\"prompt\":\"x\",\"max_tokens\":257}", 400, "max_tokens", "between 1 and 256");
    refuse("{\"prompt\":\"x\",\"temperature\":2.5}", 400, "temperature", "<= 2");
    refuse("{\"prompt\":\"x\",\"temperature\":-0.1}", 400, "temperature", ">= 0");
    refuse("{\"prompt\":\"x\",\"temperature\":\"hot\"}", 400, "temperature", "must be a number");
    refuse("{\"prompt\":\"x\",\"top_p\":0}", 400, "top_p", "> 0");
    refuse("{\"prompt\":\"x\",\"top_p\":1.01}", 400, "top_p", "<= 1");
    refuse("{\"prompt\":\"x\",\"seed\":1.5}", 400, "seed", "must be an integer");
    refuse("{\"prompt\":\"x\",\"stop\":5}", 400, "stop", "must be a string or an array");
    refuse("{\"prompt\":\"x\",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", 400, "stop", "at most 4");
    refuse("{\"prompt\":\"x\",\"stop\":[\"a\",7]}", 400, "stop", "must be a string");
    refuse("{\"prompt\":\"x\",\"stop\":\"\"}", 400, "stop", "1 to 256 bytes");
    refuse("{\"prompt\":\"x\",\"stream\":\"yes\"}", 400, "stream", "true or false");
    refuse("{\"prompt\":\"x\",\"stream_options\":{\"include_usage\":true}}", 400, "stream_options", "only allowed when stream");
    refuse("{\"prompt\":\"x\",\"stream\":true,\"stream_options\":{\"foo\":1}}", 400, "stream_options", "only contain");
    refuse("{\"prompt\":\"x\",\"n\":5}", 400, "n", "between 1 and 4");
    refuse("{\"prompt\":\"x\",\"n\":0}", 400, "n", "between 1 and 4");
    refuse("{\"prompt\":\"x\",\"echo\":1}", 400, "echo", "true or false");
    refuse("{\"prompt\":\"x\",\"logprobs\":6}", 400, "logprobs", "between 0 and 5");
    refuse("{\"prompt\":\"x\",\"logprobs\":true}", 400, "logprobs", "integer");
    refuse("{\"prompt\":\"x\",\"frequency_penalty\":0.5}", 400, "frequency_penalty", "not supported");
    refuse("{\"prompt\":\"x\",\"temprature\":1}", 400, "temprature", "Unrecognized request argument supplied: temprature");
    refuse("{\"prompt\":\"x\",\"model\":\"gpt-4\"}", 404, "model", "'gpt-4' does not exist");
    refuse("{\"prompt\":\"x\",\"model\":7}", 400, "model", "must be a string");

    /* jansson's "near '...'" would quote request content: it must not reach the message */
    tl_api_error e2;
    CHECK(parse("{\"prompt\": SECRETWORD}", &r, &e2) == -1 && !strstr(e2.message, "SECRETWORD"));
    tl_completion_req_free(&r);

    /* error JSON shape */
    char *j = tl_api_error_json(&e2);
    CHECKF(j && strstr(j, "{\"error\":{\"message\":\"request body is not valid JSON") && strstr(j, "\"type\":\"invalid_request_error\"") &&
           strstr(j, "\"param\":null") && strstr(j, "\"code\":\"invalid_json\""), "%s", j ? j : "?");
    tl_sec_free(j);
    tl_api_error e3;
    tl_api_bad_field(&e3, "max_tokens", "max_tokens must be an integer");
    j = tl_api_error_json(&e3);
    CHECKF(j && strstr(j, "\"param\":\"max_tokens\"") && strstr(j, "\"code\":null"), "%s", j ? j : "?");
    tl_sec_free(j);

    /* tokenize / detokenize bodies */
    char *text;
    size_t tl;
    CHECK(tl_tokenize_parse("{\"prompt\":\"hi there\"}", 21, &LIM, &text, &tl, &e) == 0 && tl == 8 && !strcmp(text, "hi there"));
    tl_sec_free(text);
    CHECK(tl_tokenize_parse("{\"text\":\"x\"}", 12, &LIM, &text, &tl, &e) == -1 && !strcmp(e.param, "text"));
    CHECK(tl_tokenize_parse("{\"prompt\":[\"x\"]}", 16, &LIM, &text, &tl, &e) == -1 && !strcmp(e.param, "prompt"));
    uint32_t *ids;
    size_t n;
    const char *d1 = "{\"tokens\":[1,2,99]}";
    CHECK(tl_detokenize_parse(d1, strlen(d1), &LIM, 100, 10, &ids, &n, &e) == 0 && n == 3 && ids[2] == 99);
    tl_sec_free(ids);
    const char *d2 = "{\"tokens\":[1,100]}";
    CHECK(tl_detokenize_parse(d2, strlen(d2), &LIM, 100, 10, &ids, &n, &e) == -1 && !strcmp(e.param, "tokens") &&
          strstr(e.message, "tokens[1]"));
    const char *d3 = "{\"tokens\":[1,-1]}";
    CHECK(tl_detokenize_parse(d3, strlen(d3), &LIM, 100, 10, &ids, &n, &e) == -1 && strstr(e.message, "tokens[1]"));
    const char *d4 = "{\"tokens\":[1,2,3]}";
    CHECK(tl_detokenize_parse(d4, strlen(d4), &LIM, 100, 2, &ids, &n, &e) == -1 && strstr(e.message, "at most 2"));
    const char *d5 = "{\"tokens\":\"1 2\"}";
    CHECK(tl_detokenize_parse(d5, strlen(d5), &LIM, 100, 2, &ids, &n, &e) == -1 && !strcmp(e.param, "tokens"));
    const char *d6 = "{}";
    CHECK(tl_detokenize_parse(d6, strlen(d6), &LIM, 100, 2, &ids, &n, &e) == -1 && strstr(e.message, "required"));
    return test_finish();
}
