// SPDX-License-Identifier: Apache-2.0
// The guest entry (module "capsule:runner"), driven by embed.c:
//   prepare({path, mode})  imports the user's bundle once (what a snapshot keeps) and registers
//                          its exported tasks; a failure is kept and reported by serve()
//   serve()                renews per-run state (the prelude's refresh: Math.random's seed,
//                          process.argv/env), reads the request through the guest ABI
//                          ({"task_name", "args", "kwargs", "task_id"}), runs the named task,
//                          writes the result:
//                          {"result": <JSON>} or {"error_type": "task_error", "message",
//                          "exception", "traceback"}
// A request {"describe": true} answers {"result": {"tasks": {name: policy, ...}}} (the explicit
// options of every task, so the host can apply the main task's limits), as in Python.
import { tasks, ConfigError, TaskError, __internal } from 'capsule';
// capsule:sourcemap is imported only when an error's stack is formatted.
let sourcemap = null;
async function mapStack(stack, path) {
    if (!sourcemap) sourcemap = await import('capsule:sourcemap');
    return sourcemap.mapStack(stack, path);
}

const N = globalThis[Symbol.for('capsule.native')];
const st = { path: null, mode: 'task', error: null, ns: null };

// Drops the runtime's own frames (the runner, the capsule package) so stacks show user code.
// Keeps at most 40 frames (a stack overflow has thousands).
function userFrames(stack) {
    const lines = stack.split('\n').filter((l) => !/\((capsule(:\w+)?|fs):\d+/.test(l));
    if (lines.length > 41) {
        lines.splice(30, lines.length - 40, `    ... ${lines.length - 40} more frames`);
    }
    return lines.join('\n');
}

async function errorOutcome(e, errorType = 'task_error') {
    if (!(e instanceof Error)) {
        let text;
        try { text = typeof e === 'string' ? e : JSON.stringify(e); } catch { text = String(e); }
        return { error_type: errorType, exception: 'Error', message: `Uncaught ${text}`, traceback: '' };
    }
    const name = e.name || 'Error';
    const message = e.message ? `${name}: ${e.message}` : name;
    let stack = '';
    try { stack = await mapStack(String(e.stack || ''), st.path); } catch { stack = String(e.stack || ''); }
    stack = userFrames(stack);
    let traceback = `${message}\n${stack}`;
    for (let c = e.cause, depth = 0; c !== undefined && depth < 5; c = c && c.cause, depth++) {
        traceback += c instanceof Error ? `Caused by: ${c.name}: ${c.message}\n${await mapStack(String(c.stack || ''), st.path)}`
                                        : `Caused by: ${String(c)}\n`;
        if (!(c instanceof Error)) break;
    }
    const out = { error_type: errorType, message, exception: name, traceback };
    if (e instanceof TaskError) out.task_error_type = e.errorType;
    return out;
}

export async function prepare({ path, mode }) {
    st.path = path;
    st.mode = mode;
    try {
        st.ns = await import(path);
        for (const [k, v] of Object.entries(st.ns)) {
            if (__internal.isTask(v)) __internal.register(k, v);
        }
    } catch (e) {
        if (e instanceof ReferenceError && /^Cannot load module/.test(e.message) && e.message.includes(path)) {
            st.error = { error_type: 'task_error', exception: 'Error',
                         message: `Error: no task module at ${path} (${e.message})`, traceback: '' };
        } else {
            st.error = await errorOutcome(e, e instanceof ConfigError ? 'invalid_config' : 'task_error');
        }
    }
}

function describe() {
    const out = {};
    for (const [name, t] of tasks) out[name] = t.policy;
    return { tasks: out };
}

async function runRequest(req) {
    if (req.describe) return { result: describe() };
    const name = req.task_name === undefined ? 'main' : req.task_name;
    let args = req.args === undefined ? [] : req.args;
    const kwargs = req.kwargs === undefined ? {} : req.kwargs;
    if (typeof name !== 'string' || !Array.isArray(args) || typeof kwargs !== 'object' || kwargs === null) {
        return { error_type: 'task_error', exception: 'TypeError', message: 'TypeError: malformed task request', traceback: '' };
    }
    // `capsule run qjs-capsule.wasm /app/x.mjs ARGS` passes the bundle path as argv[1] and as the
    // first task argument: drop it from the arguments.
    if (args.length && args[0] === st.path && N.argv[1] === st.path) args = args.slice(1);
    const t = tasks.get(name);
    if (!t) {
        const known = [...tasks.keys()].sort().join(', ') || 'none';
        return { error_type: 'task_error', exception: 'Error',
                 message: `Error: no task named '${name}' (tasks: ${known})`, traceback: '' };
    }
    // JavaScript has no keyword arguments: a non-empty kwargs object is passed as one more
    // (last) argument.
    if (Object.keys(kwargs).length) args = [...args, kwargs];
    __internal.state.running = name;
    let value;
    try {
        value = await t.fn(...args);
    } catch (e) {
        return await errorOutcome(e, e instanceof ConfigError ? 'invalid_config' : 'task_error');
    } finally {
        __internal.state.running = null;
    }
    try {
        const text = JSON.stringify(value === undefined ? null : value);
        return { result: text === undefined ? null : JSON.parse(text) };
    } catch (e) {
        return { error_type: 'task_error', exception: e.name || 'TypeError',
                 message: `the result of task '${name}' is not JSON-serialisable: ${e.message}`, traceback: '' };
    }
}

function write(outcome) {
    let text;
    try {
        text = JSON.stringify(outcome);
    } catch (e) {
        text = JSON.stringify({ error_type: 'task_error', exception: 'TypeError',
                                message: `the result is not JSON-serialisable: ${e.message}` });
    }
    const r = N.resultWrite(text);
    if (r < 0) {
        N.resultWrite(JSON.stringify({ error_type: 'task_error', exception: 'CapsuleError',
                                       message: `the host refused the result (code ${r})` }));
    }
}

// The prelude's per-task refresh: a fresh Math.random seed, process.argv/env of this run, the
// clocks' origin (after a snapshot restore, serve() is the first code that runs).
const refresh = globalThis[Symbol.for('capsule.refresh')];

export async function serve() {
    if (typeof refresh === 'function') refresh();
    if (st.mode === 'script') {
        // qjs.wasm: a plain script. Report a failed import like node does; serve a task request
        // only when the script defined tasks and the host gave one.
        if (st.error) {
            N.write(2, `${st.error.traceback || st.error.message}\n`);
            return 1;
        }
        if (!tasks.size) return 0;
        const raw = N.requestRead();
        if (typeof raw !== 'string') return 0;
        let req;
        try { req = JSON.parse(raw); } catch { return 0; }
        const out = await runRequest(req);
        write(out);
        return 0;
    }
    const raw = N.requestRead();
    let req;
    try {
        if (typeof raw !== 'string') throw new Error(`request_read failed (code ${raw})`);
        req = JSON.parse(raw);
        if (typeof req !== 'object' || req === null || Array.isArray(req)) {
            throw new Error('the request is not a JSON object');
        }
    } catch (e) {
        write({ error_type: 'task_error', exception: e.name, message: `cannot read the task request: ${e.message}` });
        return 0;
    }
    if (st.error) {
        write(st.error);
        return 0;
    }
    write(await runRequest(req));
    return 0;
}
