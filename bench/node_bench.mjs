// SPDX-License-Identifier: Apache-2.0
// node (V8) harness for bench/run.sh.
//   node node_bench.mjs MODULE.wasm [ITERS]          import-free module: calls its `run` export
//   node node_bench.mjs --wasi MODULE.wasm [ITERS]   WASI command built with bench/main.c
// Prints the same lines as capsule-bench and the native build: load_ns=, inst_ns=, one ns= per
// call after a warm-up call, result=.
import { readFileSync } from 'node:fs';
import { argv, exit, hrtime } from 'node:process';

const args = argv.slice(2);
const wasi = args[0] === '--wasi';
if (wasi) args.shift();
const [path, itersArg] = args;
if (!path) {
  console.error('usage: node node_bench.mjs [--wasi] MODULE.wasm [ITERS]');
  exit(2);
}
const iters = itersArg === undefined ? 5 : Number(itersArg);
const bytes = readFileSync(path);

if (wasi) {
  // The command measures itself (bench/main.c) and prints ns=/result= lines on its stdout.
  const { WASI } = await import('node:wasi');
  const w = new WASI({ version: 'preview1', args: [path, String(iters)], env: {} });
  const module = await WebAssembly.compile(bytes);
  const instance = await WebAssembly.instantiate(module, { wasi_snapshot_preview1: w.wasiImport });
  exit(w.start(instance));
}

let t0 = hrtime.bigint();
const module = await WebAssembly.compile(bytes);
let t1 = hrtime.bigint();
const instance = await WebAssembly.instantiate(module, {});
let t2 = hrtime.bigint();
console.log(`load_ns=${t1 - t0}`);
console.log(`inst_ns=${t2 - t1}`);
const run = instance.exports.run;
const first = run() >>> 0;
for (let i = 0; i < iters; i++) {
  const s = hrtime.bigint();
  const r = run() >>> 0;
  const e = hrtime.bigint();
  if (r !== first) {
    console.error(`run: result changed between calls: ${first} then ${r}`);
    exit(1);
  }
  console.log(`ns=${e - s}`);
}
console.log(`result=${first}`);
