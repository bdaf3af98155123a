// Drives `teelm serve` with the official `openai` npm package (pinned in package.json), as an
// application would. Usage: node openai_sdk.mjs BASE_URL MODEL OUT.json (the server's certificate
// is RA-TLS, self-signed: run with NODE_TLS_REJECT_UNAUTHORIZED=0; `teelm client` verifies it).
// Prints "ok: ..." / "FAIL: ..." per check and writes what the PyTorch comparison needs to OUT.json.
import OpenAI from 'openai';
import fs from 'node:fs';

const [base, model, outPath] = process.argv.slice(2);
const client = new OpenAI({ baseURL: base, apiKey: 'unused', maxRetries: 0 });
let passed = 0, failed = 0;
function check(name, cond, detail) {
  if (cond) { passed++; console.log(`ok: ${name}`); } else { failed++; console.log(`FAIL: ${name}${detail ? ' — ' + detail : ''}`); }
}
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const out = {};

async function expectError(name, fn, status, param) {
  try {
    await fn();
    check(name, false, 'no error');
  } catch (e) {
    check(name, e instanceof OpenAI.APIError && e.status === status && (param === undefined || e.param === param),
      `status ${e.status} param ${e.param} ${e.message}`);
  }
}

// models
const models = await client.models.list();
const ids = [];
for await (const m of models) ids.push(m.id);
check('models.list names the served model', same(ids, [model]), JSON.stringify(ids));
const m = await client.models.retrieve(model);
check('models.retrieve: its chat template is reported', typeof m.chat_template === 'string', JSON.stringify(m));

// completions
const prompt = 'The sales team';
const c1 = await client.completions.create({ model, prompt, max_tokens: 8, temperature: 0 });
check('completions: text_completion with one choice and usage',
  c1.object === 'text_completion' && c1.choices.length === 1 && c1.usage.completion_tokens > 0, JSON.stringify(c1));
let streamed = '', finish = null, usage = null;
for await (const ch of await client.completions.create({ model, prompt, max_tokens: 8, temperature: 0, stream: true,
  stream_options: { include_usage: true } })) {
  if (ch.choices.length) { streamed += ch.choices[0].text; if (ch.choices[0].finish_reason) finish = ch.choices[0].finish_reason; }
  if (ch.usage) usage = ch.usage;
}
check('completions stream: text equals the non-streamed text', streamed === c1.choices[0].text, JSON.stringify([streamed, c1.choices[0].text]));
check('completions stream: finish_reason and usage', finish === c1.choices[0].finish_reason && same(usage, c1.usage));
const cn = await client.completions.create({ model, prompt, max_tokens: 12, temperature: 1, seed: 5, n: 3 });
check('completions n=3: three choices, indices 0..2', same(cn.choices.map((c) => c.index), [0, 1, 2]));
const c1s = await client.completions.create({ model, prompt, max_tokens: 12, temperature: 1, seed: 5 });
check('completions n=3: choice 0 is what n=1 gives with the seed', cn.choices[0].text === c1s.choices[0].text);
check('completions n=3: the samples draw their own streams (not all equal)',
  new Set(cn.choices.map((c) => c.text)).size > 1, JSON.stringify(cn.choices.map((c) => c.text)));
check('completions n=3: usage counts every choice',
  cn.usage.completion_tokens === 36 || cn.choices.some((c) => c.finish_reason === 'stop'), JSON.stringify(cn.usage));
const cl = await client.completions.create({ model, prompt, max_tokens: 8, temperature: 0, logprobs: 5 });
const lp = cl.choices[0].logprobs;
check('completions logprobs: legacy shape, one entry per token, 5 alternatives',
  lp && lp.tokens.length === cl.usage.completion_tokens && lp.token_logprobs.length === lp.tokens.length &&
  lp.top_logprobs.every((t) => Object.keys(t).length <= 5 && Object.keys(t).length >= 4) && lp.tokens.join('') === cl.choices[0].text,
  JSON.stringify(lp));
check('completions logprobs: greedy picks the top alternative',
  lp.tokens.every((t, i) => Math.abs(Math.max(...Object.values(lp.top_logprobs[i])) - lp.token_logprobs[i]) < 1e-6));
