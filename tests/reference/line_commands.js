// Shared by the tokenizer references that answer commands on stdin (hf_tokenizer.js,
// tiktoken_encode.js): one process serves a whole test, so node starts once. Every line of stdin
// is a command, its space-separated fields passed to answer(fields), which returns the one line
// to print; a command that throws is answered with failed(error) instead. The answers are printed,
// in order, once stdin closes; then done() runs, when given.
'use strict';
const readline = require('readline');

function answerLines(answer, failed, done) {
  const out = [];
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  rl.on('line', (line) => {
    const f = line.split(' ');
    try {
      out.push(answer(f));
    } catch (e) {
      out.push(failed(e));
    }
  });
  rl.on('close', () => {
    process.stdout.write(out.join('\n') + '\n');
    if (done) done();
  });
}

module.exports = { answerLines };
