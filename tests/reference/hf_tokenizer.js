// Reference side of the tokenizer.json tests: npm @huggingface/tokenizers 0.2.0 (pinned in package.json).
// Usage: node hf_tokenizer.js TOKENIZER.json [CONFIG.json|-]; then commands on stdin, one per line:
//   E MODE BASE64 -> ids of Buffer.toString('utf8') of the bytes, space-separated ("ERR" if it throws).
//                    MODE n: recognize added tokens, no post-processor (add_special_tokens false);
//                         a: the same with the post-processor (add_special_tokens true);
//                         p: plain text (special added tokens removed from the tokenizer; no post-processor)
//   D IDS         -> base64 of the UTF-8 of decode(ids) (IDS comma-separated)
//   B MODE PATH N -> encodes the file's text N times, prints milliseconds of the fastest run
'use strict';
const { Tokenizer } = require('@huggingface/tokenizers');
const fs = require('fs');
const { answerLines } = require('./line_commands.js');

const json = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const cfg = process.argv[3] && process.argv[3] !== '-' ? JSON.parse(fs.readFileSync(process.argv[3], 'utf8')) : {};
const tok = new Tokenizer(json, cfg);
const plainJson = JSON.parse(JSON.stringify(json));
plainJson.added_tokens = (plainJson.added_tokens || []).filter((t) => !t.special);
const plain = new Tokenizer(plainJson, cfg);
// The model's bpe(piece) is a pure function of the piece and the (shared) vocabulary and merges, but
// the library caches it per instance and only for pieces under 256 characters: a SentencePiece file
// without a pre-tokenizer sees the seed text as one 460 KB piece, merged again for every mode. For
// the E commands, one memo serves both instances and every mode (B, the benchmark, runs uncached).
const memo = new Map();
let memoOn = false;
for (const t of [tok, plain]) {
  const m = t.model;
  if (!m || typeof m.bpe !== 'function') continue;
  const bpe = m.bpe.bind(m);
  m.bpe = (piece) => {
    if (!memoOn) return bpe(piece);
    let r = memo.get(piece);
    if (r === undefined) memo.set(piece, (r = bpe(piece)));
    return r;
  };
}
function enc(mode, text) {
  if (mode === 'p') return plain.encode(text, { add_special_tokens: false }).ids;
  return tok.encode(text, { add_special_tokens: mode === 'a' }).ids;
}
answerLines((f) => {
  if (f[0] === 'E') {
    memoOn = true;
    try {
      return enc(f[1], Buffer.from(f[2] || '', 'base64').toString('utf8')).join(' ');
    } finally {
      memoOn = false;
    }
  } else if (f[0] === 'D') {
    const ids = f[1] ? f[1].split(',').map(Number) : [];
    return ids.length ? Buffer.from(tok.decode(ids), 'utf8').toString('base64') : '';
  } else if (f[0] === 'B') {
    const text = fs.readFileSync(f[2], 'utf8');
    let best = Infinity, n = 0;
    for (let i = 0; i < Number(f[3] || 3); i++) {
      const t0 = process.hrtime.bigint();
      n = enc(f[1], text).length;
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (ms < best) best = ms;
    }
    return best.toFixed(3) + ' ' + n;
  }
  return 'ERR unknown command';
}, (e) => 'ERR ' + String(e.message || e).replace(/\n/g, ' '));
