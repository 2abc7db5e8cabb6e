// SPDX-License-Identifier: Apache-2.0
// Capsule's host SDK for Node.js: run sandboxed tasks from your own program.
//
//   import { run, Runner, unwrap } from '@capsule/sdk';
//   const env = await run({ file: 'task.wasm', args: ['5'], compute: 'LOW', timeout: '10s' });
//   const runner = new Runner();            // one long-lived `capsule worker` process
//   const envs = await Promise.all([1, 2, 3].map((i) => runner.run({ file: 'task.wasm', args: [String(i)] })));
//   await runner.close();
//
// A thin wrapper over the CLI (docs/tasks.md): `run` starts `capsule run --json` and parses the
// envelope from the last line of stdout (exit status 0 and 1 carry one; 2 is a usage or
// configuration error and rejects with CapsuleError). `Runner` speaks the worker's JSON lines.
// Types: index.d.ts.

import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve, sep } from 'node:path';
import { createInterface } from 'node:readline';

/** Arguments longer than this in total (or not all strings) go through --args-file. */
export const ARGS_FILE_THRESHOLD = 32 * 1024;

/** The stable error types of the envelope (CAP_ERROR_TYPE_MAP in include/capsule.h). */
export const ERROR_TYPES = Object.freeze(['task_error', 'out_of_fuel', 'timeout', 'memory_limit',
    'trap', 'exit', 'denied', 'invalid_config', 'invalid_module', 'host_error']);

/** Capsule could not run the task at all: a bad option or capsule.toml, a missing file (exit
 * status 2), a worker that refused a request or died, or no executable. A task that ran and
 * failed is not a CapsuleError: its envelope says success false. */
export class CapsuleError extends Error {
    constructor(message, { exitCode = null, signal = null, stderr = '' } = {}) {
        super(message);
        this.name = 'CapsuleError';
        this.exitCode = exitCode;
        this.signal = signal;
        this.stderr = stderr;
    }
}

/** No capsule executable: none given, none in CAPSULE_BIN, none on PATH. */
export class CapsuleNotFound extends CapsuleError {
    constructor(message) {
        super(message);
        this.name = 'CapsuleNotFound';
    }
}

/** A task ran and failed: errorType ("task_error", "out_of_fuel", "timeout", ...), the
 * envelope's message, and the whole envelope. The guest package has the same class. */
export class TaskError extends Error {
    constructor(errorType, message, envelope) {
        super(`${errorType}: ${message}`);
        this.name = 'TaskError';
        this.errorType = errorType;
        this.error_type = errorType;
        this.taskMessage = message;
        this.envelope = envelope || {};
    }
    /** The envelope's error object (with extra fields such as exception and traceback). */
    get error() {
        return this.envelope.error || {};
    }
    static fromEnvelope(envelope) {
        const e = (envelope && envelope.error) || {};
        return new TaskError(String(e.error_type ?? 'task_error'), String(e.message ?? ''), envelope);
    }
}

/** The result of a successful envelope; throws TaskError for a failed one. */
export function unwrap(envelope) {
    if (envelope && envelope.success === true) return envelope.result;
    throw TaskError.fromEnvelope(envelope);
}

function isExecutable(path) {
    try {
        if (!statSync(path).isFile()) return false;
        accessSync(path, fsConstants.X_OK);
        return true;
    } catch {
        return false;
    }
}

/** The capsule executable: `capsuleBin` if given, else $CAPSULE_BIN, else `capsule` on PATH. */
export function findCapsule(capsuleBin) {
    const named = (path, source) => {
        const p = path.includes(sep) ? resolve(path) : searchPath(path);
        if (!p || !isExecutable(p)) {
            throw new CapsuleNotFound(`${source} names '${path}', which is not an executable file`);
        }
        return p;
    };
    if (capsuleBin != null) return named(String(capsuleBin), 'capsuleBin');
    if (process.env.CAPSULE_BIN) return named(process.env.CAPSULE_BIN, 'CAPSULE_BIN');
    const found = searchPath('capsule');
    if (found) return found;
    throw new CapsuleNotFound('the capsule executable was not found on PATH; install Capsule '
        + '(build it with `cmake -S . -B build -G Ninja && ninja -C build`, then put build/capsule '
        + 'on PATH) or set CAPSULE_BIN=/path/to/capsule');
}

