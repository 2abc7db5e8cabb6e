// SPDX-License-Identifier: Apache-2.0
// More test tasks for the JavaScript guest, run through `capsule run extra.ts` (the real CLI:
// the host bundles it into .capsule/js/<key>/) by test_js.py's "cli" mode.
import { task, tasks, ConfigError } from "capsule";
import { readFile, writeFile, mkdir, readdir, stat, rename, rm } from "fs/promises";
import * as nodeFs from "node:fs";
import cjsDefault from "cjspkg"; // a CommonJS npm package (module.exports), made by the test
import { DATA } from "./data";   // a large generated module: bundling it takes a while
const { twice } = require("cjspkg");

// Deliberately ill-typed: TypeScript is stripped by esbuild, not type-checked.
const notANumber: number = "typed wrong";

export const main = task({ name: "main" }, (...args: unknown[]) => ({ args, n: DATA.length }));

export const random = task({ name: "random" }, () => ({
  math: Array.from({ length: 4 }, () => Math.random()),
  uuid: crypto.randomUUID(),
  inRange: Array.from({ length: 1000 }, () => Math.random()).every((x) => x >= 0 && x < 1),
}));

export const proc = task({ name: "proc" }, (...args: unknown[]) => ({
  args, argv: process.argv, env: { ...process.env }, now: performance.now(),
}));

export const cjs = task({ name: "cjs" }, () => ({ twice: twice(21), viaDefault: cjsDefault.twice(5), kind: cjsDefault.kind, notANumber }));

export const boomTs = task({ name: "boomTs" }, (n: number) => {
  return deeper(n);
});
function deeper(n: number): number {
  if (n > 0) throw new RangeError(`deep failure ${n}`);
  return n;
}

export const sleepy = task({ name: "sleepy" }, async (ms: string) => {
  await new Promise((r) => setTimeout(r, Number(ms)));
  return "woke";
});

// Every JSON type in (from --args-file) and back out, unchanged.
export const roundtrip = task({ name: "roundtrip" }, (...args: unknown[]) => ({ args, types: args.map((a) => (a === null ? "null" : Array.isArray(a) ? "array" : typeof a)) }));

export const options = task({ name: "options" }, () => {
  const f = () => 1;
  const camel = task({ name: "c1", compute: "low", ram: "32MB", timeout: "5s", maxRetries: 2, allowedFiles: ["./data:ro"], allowedHosts: ["api.example.com"], envVariables: ["API_KEY"] }, f).policy;
  const snake = task({ name: "c2", compute: "low", ram: "32MB", timeout: "5s", max_retries: 2, allowed_files: ["./data:ro"], allowed_hosts: ["api.example.com"], env_variables: ["API_KEY"] }, f).policy;
  const errors: Record<string, string> = {};
  const bad: Record<string, object> = {
    compute: { compute: "SUPER" }, ram: { ram: "64XB" }, timeout: { timeout: "5 parsecs" },
    retries: { maxRetries: 1000 }, files: { allowedFiles: ["data::relative"] }, hosts: { allowedHosts: ["a b"] },
    env: { envVariables: ["1BAD"] }, unknown: { rma: "64MB" }, name: { name: "" },
  };
  for (const [k, o] of Object.entries(bad)) {
    try { task({ name: "bad", ...o } as any, f); errors[k] = "accepted"; } catch (e: any) { errors[k] = `${e instanceof ConfigError ? "ConfigError" : e.name}: ${e.message}`; }
  }
  let notFn = "accepted";
  try { task({ name: "nf" }, 42 as any); } catch (e: any) { notFn = e.message; }
  return { camel, snake, errors, notFn, registered: tasks.has("c1") && tasks.has("c2") };
});

export const fsPromises = task({ name: "fsPromises" }, async (dir: string) => {
  await mkdir(`${dir}/a/b`, { recursive: true });
  await writeFile(`${dir}/a/b/f.txt`, "promised");
  const st = await stat(`${dir}/a/b/f.txt`);
  await rename(`${dir}/a/b/f.txt`, `${dir}/a/g.txt`);
  const listing = (await readdir(`${dir}/a`)).sort();
  const text = await readFile(`${dir}/a/g.txt`, "utf8");
  const viaNode = nodeFs.readFileSync(`${dir}/a/g.txt`, "utf8");
  await rm(`${dir}/a`, { recursive: true });
  let outsideWrite = "wrote";
  try { await writeFile("/elsewhere.txt", "x"); } catch (e: any) { outsideWrite = e.code; }
  let outsideRead = "read";
  try { await readFile("/etc/hostname", "utf8"); } catch (e: any) { outsideRead = e.code; }
  return { size: st.size, isFile: st.isFile(), listing, text, viaNode, gone: !nodeFs.existsSync(`${dir}/a`), outsideWrite, outsideRead };
});

export const gaps = task({ name: "gaps" }, async () => {
  async function* gen() { yield 1; yield 2; }
  const fromAsync = await Array.fromAsync(gen(), (x: number) => x * 10);
  const fromPromises = await Array.fromAsync([Promise.resolve(3), 4]);
  const { promise, resolve } = Promise.withResolvers<string>();
  setTimeout(() => resolve("resolved"), 1);
  const sets = [...(new Set([1, 2]) as any).union(new Set([2, 3]))].concat([...(new Set([1, 2, 3]) as any).difference(new Set([2]))]);
  function* naturals() { let i = 0; for (;;) yield i++; }
  const iters = (naturals() as any).drop(1).filter((x: number) => x % 2).map((x: number) => x * 10).take(3).toArray();
  const tried = await (Promise as any).try(() => "tried");
  return { fromAsync, fromPromises, withResolvers: await promise, wellFormed: ["a\uD800".isWellFormed(), "a\uD800".toWellFormed() === "a\uFFFD"], sets, iters, tried };
});

export const consoleOut = task({ name: "consoleOut" }, () => {
  console.log("%s=%d", "x", 42, { a: [1, { b: 2 }], s: "q" });
  console.info("info", [1, 2], new Map([[1, "a"]]), new Set([1]), null, undefined, 3n);
  console.warn("warned");
  console.error(new RangeError("bad"));
  console.group("G"); console.log("inner"); console.groupEnd();
  console.count(); console.count();
  console.dir({ deep: { er: { est: { x: 1 } } } }, { depth: 0 });
  process.stdout.write("raw\n");
  return 1;
});
