// Independent tokenizer reference: node tiktoken_ids.js TEXT OUT writes the cl100k_base ids of
// TEXT as little-endian uint32 (npm tiktoken, found through NODE_PATH or the project's node_modules).
const fs = require('fs');
const { get_encoding } = require('tiktoken');
const enc = get_encoding('cl100k_base');
const ids = enc.encode(fs.readFileSync(process.argv[2], 'utf8'));
const buf = Buffer.alloc(ids.length * 4);
for (let i = 0; i < ids.length; i++) buf.writeUInt32LE(ids[i], 4 * i);
fs.writeFileSync(process.argv[3], buf);
enc.free();
