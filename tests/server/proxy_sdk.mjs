// The official `openai` npm package through `teelm proxy` (tests/server/test_proxy.sh), as an
// unmodified application would use it: only its baseURL points at the proxy.
//   node proxy_sdk.mjs same PROXY_BASE DIRECT_BASE MODEL KEY
//       models, completions (plain, streamed), chat (plain, streamed with usage) through the proxy
//       equal the same requests sent straight to the server (run with NODE_TLS_REJECT_UNAUTHORIZED=0:
//       the direct side is the server's self-signed RA-TLS certificate); a wrong API key gets the
//       server's own 401 (the Authorization header is forwarded unchanged).
//   node proxy_sdk.mjs concurrent PROXY_BASE MODEL KEY N
//       N chat streams (distinct seeds) one at a time, then the same N at once: equal texts.
//   node proxy_sdk.mjs refused PROXY_BASE MODEL KEY FIELD
//       every call fails with a 502 attestation_failed error whose param is FIELD.
//   node proxy_sdk.mjs ok PROXY_BASE MODEL KEY
//       one completion succeeds (prints its text).
// Prints "ok: ..." / "FAIL: ..." per check; exits 1 on any failure.
import OpenAI from 'openai';

const [mode, ...args] = process.argv.slice(2);
let passed = 0, failed = 0;
function check(name, cond, detail) {
  if (cond) { passed++; console.log(`ok: ${name}`); } else { failed++; console.log(`FAIL: ${name}${detail ? ' — ' + detail : ''}`); }
}
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const sdk = (baseURL, apiKey) => new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 120000 });
const prompt = 'The sales team';
const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello there' }];

async function completionStream(c, model, extra) {
  let text = '', finish = null, usage = null;
  for await (const ch of await c.completions.create({ model, prompt, stream: true, stream_options: { include_usage: true }, ...extra })) {
    if (ch.choices.length) { text += ch.choices[0].text; if (ch.choices[0].finish_reason) finish = ch.choices[0].finish_reason; }
    if (ch.usage) usage = ch.usage;
  }
  return { text, finish, usage };
}

async function chatStream(c, model, extra) {
  let text = '', role = null, finish = null, usage = null;
  for await (const ch of await c.chat.completions.create({ model, messages, stream: true, stream_options: { include_usage: true }, ...extra })) {
    if (ch.choices.length) {
      if (role === null) role = ch.choices[0].delta.role;
      if (ch.choices[0].delta.content) text += ch.choices[0].delta.content;
      if (ch.choices[0].finish_reason) finish = ch.choices[0].finish_reason;
    }
    if (ch.usage) usage = ch.usage;
  }
  return { text, role, finish, usage };
}

// Drops the per-response fields that differ between two runs of the same request: id, created and
// the signed receipt (its counter, time and, without a request seed, the server's seed differ).
const stable = (r) => { const { id, created, teelm_receipt, ...rest } = r; return rest; };