function searchPath(name) {
    for (const dir of (process.env.PATH || '').split(delimiter)) {
        if (dir && isExecutable(join(dir, name))) return join(dir, name);
    }
    return null;
}

// ---------------------------------------------------------------------- options to flags

const pick = (o, camel, snake) => (o[camel] !== undefined ? o[camel] : o[snake]);

/** A duration for the CLI: strings pass through ("30s"); numbers are milliseconds. */
function durationText(v, option = 'timeout') {
    if (typeof v === 'string') return v;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
        throw new TypeError(`${option} must be a duration string like '30s' or a positive number `
            + `of milliseconds, not ${JSON.stringify(v)}`);
    }
    return `${Math.max(1, Math.ceil(v))}ms`;
}

function scalarText(v, option) {
    if (typeof v === 'string') return v;
    if ((typeof v === 'number' && Number.isInteger(v)) || typeof v === 'bigint') return String(v);
    throw new TypeError(`${option} must be a string or an integer, not ${JSON.stringify(v)}`);
}

function strList(v, option) {
    if (v == null) return [];
    if (typeof v === 'string') return [v];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
        throw new TypeError(`${option} must be an array of strings`);
    }
    return v;
}

/** [name, value|null] pairs from an array of names or an object of names to values. */
function envPairs(v) {
    if (v == null) return [];
    if (typeof v === 'string' || Array.isArray(v)) {
        return strList(v, 'envVariables').map((n) => [n, null]);
    }
    if (typeof v === 'object') {
        return Object.entries(v).map(([k, val]) => {
            if (val != null && typeof val !== 'string') {
                throw new TypeError(`envVariables.${k} must be a string or null`);
            }
            return [k, val ?? null];
        });
    }
    throw new TypeError('envVariables must be an array of names or an object of names to values');
}

/** The CLI flags of a policy (`capsule run` and `capsule worker` share them). */
function policyFlags(o) {
    const flags = [];
    if (o.compute != null) flags.push('--compute', scalarText(o.compute, 'compute'));
    if (o.ram != null) flags.push('--ram', scalarText(o.ram, 'ram'));
    if (o.timeout != null) flags.push('--timeout', durationText(o.timeout));
    const retries = pick(o, 'maxRetries', 'max_retries');
    if (retries != null) {
        if (!Number.isInteger(retries)) throw new TypeError('maxRetries must be an integer');
        flags.push('--max-retries', String(retries));
    }
    for (const m of [...strList(o.mounts, 'mounts'),
                     ...strList(pick(o, 'allowedFiles', 'allowed_files'), 'allowedFiles')]) {
        flags.push('--mount', m);
    }
    for (const h of strList(pick(o, 'allowedHosts', 'allowed_hosts'), 'allowedHosts')) {
        flags.push('--allow-host', h);
    }
    for (const [n, v] of envPairs(pick(o, 'envVariables', 'env_variables'))) {
        flags.push('--env', v == null ? n : `${n}=${v}`);
    }
    return flags;
}

function argsList(args) {
    if (args == null) return [];
    if (!Array.isArray(args)) throw new TypeError('args must be an array');
    return args;
}

function needsArgsFile(args) {
    let total = 0;
    for (const a of args) {
        if (typeof a !== 'string' || a.includes('\0')) return true;
        total += Buffer.byteLength(a) + 1;
    }
    return total > ARGS_FILE_THRESHOLD;
}

function envelopeOf(code, signal, out, err, check) {
    const stderr = err.toString('utf8');
    if (code === 0 || code === 1) {
        const lines = out.toString('utf8').split('\n').filter((l) => l.trim() !== '');
        let env = null;
        try {
            env = JSON.parse(lines[lines.length - 1]);
        } catch {
            env = null;
        }
        if (env && typeof env === 'object' && 'success' in env) {
            if (check && env.success !== true) throw TaskError.fromEnvelope(env);
            return env;
        }
        throw new CapsuleError(`capsule run printed no result envelope (exit status ${code})`
            + (stderr.trim() ? `: ${stderr.trim()}` : ''), { exitCode: code, stderr });
    }
    const text = stderr.trim() || 'no message';
    if (code === 2) throw new CapsuleError(text, { exitCode: code, stderr });
    if (signal) {
        throw new CapsuleError(`capsule run was killed by ${signal}: ${text}`, { signal, stderr });
    }
    throw new CapsuleError(`capsule run failed with exit status ${code}: ${text}`,
        { exitCode: code, stderr });
}

