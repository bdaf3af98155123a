// npm tiktoken side of bench/tokenizer.sh: encode a file's text REPEAT times in this process and
// print the fastest time, loading excluded, in the same format as `teelm tokenize --bench`.
'use strict';
const { get_encoding } = require('tiktoken');
const fs = require('fs');
const [encoding, path, repeat] = [process.argv[2], process.argv[3], Number(process.argv[4] || 5)];
const text = fs.readFileSync(path, 'utf8');
const bytes = Buffer.byteLength(text, 'utf8');
const enc = get_encoding(encoding);
let best = Infinity, n = 0;
for (let r = 0; r < repeat; r++) {
  const t0 = process.hrtime.bigint();
  n = enc.encode(text).length;
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  if (dt < best) best = dt;
}
enc.free();
console.log(`bytes=${bytes} tokens=${n} seconds=${best.toFixed(6)} mb_per_s=${(bytes / 1e6 / best).toFixed(3)}`);
