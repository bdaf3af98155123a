// Independent chat-prompt reference: what transformers.js's apply_chat_template(messages,
// {tokenize: true}) computes, from its two parts: npm @huggingface/jinja renders the template
// (new Template(src).render(ctx)) and npm @huggingface/tokenizers encodes the whole rendered
// string with add_special_tokens false (the template writes BOS itself).
// Usage: node chat_ids.js CASES.json OUT.json. CASES.json: {"now": unix_seconds, "tokenizers":
// {NAME: {"json": PATH, "config": PATH}}, "cases": [{"tokenizer": NAME, "template", "messages",
// "bos_token", "eos_token", "add_generation_prompt"}]}. Writes [{ok, ids} | {ok: false, error}].
'use strict';
const fs = require('fs');
const { Template } = require('@huggingface/jinja');
const { Tokenizer } = require('@huggingface/tokenizers');
const input = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const RealDate = Date;
const fixed = input.now * 1000;
global.Date = class extends RealDate {
  constructor(...a) { if (a.length) super(...a); else super(fixed); }
  static now() { return fixed; }
};
const toks = {};
for (const [name, f] of Object.entries(input.tokenizers)) {
  toks[name] = new Tokenizer(JSON.parse(fs.readFileSync(f.json, 'utf8')), JSON.parse(fs.readFileSync(f.config, 'utf8')));
}
const compiled = new Map();
const results = input.cases.map((c) => {
  try {
    let t = compiled.get(c.template);
    if (!t) compiled.set(c.template, (t = new Template(c.template)));
    const text = t.render({
      messages: c.messages,
      bos_token: c.bos_token,
      eos_token: c.eos_token,
      add_generation_prompt: c.add_generation_prompt,
      tools: null,
    });
    return { ok: true, ids: toks[c.tokenizer].encode(text, { add_special_tokens: false }).ids };
  } catch (e) {
    return { ok: false, error: String(e && e.message ? e.message : e) };
  }
});
fs.writeFileSync(process.argv[3], JSON.stringify(results));