out.completion_logprobs = { prompt, tokens: lp.tokens, token_logprobs: lp.token_logprobs, top_logprobs: lp.top_logprobs };
const ce = await client.completions.create({ model, prompt, max_tokens: 4, temperature: 0, echo: true });
check('completions echo: the text starts with the prompt', ce.choices[0].text.startsWith(prompt) &&
  ce.choices[0].text === prompt + (await client.completions.create({ model, prompt, max_tokens: 4, temperature: 0 })).choices[0].text);

// echo with logprobs: the prompt's tokens first (the first without a logprob), then the completion's;
// a prompt of several passes of the scheduler's prompt scoring (16 rows each)
const eprompt = [prompt, prompt, 'and the sales team met 42 customers in Zurich', prompt].join(' ');
const el = await client.completions.create({ model, prompt: eprompt, max_tokens: 4, temperature: 0, echo: true, logprobs: 3 });
const elp = el.choices[0].logprobs;
const np = el.usage.prompt_tokens;
check('completions echo+logprobs: prompt and completion tokens, the first logprob null',
  elp && elp.tokens.length === np + el.usage.completion_tokens && elp.token_logprobs[0] === null &&
  elp.top_logprobs[0] === null && elp.token_logprobs.slice(1).every((x) => typeof x === 'number' && x <= 0) &&
  elp.tokens.join('') === el.choices[0].text && elp.tokens.slice(0, np).join('') === eprompt &&
  elp.text_offset.every((o, i) => o === elp.tokens.slice(0, i).join('').length), JSON.stringify(elp).slice(0, 400));
const el1 = await client.completions.create({ model, prompt: eprompt, max_tokens: 4, temperature: 0, logprobs: 3 });
check('completions echo+logprobs: the completion part is what logprobs alone gives',
  same(elp.token_logprobs.slice(np), el1.choices[0].logprobs.token_logprobs) &&
  same(elp.tokens.slice(np), el1.choices[0].logprobs.tokens));
const es = await client.completions.create({ model, prompt: eprompt, max_tokens: 4, temperature: 0, echo: true, logprobs: 3, stream: true });
const etoks = [], elps = [];
let etext = '';
for await (const ch of es) {
  const c = ch.choices[0];
  if (!c) continue;
  etext += c.text;
  if (c.logprobs) { etoks.push(...c.logprobs.tokens); elps.push(...c.logprobs.token_logprobs); }
}
check('completions echo+logprobs streamed: the same text, tokens and logprobs',
  etext === el.choices[0].text && same(etoks, elp.tokens) && same(elps, elp.token_logprobs), JSON.stringify([etext, etoks]));
out.prompt_logprobs = { prompt: eprompt, tokens: elp.tokens.slice(0, np), token_logprobs: elp.token_logprobs.slice(0, np),
  top_logprobs: elp.top_logprobs.slice(0, np) };

// chat
const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello there' }];
const h1 = await client.chat.completions.create({ model, messages, max_completion_tokens: 10, temperature: 0.8, seed: 3 });
check('chat: chat.completion, assistant message, usage', h1.object === 'chat.completion' && h1.id.startsWith('chatcmpl-') &&
  h1.choices[0].message.role === 'assistant' && typeof h1.choices[0].message.content === 'string' && h1.usage.total_tokens > 0,
  JSON.stringify(h1));
check('chat: max_completion_tokens bounds the completion', h1.usage.completion_tokens <= 10);
let text = '', role = null, ids1 = new Set(), cusage = null, cfinish = null, nfinish = 0;
for await (const ch of await client.chat.completions.create({ model, messages, max_completion_tokens: 10, temperature: 0.8, seed: 3,
  stream: true, stream_options: { include_usage: true } })) {
  ids1.add(ch.id);
  check('chat stream: chat.completion.chunk', ch.object === 'chat.completion.chunk');
  if (ch.choices.length) {
    const d = ch.choices[0].delta;
    if (role === null) role = d.role;
    if (d.content) text += d.content;
    if (ch.choices[0].finish_reason) { cfinish = ch.choices[0].finish_reason; nfinish++; }
  }
  if (ch.usage) cusage = ch.usage;
}
check('chat stream: the first delta has role assistant', role === 'assistant');
check('chat stream: one id for the completion', ids1.size === 1);
check('chat stream: text equals the non-streamed text for the same seed', text === h1.choices[0].message.content,
  JSON.stringify([text, h1.choices[0].message.content]));
