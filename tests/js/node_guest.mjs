// SPDX-License-Identifier: Apache-2.0
// A test harness (NOT a sandbox): runs Capsule's JavaScript guest (build/js) under node's WASI
// with a JavaScript stand-in for the host side of the guest ABI (import module "capsule"),
// sub-tasks included. Checks the interpreter build independently of our engine.
//
//   node --no-turbo-fast-api-calls node_guest.mjs JS_DIR APP_DIR REQUEST_JSON [-- ARGV...]
//
// APP_DIR is mounted at /app; the task module qjs-capsule.wasm runs with argv
// ["capsule", "/app/main.mjs", ...] (override with "-- ARGV..."). With CAPSULE_WASM=qjs.wasm the
// command form runs instead (argv from "-- ARGV..."). Prints "RESULT <json>" (what the guest
// wrote with result_write, or null) as the last line of stdout, and exits with the guest's code.
// CAPSULE_ENV='{"K":"V"}' sets the guest's environment; CAPSULE_MOUNT=HOST::/GUEST adds a mount.
import { readFileSync } from 'node:fs';
import { WASI } from 'node:wasi';
import process, { argv, stderr, stdout } from 'node:process';

const [jsDir, appDir, requestJson, ...rest] = argv.slice(2);
const sep = rest.indexOf('--');
const wasmName = process.env.CAPSULE_WASM || 'qjs-capsule.wasm';
const guestArgv = sep >= 0 ? rest.slice(sep + 1) : ['capsule', '/app/main.mjs'];
const t0 = process.hrtime.bigint();
const wasmModule = new WebAssembly.Module(readFileSync(`${jsDir}/${wasmName}`));
const compileMs = Number(process.hrtime.bigint() - t0) / 1e6;
const reactor = WebAssembly.Module.exports(wasmModule).some((e) => e.name === 'capsule_run');
const enc = new TextEncoder();
const dec = new TextDecoder();
const preopens = { '/app': appDir };
if (process.env.CAPSULE_MOUNT) {
    for (const m of process.env.CAPSULE_MOUNT.split(',')) {
        const [h, g] = m.split('::');
        preopens[g] = h;
    }
}
const env = process.env.CAPSULE_ENV ? JSON.parse(process.env.CAPSULE_ENV) : {};

function runTask(request, depth) {
    const wasi = new WASI({ version: 'preview1', args: guestArgv, env, preopens, returnOnExit: true });
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
                const r = JSON.parse(dec.decode(mem().slice(ptr, ptr + len)));
                if (typeof r !== 'object' || r === null || (!('result' in r) && typeof r.message !== 'string')) return -2;
                result = r;
            } catch {
                return -2;
            }
            return 0;
        },
        task_schedule: (ptr, len) => {
            const sub = JSON.parse(dec.decode(mem().slice(ptr, ptr + len)));
            const policy = sub.policy || {};
            let env;
            if (depth >= 16) {
                env = { success: false, result: null, error: { error_type: 'denied', message: 'too deep' } };
            } else if (policy.allowed_hosts && policy.allowed_hosts.length) {
                // Stand-in for the host's bounding: the harness grants no hosts.
                env = { success: false, result: null,
                        error: { error_type: 'denied', message: `denied: the sub-task asks for allowed_hosts "${policy.allowed_hosts[0]}", which its parent was not granted` } };
            } else {
                const r = runTask(sub, depth + 1).result;
                env = r && 'result' in r ? { success: true, result: r.result, error: null }
                    : { success: false, result: null,
                        error: { ...(r || { message: 'no result' }), error_type: 'task_error' } };
            }
            const h = nextHandle++;
            handles.set(h, enc.encode(JSON.stringify(env)));
            return h;
        },
        response_read: (h, buf, cap) => (handles.has(h) ? copyOut(handles.get(h), buf, cap) : -3),
        response_close: (h) => (handles.delete(h) ? 0 : -3),
        // The harness has no network: every request is refused like a host without grants.
        http_request: () => {
            const h = nextHandle++;
            handles.set(h, enc.encode(JSON.stringify({ error: { error_type: 'denied', message: 'denied: the harness grants no hosts' } })));
            return h;
        },
        http_body_read: (h, buf, cap) => (handles.has(h) ? 0 : -3),
        log: (level, ptr, len) => {
            stderr.write(`[log ${level}] ${dec.decode(mem().slice(ptr, ptr + len))}\n`);
            return 0;
        },
    };
    const inst = new WebAssembly.Instance(wasmModule, { wasi_snapshot_preview1: wasi.wasiImport, capsule });
    memory = inst.exports.memory;
    let code = 0;
    if (reactor) {
        try {
            wasi.initialize(inst);
            inst.exports.capsule_run();
        } catch (e) {
            if (e && e.code !== undefined && typeof e.code === 'number') code = e.code;
            else { stderr.write(`trap: ${e && e.stack}\n`); code = 134; }
        }
    } else {
        code = wasi.start(inst);
    }
    return { result, code };
}

const t1 = process.hrtime.bigint();
const { result, code } = runTask(JSON.parse(requestJson), 0);
const runMs = Number(process.hrtime.bigint() - t1) / 1e6;
if (process.env.CAPSULE_TIMING) stderr.write(`compile ${compileMs.toFixed(1)} ms, run ${runMs.toFixed(1)} ms\n`);
stdout.write(`RESULT ${JSON.stringify(result)}\n`);
process.exitCode = code; // not exit(): a large RESULT line must reach the pipe first
