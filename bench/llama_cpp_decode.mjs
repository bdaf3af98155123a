// llama.cpp's decoding speed on a GGUF file (npm node-llama-cpp, prebuilt CPU build), for
// bench/quant.sh: node llama_cpp_decode.mjs FILE.gguf PROMPT NEW
// Prints JSON: load seconds, prompt tokens/s (PROMPT ids in one evaluation), generated tokens/s
// (NEW greedy tokens, end-of-generation ignored), 2 threads, F32 KV cache as the tests use.
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const [file, p, n] = process.argv.slice(2);
const P = parseInt(p, 10), N = parseInt(n, 10);
const t0 = performance.now();
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, usePrebuiltBinaries: true });
const model = await llama.loadModel({ modelPath: file, gpuLayers: 0, useMmap: true });
const ctx = await model.createContext({
  contextSize: 1024, batchSize: 512, threads: 2, flashAttention: false,
  experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32", sequences: 1,
});
const t1 = performance.now();
const seq = ctx.getSequence();
const ids = Array.from({ length: P }, (_, i) => 1 + ((i * 7919 + 13) % 1000));
let k = 0, tp = 0;
for await (const t of seq.evaluate(ids, { temperature: 0 })) {
  if (k === 0) tp = performance.now();
  if (++k > N) break;
}
const t2 = performance.now();
console.log(JSON.stringify({ load_s: (t1 - t0) / 1000, prompt_tokens_per_s: P / ((tp - t1) / 1000),
  generated_tokens_per_s: N / ((t2 - tp) / 1000) }));
await ctx.dispose();
await model.dispose();
await llama.dispose();