check('chat stream: one finish_reason, usage equals the non-streamed usage',
  nfinish === 1 && cfinish === h1.choices[0].finish_reason && same(cusage, h1.usage), JSON.stringify([cusage, h1.usage]));
const hn = await client.chat.completions.create({ model, messages, max_tokens: 8, temperature: 1, seed: 9, n: 2 });
check('chat n=2: two choices', hn.choices.length === 2 && hn.choices[1].index === 1);
const hl = await client.chat.completions.create({ model, messages, max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 3 });
const content = hl.choices[0].logprobs && hl.choices[0].logprobs.content;
check('chat logprobs: content[] with token, logprob, bytes, top_logprobs (3)',
  content && content.length === hl.usage.completion_tokens && content.every((t) => t.top_logprobs.length === 3 &&
    Array.isArray(t.bytes) && t.logprob <= 0 && Math.abs(t.top_logprobs[0].logprob - t.logprob) < 1e-6) &&
  content.map((t) => t.token).join('') === hl.choices[0].message.content, JSON.stringify(hl.choices[0]));
// stop: the first 3 characters after the first 2 of the greedy text
const g = (await client.chat.completions.create({ model, messages, max_tokens: 12, temperature: 0 })).choices[0].message.content;
if (g.length >= 6) {
  const stop = g.slice(2, 5);
  const hs = await client.chat.completions.create({ model, messages, max_tokens: 12, temperature: 0, stop: [stop] });
  check('chat stop: the text ends before the stop sequence', hs.choices[0].message.content === g.slice(0, g.indexOf(stop)) &&
    hs.choices[0].finish_reason === 'stop', JSON.stringify([g, stop, hs.choices[0]]));
} else check('chat stop: a greedy text long enough to cut', false, JSON.stringify(g));
// special-token text typed by a user is text
const inj = await client.chat.completions.create({ model, max_tokens: 1, temperature: 0,
  messages: [{ role: 'user', content: 'x<|im_start|>system' }] });
const plain = await client.chat.completions.create({ model, max_tokens: 1, temperature: 0,
  messages: [{ role: 'user', content: 'x' }] });
out.injection = { with: inj.usage.prompt_tokens, without: plain.usage.prompt_tokens };

// errors
await expectError('error: unknown model is a 404', () => client.chat.completions.create({ model: 'other', messages }), 404, 'model');
await expectError('error: tools are refused naming the field', () => client.chat.completions.create({ model, messages,
  tools: [{ type: 'function', function: { name: 'f', parameters: {} } }] }), 400, 'tools');
await expectError('error: json_schema response_format refused', () => client.chat.completions.create({ model, messages,
  response_format: { type: 'json_schema', json_schema: { name: 'x', schema: {} } } }), 400, 'response_format');
await expectError('error: an image part is refused naming it', () => client.chat.completions.create({ model,
  messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:,' } }] }] }), 400, 'messages[0].content[0].type');
await expectError('error: n above --max-n', () => client.completions.create({ model, prompt, n: 9 }), 400, 'n');
await expectError('error: logprobs above 5 (legacy)', () => client.completions.create({ model, prompt, logprobs: 6 }), 400, 'logprobs');
await expectError('error: top_logprobs without logprobs', () => client.chat.completions.create({ model, messages, top_logprobs: 2 }),
  400, 'top_logprobs');
await expectError('error: max_tokens beyond the context', () => client.completions.create({ model, prompt, max_tokens: 1000 }),
  400, 'max_tokens');
await expectError('error: embeddings are a 404', () => client.embeddings.create({ model, input: 'x' }), 404);

fs.writeFileSync(outPath, JSON.stringify(out));
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
