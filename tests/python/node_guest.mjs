// SPDX-License-Identifier: Apache-2.0
// A test harness (NOT a sandbox): runs Capsule's python.wasm under node's WASI with a JavaScript
// stand-in for the host side of the guest ABI (import module "capsule"), sub-tasks included.
// Used to check the interpreter build independently of our engine.
//
//   node --no-turbo-fast-api-calls node_guest.mjs PYTHON_DIR APP_DIR REQUEST_JSON [-- ARGV...]
//
// PYTHON_DIR is build/python (python.wasm + lib/), mounted at /usr/local/lib; APP_DIR at /app.
// Without "-- ARGV" the guest runs `python -I -S -m capsule /app/main.py`. Prints the result
// object the guest wrote (or null) as the last line of stdout, as "RESULT <json>".
// With CAPSULE_WASM=capsule-python.wasm in the environment it runs the task-module form
// instead: _initialize, capsule_init, capsule_run (argv: /app/main.py).
import { readFileSync } from 'node:fs';
import { WASI } from 'node:wasi';
import process, { argv, exit, stderr } from 'node:process';

const [pyDir, appDir, requestJson, ...rest] = argv.slice(2);
const sep = rest.indexOf('--');
const guestArgv = sep >= 0 ? rest.slice(sep + 1) : ['-I', '-S', '-m', 'capsule', '/app/main.py'];
const wasmName = process.env.CAPSULE_WASM || 'python.wasm';
const wasmModule = new WebAssembly.Module(readFileSync(`${pyDir}/${wasmName}`));
const reactor = WebAssembly.Module.exports(wasmModule).some((e) => e.name === 'capsule_run');
const enc = new TextEncoder();
const dec = new TextDecoder();

function runTask(request, depth) {
    const wasi = new WASI({
        version: 'preview1',
        args: reactor ? [wasmName, '/app/main.py'] : ['python.wasm', ...guestArgv],
        env: { PYTHONHASHSEED: '0' },
        preopens: { '/usr/local/lib': `${pyDir}/lib`, '/app': appDir },
        returnOnExit: true,
    });
    let memory = null;
    let result = null;
    const handles = new Map();
    let nextHandle = 1;
    const reqBytes = enc.encode(JSON.stringify(request));
    const mem = () => new Uint8Array(memory.buffer);
    const copyOut = (bytes, buf, cap) => {
        if (bytes.length <= cap) mem().set(bytes, buf);
        return bytes.length;
    };
    const capsule = {
        abi_version: () => 1,
        request_read: (buf, cap) => copyOut(reqBytes, buf, cap),
        result_write: (ptr, len) => {
            try {
                result = JSON.parse(dec.decode(mem().slice(ptr, ptr + len)));
            } catch {
                return -2;
            }
            return 0;
        },
        task_schedule: (ptr, len) => {
            const sub = JSON.parse(dec.decode(mem().slice(ptr, ptr + len)));
            const r = depth >= 16 ? { error_type: 'denied', message: 'too deep' }
                                  : runTask(sub, depth + 1).result;
            const env = r && 'result' in r
                ? { success: true, result: r.result, error: null }
                : { success: false, result: null,
                    error: r || { error_type: 'task_error', message: 'no result' } };
            if (env.error && env.error.error_type !== 'denied') env.error.error_type = 'task_error';
            const h = nextHandle++;
            handles.set(h, enc.encode(JSON.stringify(env)));
            return h;
        },
        response_read: (h, buf, cap) => (handles.has(h) ? copyOut(handles.get(h), buf, cap) : -3),
        response_close: (h) => (handles.delete(h) ? 0 : -3),
        http_request: () => -7, // ENOSYS: the harness makes no network requests
        http_body_read: () => -3,
        log: (level, ptr, len) => {
            stderr.write(`[log ${level}] ${dec.decode(mem().slice(ptr, ptr + len))}\n`);
            return 0;
        },
    };
    // node's WASI ignores the absolute-time flag of clock subscriptions and then sleeps for
    // "until" as a duration (forever): turn absolute timers into relative ones first.
    const wasiImport = { ...wasi.wasiImport };
    const pollOneoff = wasi.wasiImport.poll_oneoff;
    wasiImport.poll_oneoff = (inPtr, outPtr, n, neventsPtr) => {
        const dv = new DataView(memory.buffer);
        for (let i = 0; i < n; i++) {
            const sub = inPtr + i * 48;
            if (dv.getUint8(sub + 8) === 0 && (dv.getUint16(sub + 40, true) & 1)) {
                const clock = dv.getUint32(sub + 16, true);
                const now = clock === 0 ? BigInt(Date.now()) * 1000000n : process.hrtime.bigint();
                const until = dv.getBigUint64(sub + 24, true);
                dv.setBigUint64(sub + 24, until > now ? until - now : 0n, true);
                dv.setUint16(sub + 40, dv.getUint16(sub + 40, true) & ~1, true);
            }
        }
        return pollOneoff(inPtr, outPtr, n, neventsPtr);
    };
    const inst = new WebAssembly.Instance(wasmModule, {
        wasi_snapshot_preview1: wasiImport,
        capsule,
    });
    memory = inst.exports.memory;
    if (reactor) {
        wasi.initialize(inst);
        const t0 = performance.now();
        inst.exports.capsule_init();
        const t1 = performance.now();
        inst.exports.capsule_run();
        if (depth === 0) {
            stderr.write(`node_guest: capsule_init ${(t1 - t0).toFixed(0)} ms, ` +
                         `capsule_run ${(performance.now() - t1).toFixed(0)} ms\n`);
        }
        return { code: 0, result };
    }
    const code = wasi.start(inst);
    return { code, result };
}

const t0 = performance.now();
const { code, result } = runTask(JSON.parse(requestJson), 0);
stderr.write(`node_guest: exit ${code} in ${(performance.now() - t0).toFixed(0)} ms\n`);
console.log(`RESULT ${JSON.stringify(result)}`);
exit(code);