/**
 * Runs one task in a fresh `capsule run --json` process; resolves to its result envelope.
 * Rejects with CapsuleError when capsule could not run it at all, with TaskError when
 * `check` is set and the task failed, and with an AbortError when `signal` aborts (the process
 * is killed). See index.d.ts for the options.
 */
export async function run(options) {
    if (typeof options === 'string') options = { file: options };
    if (!options || typeof options.file !== 'string') {
        throw new TypeError('run({ file, args, ... }): file must be a string');
    }
    const o = options;
    const exe = findCapsule(pick(o, 'capsuleBin', 'capsule_bin'));
    const argv = ['run', '--json'];
    const taskName = pick(o, 'taskName', 'task_name');
    if (taskName != null) argv.push('--task', String(taskName));
    argv.push(...policyFlags(o));
    for (const m of strList(pick(o, 'codeMounts', 'code_mounts'), 'codeMounts')) {
        argv.push('--code-mount', m);
    }
    const maxOutput = pick(o, 'maxOutput', 'max_output');
    if (maxOutput != null) argv.push('--max-output', scalarText(maxOutput, 'maxOutput'));
    if (o.journal === false) argv.push('--no-journal');
    let input = null;
    if (o.stdin != null) {
        input = typeof o.stdin === 'string' ? Buffer.from(o.stdin, 'utf8') : Buffer.from(o.stdin);
        argv.push('--stdin', '-');
    }
    const args = argsList(o.args);
    let tmp = null;
    try {
        let tail = args;
        if (needsArgsFile(args)) {
            const text = JSON.stringify(args);
            tmp = await mkdtemp(join(tmpdir(), 'capsule-args-'));
            await writeFile(join(tmp, 'args.json'), text, 'utf8');
            argv.push('--args-file', join(tmp, 'args.json'));
            tail = [];
        }
        // "--" ends capsule's options: an argument such as "--json" reaches the task unchanged.
        argv.push('--', o.file, ...tail);
        return await new Promise((resolvePromise, reject) => {
            const child = spawn(exe, argv, {
                cwd: o.cwd,
                stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
                signal: o.signal,
            });
            const out = [];
            const err = [];
            child.stdout.on('data', (d) => out.push(d));
            child.stderr.on('data', (d) => err.push(d));
            child.on('error', (e) => {
                if (e.name === 'AbortError') reject(e);
                else reject(new CapsuleError(`cannot start ${exe}: ${e.message}`));
            });
            child.on('close', (code, signal) => {
                if (o.signal?.aborted) return; // rejected with the AbortError already
                try {
                    resolvePromise(envelopeOf(code, signal, Buffer.concat(out), Buffer.concat(err),
                        o.check));
                } catch (e) {
                    reject(e);
                }
            });
            if (input) {
                child.stdin.on('error', () => {}); // a task that does not read its stdin
                child.stdin.end(input);
            }
        });
    } finally {
        if (tmp) await rm(tmp, { recursive: true, force: true });
    }
}

// ---------------------------------------------------------------------- Runner

const liveWorkers = new Set();
let exitHookInstalled = false;

function installExitHook() {
    if (exitHookInstalled) return;
    exitHookInstalled = true;
    // Never leave a worker behind: at exit, kill what is still running (its pipes would close
    // anyway, but a worker in the middle of a long task would finish it first).
    process.on('exit', () => {
        for (const w of liveWorkers) {
            try {
                w.child.kill('SIGKILL');
            } catch {
                // already gone
            }
        }
    });
}

const STDERR_TAIL = 40;

/**
 * A long-lived `capsule worker` process serving many tasks (JSON lines, docs/tasks.md). Started
 * on first use and again after it dies (`restarts` counts the new starts). Requests run
 * concurrently on the worker's threads and share one compiled-module cache. While no request is
 * pending the worker does not keep Node's event loop alive. Close it with `close()` (or
 * `await using`).
 */
