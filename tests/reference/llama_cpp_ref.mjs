// llama.cpp (npm node-llama-cpp, prebuilt CPU build; nothing is compiled or downloaded) as the
// reference for teelm's GGUF support.
//   node llama_cpp_ref.mjs generate FILE.gguf N ID,ID,...   greedy (temperature 0) N tokens after the
//        prompt ids (no BOS added: the ids are used as given); prints the generated ids, comma-separated,
//        stopping after an end-of-generation token as teelm does
//   node llama_cpp_ref.mjs tokenize FILE.gguf TEXTFILE [special]   prints the ids of the file's text
//        (UTF-8) as llama.cpp's tokenize gives them, no BOS/EOS added; special tokens parsed with "special"
//   node llama_cpp_ref.mjs meta FILE.gguf                    prints bos, eos, add_bos as JSON
// The KV cache is kept in F32 (teelm's cache is F32; llama.cpp's default F16 cache would round keys and
// values), flash attention off, 2 threads.
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { readFileSync } from "node:fs";

const [cmd, file, a1, a2] = process.argv.slice(2);
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, usePrebuiltBinaries: true });
const model = await llama.loadModel({ modelPath: file, gpuLayers: 0, useMmap: true });
if (cmd === "generate") {
  const n = parseInt(a1, 10);
  const ids = a2.split(",").filter((x) => x.length).map((x) => parseInt(x, 10));
  const ctx = await model.createContext({
    contextSize: Math.min(model.trainContextSize, 4096), batchSize: 512, threads: 2, flashAttention: false,
    experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32", sequences: 1,
  });
  const seq = ctx.getSequence();
  const out = [];
  for await (const t of seq.evaluate(ids, { temperature: 0 })) {
    out.push(t);
    if (out.length >= n || model.isEogToken(t)) break;
  }
  console.log(out.join(","));
  await ctx.dispose();
} else if (cmd === "tokenize") {
  // llama.cpp's tokenize without BOS/EOS (teelm tokenize adds none); a2 = "special": parse special tokens
  const text = readFileSync(a1, "utf8");
  console.log(model.tokenize(text, a2 === "special").join(","));
} else if (cmd === "meta") {
  console.log(JSON.stringify({ bos: model.tokens.bos, eos: model.tokens.eos, add_bos: model.tokens.shouldPrependBosToken }));
} else {
  console.error("usage: llama_cpp_ref.mjs generate|tokenize|meta FILE ...");
  process.exit(2);
}
await model.dispose();
await llama.dispose();
