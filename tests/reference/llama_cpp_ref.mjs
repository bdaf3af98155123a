// llama.cpp (npm node-llama-cpp, prebuilt CPU build; nothing is compiled or downloaded) as the
// reference for teelm's GGUF support.
//   node llama_cpp_ref.mjs generate FILE.gguf N ID,ID,...   greedy (temperature 0) N tokens after the
//        prompt ids (no BOS added: the ids are used as given); prints the generated ids, comma-separated,
//        stopping after an end-of-generation token as teelm does
//   node llama_cpp_ref.mjs tokenize FILE.gguf TEXTFILE [special]   prints the ids of the file's text
//        (UTF-8) as llama.cpp's tokenize gives them, no BOS/EOS added; special tokens parsed with "special"
//   node llama_cpp_ref.mjs meta FILE.gguf                    prints bos, eos, add_bos as JSON
//   node llama_cpp_ref.mjs serve    reads requests from stdin, one a line, the arguments above separated
//        by tabs (generate<TAB>FILE<TAB>N<TAB>IDS), and answers each with one line: the output above, or
//        "ERR message"; one process for a whole test, since starting llama.cpp costs more than a small
//        model's run
// The KV cache is kept in F32 (teelm's cache is F32; llama.cpp's default F16 cache would round keys and
// values), flash attention off, 2 threads.
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";

const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, usePrebuiltBinaries: true });

async function run(cmd, file, a1, a2) {
  const model = await llama.loadModel({ modelPath: file, gpuLayers: 0, useMmap: true });
  try {
    if (cmd === "generate") {
      const n = parseInt(a1, 10);
      const ids = a2.split(",").filter((x) => x.length).map((x) => parseInt(x, 10));
      const ctx = await model.createContext({
        contextSize: Math.min(model.trainContextSize, 4096), batchSize: 512, threads: 2, flashAttention: false,
        experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32", sequences: 1,
      });
      try {
        const seq = ctx.getSequence();
        const out = [];
        for await (const t of seq.evaluate(ids, { temperature: 0, yieldEogToken: true })) {
          out.push(t);
          if (out.length >= n || model.isEogToken(t)) break;
        }
        return out.join(",");
      } finally {
        await ctx.dispose();
      }
    } else if (cmd === "tokenize") {
      // llama.cpp's tokenize without BOS/EOS (teelm tokenize adds none); a2 = "special": parse special tokens
      const text = readFileSync(a1, "utf8");
      return model.tokenize(text, a2 === "special").join(",");
    } else if (cmd === "meta") {
      return JSON.stringify({ bos: model.tokens.bos, eos: model.tokens.eos, add_bos: model.tokens.shouldPrependBosToken });
    }
    throw new Error("usage: llama_cpp_ref.mjs generate|tokenize|meta FILE ... | serve");
  } finally {
    await model.dispose();
  }
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === "serve") {
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of rl) {
    let r;
    try {
      r = await run(...line.split("\t"));
    } catch (e) {
      r = "ERR " + String(e && e.message ? e.message : e).replace(/\s+/g, " ");
    }
    process.stdout.write(r + "\n");
  }
} else {
  try {
    console.log(await run(cmd, ...args));
  } catch (e) {
    console.error(String(e && e.message ? e.message : e));
    process.exitCode = 2;
  }
}
await llama.dispose();
