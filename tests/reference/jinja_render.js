// Independent chat-template reference: node jinja_render.js CASES.json OUT.json renders every case
// with npm @huggingface/jinja (new Template(src).render(ctx), what transformers.js uses for
// apply_chat_template) and writes [{ok, out} | {ok: false, error}] in the same order.
// CASES.json: {"now": unix_seconds, "cases": [{"template": SRC, "messages": [...], "bos_token",
// "eos_token", "add_generation_prompt"}]}. strftime_now() sees `now` (the process runs with TZ=UTC).
const { readCases, renderCases } = require('./chat_cases.js');
renderCases(readCases(), (out) => ({ out }));