if (mode === 'same') {
  const [pbase, dbase, model, key] = args;
  const p = sdk(pbase, key), d = sdk(dbase, key);
  const list = async (c) => { const ids = []; for await (const m of await c.models.list()) ids.push(m); return ids; };
  const pm = await list(p), dm = await list(d);
  check('models.list through the proxy equals the server\'s', same(pm, dm) && pm.length === 1 && pm[0].id === model, JSON.stringify([pm, dm]));
  check('models.retrieve through the proxy', same(await p.models.retrieve(model), await d.models.retrieve(model)));
  const req = { model, prompt, max_tokens: 12, temperature: 0 };
  const pc = await p.completions.create(req), dc = await d.completions.create(req);
  check('completions: the proxy forwards the signed receipt', !!(pc.teelm_receipt && pc.teelm_receipt.signature),
    JSON.stringify(pc));
  check('completions: the proxy\'s response equals the direct one (but id, created, receipt)', same(stable(pc), stable(dc)),
    JSON.stringify([pc, dc]));
  check('completions: 12 tokens of text', pc.usage.completion_tokens === 12 && pc.choices[0].text.length > 0);
  const seeded = { model, max_tokens: 16, temperature: 1, seed: 42 };
  const ps = await completionStream(p, model, seeded), ds = await completionStream(d, model, seeded);
  const pn = await p.completions.create({ prompt, ...seeded });
  check('completions stream through the proxy equals the direct stream', same(ps, ds), JSON.stringify([ps, ds]));
  check('completions stream equals the non-streamed text for the seed', ps.text === pn.choices[0].text &&
    ps.finish === pn.choices[0].finish_reason && same(ps.usage, pn.usage), JSON.stringify([ps, pn.choices[0]]));
  const creq = { model, messages, max_completion_tokens: 10, temperature: 0.8, seed: 3 };
  const ph = await p.chat.completions.create(creq), dh = await d.chat.completions.create(creq);
  check('chat: the proxy\'s response equals the direct one (but id, created, receipt)', same(stable(ph), stable(dh)), JSON.stringify([ph, dh]));
  const phs = await chatStream(p, model, { max_completion_tokens: 10, temperature: 0.8, seed: 3 });
  check('chat stream through the proxy: role, text, finish and usage of the non-streamed reply',
    phs.role === 'assistant' && phs.text === ph.choices[0].message.content && phs.finish === ph.choices[0].finish_reason &&
    same(phs.usage, ph.usage), JSON.stringify([phs, ph.choices[0]]));
  try {
    await sdk(pbase, 'not-the-key').models.list();
    check('a wrong API key through the proxy is the server\'s 401', false, 'no error');
  } catch (e) {
    check('a wrong API key through the proxy is the server\'s 401', e instanceof OpenAI.AuthenticationError && e.status === 401,
      `${e.status} ${e.message}`);
  }
  try {
    await p.completions.create({ model, prompt, max_tokens: 100000 });
    check('a server 400 passes through unchanged', false, 'no error');
  } catch (e) {
    check('a server 400 passes through unchanged (param max_tokens)', e.status === 400 && e.param === 'max_tokens', `${e.status} ${e.param}`);
  }
} else if (mode === 'concurrent') {
  const [pbase, model, key, n] = args;
  const p = sdk(pbase, key);
  const N = Number(n);
  const opts = (i) => ({ max_tokens: 16, temperature: 1, seed: 1000 + i });
  const alone = [];
  for (let i = 0; i < N; i++) alone.push(await chatStream(p, model, opts(i)));
  const t0 = Date.now();
  const together = await Promise.all(Array.from({ length: N }, (_, i) => chatStream(p, model, opts(i))));
  const ms = Date.now() - t0;
  let eq = 0;
  for (let i = 0; i < N; i++) if (same(alone[i], together[i])) eq++; else console.log(`  seed ${1000 + i}: ${JSON.stringify([alone[i], together[i]])}`);
  check(`${N} concurrent chat streams through the proxy equal the same requests one at a time (${eq}/${N}, ${ms} ms)`, eq === N);
  check('the streams are not all the same text (the seeds differ)', new Set(alone.map((a) => a.text)).size > 1);
  check('every stream finished with usage', together.every((t) => t.finish && t.usage && t.usage.completion_tokens > 0));
} else if (mode === 'refused') {
  const [pbase, model, key, field] = args;
  const p = sdk(pbase, key);
  const calls = {
    'models.list': () => p.models.list(),
    'completions.create': () => p.completions.create({ model, prompt: 'secret prompt', max_tokens: 4 }),
    'completions.create stream': async () => { for await (const _ of await p.completions.create({ model, prompt: 'secret', max_tokens: 4, stream: true })); },
    'chat.completions.create': () => p.chat.completions.create({ model, messages: [{ role: 'user', content: 'secret' }] }),
  };
  for (const [name, fn] of Object.entries(calls)) {
    try {
      await fn();
      check(`${name}: refused with a 502`, false, 'it succeeded');
    } catch (e) {
      check(`${name}: a 502 attestation_failed naming ${field}`, e instanceof OpenAI.APIError && e.status === 502 &&
        e.code === 'attestation_failed' && e.param === field && e.type === 'attestation_error' &&
        e.message.includes(field) && e.message.includes('no request was sent'), `${e.status} ${e.code} ${e.param} ${e.message}`);
    }
  }
} else if (mode === 'ok') {
  const [pbase, model, key] = args;
  const c = await sdk(pbase, key).completions.create({ model, prompt, max_tokens: 4, temperature: 0 });
  check('a completion through the proxy', c.usage.completion_tokens === 4, JSON.stringify(c));
} else {
  console.log(`FAIL: unknown mode ${mode}`);
  process.exit(2);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed || !passed ? 1 : 0);
