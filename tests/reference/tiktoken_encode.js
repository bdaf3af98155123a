// Reference side of the tokenizer tests: npm tiktoken (the `tiktoken` package pinned in package.json).
// Reads commands from stdin, one per line, and answers each with one line on stdout:
//   E ENCODING ALLOW BASE64  -> the token ids of the UTF-8 text (decoded by Buffer.toString, so invalid
//                               bytes become U+FFFD), space-separated; "ERR" if tiktoken throws
//                               (ALLOW 1 = allowed_special "all", 0 = tiktoken's default: none)
//   F ENCODING PATH          -> the token ids of the file's text
//   S BASE64                 -> base64 of the UTF-8 bytes of Buffer.toString('utf8') (the U+FFFD repair)
// One process serves a whole test (line_commands.js).
'use strict';
const { get_encoding } = require('tiktoken');
const fs = require('fs');
const { answerLines } = require('./line_commands.js');

const encs = {};
function enc(name) {
  if (!encs[name]) encs[name] = get_encoding(name);
  return encs[name];
}
answerLines((f) => {
  if (f[0] === 'E') {
    const text = Buffer.from(f[3] || '', 'base64').toString('utf8');
    const ids = f[2] === '1' ? enc(f[1]).encode(text, 'all') : enc(f[1]).encode(text);
    return Array.from(ids).join(' ');
  } else if (f[0] === 'F') {
    return Array.from(enc(f[1]).encode(fs.readFileSync(f.slice(2).join(' '), 'utf8'))).join(' ');
  } else if (f[0] === 'S') {
    return Buffer.from(Buffer.from(f[1] || '', 'base64').toString('utf8'), 'utf8').toString('base64');
  }
  return 'ERR unknown command';
}, () => 'ERR', () => {
  for (const k in encs) encs[k].free();
});
