// Independent chat-prompt reference: what transformers.js's apply_chat_template(messages,
// {tokenize: true}) computes, from its two parts: npm @huggingface/jinja renders the template
// (new Template(src).render(ctx)) and npm @huggingface/tokenizers encodes the whole rendered
// string with add_special_tokens false (the template writes BOS itself).
// Usage: node chat_ids.js CASES.json OUT.json. CASES.json: {"now": unix_seconds, "tokenizers":
// {NAME: {"json": PATH, "config": PATH}}, "cases": [{"tokenizer": NAME, "template", "messages",
// "bos_token", "eos_token", "add_generation_prompt"}]}. Writes [{ok, ids} | {ok: false, error}].
'use strict';
const fs = require('fs');
const { Tokenizer } = require('@huggingface/tokenizers');
const { readCases, renderCases } = require('./chat_cases.js');
const input = readCases();
const toks = {};
for (const [name, f] of Object.entries(input.tokenizers)) {
  toks[name] = new Tokenizer(JSON.parse(fs.readFileSync(f.json, 'utf8')), JSON.parse(fs.readFileSync(f.config, 'utf8')));
}
renderCases(input, (text, c) => ({ ids: toks[c.tokenizer].encode(text, { add_special_tokens: false }).ids }));
