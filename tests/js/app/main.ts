// SPDX-License-Identifier: Apache-2.0
// The JavaScript guest's end-to-end test task (bundled by guest/js/bundle.sh in test_js.py).
import { task, TaskError, log } from "capsule";
import * as fs from "fs";
import { readFile } from "fs/promises";
import { shout } from "tinypkg";          // an npm ESM package from node_modules (made by the test)
import { helper } from "./lib";

export const main = task({ name: "main", compute: "MEDIUM", ram: "64MB" }, async (n: string) => {
  const parts = await Promise.all([[0, 1, 2], [3, 4, 5], [6]].slice(0, Math.ceil(Number(n) / 3)).map(sum));
  return { parts };
});
const sum = task({ name: "sum", compute: "LOW" }, (xs: number[]) => xs.reduce((a, b) => a + b, 0));

export const echo = task({ name: "echo" }, (...args: unknown[]) => args);

export const types = task({ name: "types" }, () => ({
  int: 42, float: 2.5, neg: -1, big: 2 ** 53 - 1, str: "héllo ☃ 𝄞", t: true, f: false, nil: null,
  arr: [1, "two", [3]], obj: { nested: { deep: [] } }, empty: {},
}));

export const web = task({ name: "web" }, () => {
  const enc = new TextEncoder().encode("h€llo");
  const u = new URL("../a/b?x=1&y=two#frag", "https://User:pw@Example.COM:443/p/q/r");
  u.searchParams.append("z", "a b");
  const uuid = crypto.randomUUID();
  const rnd = crypto.getRandomValues(new Uint8Array(8));
  const clone = structuredClone({ d: new Date(0), m: new Map([[1, { s: new Set([2]) }]]) });
  return {
    enc: Array.from(enc), dec: new TextDecoder().decode(enc), bad: new TextDecoder().decode(new Uint8Array([0x61, 0xff, 0x62])),
    href: u.href, host: u.host, origin: u.origin, q: u.searchParams.get("y"),
    usp: new URLSearchParams({ a: "1", b: "x y" }).toString(),
    b64: btoa("hello"), unb64: atob("aGVsbG8="), uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(uuid),
    rnd: rnd.length, clone: [clone.d instanceof Date, clone.m.get(1).s.has(2)],
    pkg: shout("npm"), lib: helper(2), fromAsync: typeof Array.fromAsync,
  };
});

export const timers = task({ name: "timers" }, async () => {
  const order: string[] = [];
  const t0 = performance.now();
  setTimeout(() => order.push("t50"), 50);
  setTimeout(() => order.push("t10"), 10);
  const iv = setInterval(() => { order.push("iv"); if (order.filter((x) => x === "iv").length === 3) clearInterval(iv); }, 5);
  const cancelled = setTimeout(() => order.push("never"), 20);
  clearTimeout(cancelled);
  queueMicrotask(() => order.push("micro"));
  // Wait until everything due has fired (however slow the machine), then a little more.
  await new Promise<void>((r) => {
    const done = () => (order.filter((x) => x === "iv").length === 3 && order.includes("t50") ? setTimeout(r, 30) : setTimeout(done, 5));
    done();
  });
  return { order, waited: performance.now() - t0 >= 75 };
});

export const boom = task({ name: "boom" }, (why: string) => {
  helperThrow(why);
});
function helperThrow(why: string): never {
  throw new TypeError(`bad input: ${why}`);
}

export const env = task({ name: "env" }, () => ({ keys: Object.keys(process.env).sort(), val: process.env.CAPSULE_TEST_VAR ?? null, argv: process.argv.length > 0 }));

export const files = task({ name: "files" }, async (dir: string) => {
  fs.writeFileSync(`${dir}/out.txt`, "written by js");
  fs.appendFileSync(`${dir}/out.txt`, "!");
  fs.mkdirSync(`${dir}/sub/deeper`, { recursive: true });
  fs.writeFileSync(`${dir}/sub/deeper/x.json`, JSON.stringify({ ok: 1 }));
  const listing = fs.readdirSync(dir).sort();
  const st = fs.statSync(`${dir}/out.txt`);
  const text = await readFile(`${dir}/out.txt`, "utf8");
  fs.renameSync(`${dir}/out.txt`, `${dir}/moved.txt`);
  fs.rmSync(`${dir}/sub`, { recursive: true });
  let outside = "none";
  try { fs.readFileSync("/etc/passwd", "utf8"); outside = "read!"; } catch (e: any) { outside = e.code; }
  return { listing, size: st.size, isFile: st.isFile(), text, exists: fs.existsSync(`${dir}/moved.txt`), after: fs.readdirSync(dir).sort(), outside };
});

export const readonly = task({ name: "readonly" }, (dir: string) => {
  try { fs.writeFileSync(`${dir}/nope.txt`, "x"); return "wrote"; } catch (e: any) { return e.code; }
});

export const spin = task({ name: "spin" }, () => { for (;;) {} });
export const bomb = task({ name: "bomb" }, () => { const a: ArrayBuffer[] = []; for (;;) a.push(new ArrayBuffer(8 << 20)); });
export const recurse = task({ name: "recurse" }, () => { const f = (n: number): number => f(n + 1) + 1; return f(0); });

export const escalate = task({ name: "escalate" }, async () => {
  try {
    await greedy();
    return "not refused";
  } catch (e) {
    return e instanceof TaskError ? { type: e.errorType, message: e.taskMessage } : String(e);
  }
});
const greedy = task({ name: "greedy", allowedHosts: ["evil.example.com"] }, () => "ran");

export const logs = task({ name: "logs" }, () => { log("hello journal"); console.log("to stdout"); console.error("to stderr"); return 1; });

export const badopt = task({ name: "badopt" }, async () => {
  try { task({ name: "x", ram: "64XB" }, () => 1); return "accepted"; } catch (e: any) { return e.message; }
});

export const fetchit = task({ name: "fetchit" }, async (url: string) => {
  try {
    const r = await fetch(url, { headers: { "x-test": "1" } });
    return { status: r.status, ok: r.ok, text: await r.text(), type: r.headers.get("content-type") };
  } catch (e: any) {
    return { error: e.message, code: e.cause?.code ?? null };
  }
});
