// SPDX-License-Identifier: Apache-2.0
// JavaScript workloads for bench/js/run.sh: each runs for a fixed amount of work and prints
// "NAME MS" (its own elapsed time, from performance.now), so the same file measures QuickJS
// under Capsule, the same QuickJS wasm under node's WASI, and V8 (node itself).
const only = (globalThis.process && process.argv.find((a) => a.startsWith('--only=')))?.slice(7);
const results = [];
function bench(name, fn) {
    if (only && only !== name) return;
    const t0 = performance.now();
    const check = fn();
    const ms = performance.now() - t0;
    results.push(name);
    console.log(`${name} ${ms.toFixed(2)} ${check}`);
}

bench('fib', () => {
    const fib = (n) => (n < 2 ? n : fib(n - 1) + fib(n - 2));
    return fib(24);
});
bench('loop', () => {
    let s = 0;
    for (let i = 0; i < 3_000_000; i++) s = (s + i * 7) % 1000003;
    return s;
});
bench('objects', () => {
    let n = 0;
    for (let i = 0; i < 100_000; i++) {
        const o = { id: i, name: `n${i}`, tags: [i % 3, i % 5], nested: { v: i * 2 } };
        n += o.nested.v + o.tags.length;
    }
    return n;
});
bench('json', () => {
    const data = Array.from({ length: 2000 }, (_, i) => ({ id: i, name: `item ${i}`, ok: i % 2 === 0, vals: [i, i / 2] }));
    let n = 0;
    for (let k = 0; k < 10; k++) n += JSON.parse(JSON.stringify(data)).length;
    return n;
});
bench('strings', () => {
    const parts = [];
    for (let i = 0; i < 50_000; i++) parts.push(`line ${i}: ${'x'.repeat(i % 20)}`);
    const s = parts.join('\n');
    return s.split('\n').filter((l) => l.endsWith('xxx')).length + s.toUpperCase().length;
});
bench('regex', () => {
    const text = Array.from({ length: 5000 }, (_, i) => `user${i}@example${i % 7}.com, id=${i}`).join('; ');
    return [...text.matchAll(/(\w+)@(\w+)\.com, id=(\d+)/g)].length;
});
bench('sort', () => {
    let x = 12345;
    const a = Array.from({ length: 100_000 }, () => (x = (x * 1103515245 + 12345) % 2147483648));
    a.sort((p, q) => p - q);
    return a[500];
});
bench('map_set', () => {
    const m = new Map();
    for (let i = 0; i < 100_000; i++) m.set(`k${i % 5000}`, (m.get(`k${i % 5000}`) || 0) + 1);
    const s = new Set();
    for (let i = 0; i < 100_000; i++) s.add(i % 777);
    return m.size + s.size;
});
export default results;
