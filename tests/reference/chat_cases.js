// Shared by the two chat-template references (jinja_render.js, chat_ids.js): reading CASES.json
// (process.argv[2]) with the clock fixed at its `now`, so that strftime_now() renders the same
// date as teelm's side, and rendering every case with npm @huggingface/jinja (new
// Template(src).render(ctx), what transformers.js's apply_chat_template uses), each result
// written to OUT.json (process.argv[3]) in the cases' order.
'use strict';
const fs = require('fs');
const { Template } = require('@huggingface/jinja');

function readCases() {
  const input = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const RealDate = Date;
  const fixed = input.now * 1000;
  global.Date = class extends RealDate {
    constructor(...a) { if (a.length) super(...a); else super(fixed); }
    static now() { return fixed; }
  };
  return input;
}

// Writes [{ok: true, ...fields(text, case)} | {ok: false, error}]: text is the rendered prompt.
// Each template is compiled once (the cases repeat a few templates many times).
function renderCases(input, fields) {
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
      return { ok: true, ...fields(text, c) };
    } catch (e) {
      return { ok: false, error: String(e && e.message ? e.message : e) };
    }
  });
  fs.writeFileSync(process.argv[3], JSON.stringify(results));
}

module.exports = { readCases, renderCases };