export class Runner {
    #argv;
    #exe;
    #env;
    #worker = null;
    #nextId = 1;
    #starts = 0;
    #closed = false;

    constructor(options = {}) {
        const o = options;
        this.#exe = findCapsule(pick(o, 'capsuleBin', 'capsule_bin'));
        const argv = ['worker'];
        if (o.threads != null) {
            if (!Number.isInteger(o.threads) || o.threads < 1) {
                throw new TypeError('threads must be a positive integer');
            }
            argv.push('--threads', String(o.threads));
        }
        if (o.journal === false) argv.push('--no-journal');
        argv.push(...policyFlags(o));
        this.#argv = argv;
        /** The project directory of the worker; relative files and mounts resolve against it. */
        this.cwd = resolve(o.cwd ?? process.cwd());
        this.#env = o.env ? { ...process.env, ...o.env } : undefined;
        installExitHook();
    }

    /** How many times a worker was started again after the first one died. */
    get restarts() {
        return Math.max(0, this.#starts - 1);
    }

    /** The current worker's process id, or null when none is running. */
    get pid() {
        const w = this.#worker;
        return w && !w.dead ? w.child.pid : null;
    }

    get closed() {
        return this.#closed;
    }

    #spawn() {
        const child = spawn(this.#exe, this.#argv, {
            cwd: this.cwd, env: this.#env, stdio: ['pipe', 'pipe', 'pipe'],
        });
        const w = { child, pending: new Map(), dead: false, stderrTail: [], exited: null };
        w.exited = new Promise((res) => child.once('close', res));
        child.stdin.on('error', () => {}); // EPIPE when it died: reported through 'close'
        child.on('error', (e) => this.#died(w, null, null, `cannot start ${this.#exe}: ${e.message}`));
        createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => {
            let msg;
            try {
                msg = JSON.parse(line);
            } catch {
                return; // a worker prints only responses; be lenient
            }
            const p = msg && w.pending.get(msg.id);
            if (!p) return;
            w.pending.delete(msg.id);
            this.#refresh(w);
            if (msg.output && typeof msg.output === 'object') {
                if (p.check && msg.output.success !== true) p.reject(TaskError.fromEnvelope(msg.output));
                else p.resolve(msg.output);
            } else {
                p.reject(new CapsuleError(String(msg.error ?? 'invalid response from the worker')));
            }
        });
        createInterface({ input: child.stderr, crlfDelay: Infinity }).on('line', (line) => {
            w.stderrTail.push(line);
            if (w.stderrTail.length > STDERR_TAIL) w.stderrTail.shift();
        });
        child.on('close', (code, signal) => this.#died(w, code, signal));
        liveWorkers.add(w);
        this.#starts++;
        return w;
    }

    #died(w, code, signal, why) {
        if (w.dead) return;
        w.dead = true;
        liveWorkers.delete(w);
        if (this.#worker === w) this.#worker = null;
        const how = why ?? (signal ? `was killed by ${signal}` : `exited with status ${code}`);
        const tail = w.stderrTail.join('\n');
        for (const p of w.pending.values()) {
            p.reject(new CapsuleError(`the capsule worker (pid ${w.child.pid}) ${how} before `
                + `answering; the task may or may not have run${tail ? `; its stderr:\n${tail}` : ''}`,
            { exitCode: code, signal, stderr: tail }));
        }
        w.pending.clear();
    }

