// Independent chat-template reference: node jinja_render.js CASES.json OUT.json renders every case
// with npm @huggingface/jinja (new Template(src).render(ctx), what transformers.js uses for
// apply_chat_template) and writes [{ok, out} | {ok: false, error}] in the same order.
// CASES.json: {"now": unix_seconds, "cases": [{"template": SRC, "messages": [...], "bos_token",
// "eos_token", "add_generation_prompt"}]}. strftime_now() sees `now` (the process runs with TZ=UTC).
const fs = require('fs');
const { Template } = require('@huggingface/jinja');
const input = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const RealDate = Date;
const fixed = input.now * 1000;
global.Date = class extends RealDate {
  constructor(...a) { if (a.length) super(...a); else super(fixed); }
  static now() { return fixed; }
};
const results = input.cases.map((c) => {
  try {
    const t = new Template(c.template);
    const out = t.render({
      messages: c.messages,
      bos_token: c.bos_token,
      eos_token: c.eos_token,
      add_generation_prompt: c.add_generation_prompt,
      tools: null,
    });
    return { ok: true, out };
  } catch (e) {
    return { ok: false, error: String(e && e.message ? e.message : e) };
  }
});
fs.writeFileSync(process.argv[3], JSON.stringify(results));