    /** An idle worker must not keep the process alive; a busy one must. */
    #refresh(w) {
        const busy = w.pending.size > 0;
        for (const h of [w.child, w.child.stdin, w.child.stdout, w.child.stderr]) {
            if (h && typeof h.ref === 'function') (busy ? h.ref() : h.unref());
        }
    }

    #live() {
        if (this.#closed) throw new CapsuleError('this Runner is closed');
        const w = this.#worker;
        if (w && !w.dead && w.child.exitCode === null && w.child.signalCode === null) return w;
        this.#worker = this.#spawn();
        return this.#worker;
    }

    /** Starts the worker now rather than on the first request (optional). */
    start() {
        this.#refresh(this.#live());
        return this;
    }

    /**
     * Runs one task through the worker; resolves to its envelope. Rejects with CapsuleError
     * when the worker refuses the request (bad file or policy) or dies, with TaskError when
     * `check` is set and the task failed, and with an AbortError when `signal` aborts (the task
     * still finishes in the worker; its answer is dropped).
     */
    run(options) {
        return new Promise((resolvePromise, reject) => {
            const o = options || {};
            if (typeof o.file !== 'string') throw new TypeError('run({ file, ... }): file must be a string');
            const req = { id: this.#nextId++, file: o.file, args: argsList(o.args) };
            if (o.kwargs != null) req.kwargs = o.kwargs;
            const taskName = pick(o, 'taskName', 'task_name');
            if (taskName != null) req.task_name = String(taskName);
            const mounts = strList(o.mounts, 'mounts');
            if (mounts.length) req.mounts = mounts;
            const codeMounts = strList(pick(o, 'codeMounts', 'code_mounts'), 'codeMounts');
            if (codeMounts.length) req.code_mounts = codeMounts;
            const policy = {};
            if (o.compute != null) policy.compute = typeof o.compute === 'bigint' ? String(o.compute) : o.compute;
            if (o.ram != null) policy.ram = o.ram;
            if (o.timeout != null) policy.timeout = durationText(o.timeout);
            const retries = pick(o, 'maxRetries', 'max_retries');
            if (retries != null) policy.max_retries = retries;
            const hosts = pick(o, 'allowedHosts', 'allowed_hosts');
            if (hosts != null) policy.allowed_hosts = strList(hosts, 'allowedHosts');
            const envv = pick(o, 'envVariables', 'env_variables');
            if (envv != null) {
                const pairs = envPairs(envv);
                if (pairs.some(([, v]) => v != null)) {
                    throw new TypeError('Runner requests take envVariables as names only; give '
                        + 'values to new Runner({ envVariables: {...} }) or new Runner({ env })');
                }
                policy.env_variables = pairs.map(([n]) => n);
            }
            if (Object.keys(policy).length) req.policy = policy;
            const line = JSON.stringify(req) + '\n';
            const w = this.#live();
            const entry = { resolve: resolvePromise, reject, check: o.check };
            if (o.signal) {
                if (o.signal.aborted) throw o.signal.reason ?? new DOMException('aborted', 'AbortError');
                const onAbort = () => {
                    if (w.pending.delete(req.id)) {
                        this.#refresh(w);
                        reject(o.signal.reason ?? new DOMException('aborted', 'AbortError'));
                    }
                };
                o.signal.addEventListener('abort', onAbort, { once: true });
                const done = () => o.signal.removeEventListener('abort', onAbort);
                entry.resolve = (v) => { done(); resolvePromise(v); };
                entry.reject = (e) => { done(); reject(e); };
            }
            w.pending.set(req.id, entry);
            this.#refresh(w);
            w.child.stdin.write(line);
        });
    }

    /**
     * Stops the worker: it answers the requests it holds, then exits; after `timeout` ms
     * (default 30000) it is killed and those requests reject with CapsuleError. Idempotent.
     */
    async close({ timeout = 30000 } = {}) {
        this.#closed = true;
        const w = this.#worker;
        this.#worker = null;
        if (!w || w.dead) return;
        for (const h of [w.child, w.child.stdout, w.child.stderr]) h.ref?.(); // wait for it
        w.child.stdin.end();
        let timer;
        const killed = new Promise((res) => {
            timer = setTimeout(() => { w.child.kill('SIGKILL'); res(); }, timeout);
        });
        await Promise.race([w.exited, killed]);
        clearTimeout(timer);
        await w.exited;
    }

    /** Kills the current worker at once (its pending requests reject with CapsuleError). The
     * Runner stays usable: the next request starts a new worker. */
    async kill() {
        const w = this.#worker;
        if (!w || w.dead) return;
        for (const h of [w.child, w.child.stdout, w.child.stderr]) h.ref?.(); // wait for it
        w.child.kill('SIGKILL');
        await w.exited;
    }
}

// `await using runner = new Runner()` where the runtime has explicit resource management.
if (typeof Symbol.asyncDispose === 'symbol') {
    Runner.prototype[Symbol.asyncDispose] = function asyncDispose() {
        return this.close();
    };
}
