// SPDX-License-Identifier: Apache-2.0
// Capsule's JavaScript guest package: `import { task } from "capsule"`.
//
//   export const main = task({ name: "main", compute: "LOW", ram: "64MB" }, async (n) => {
//     return { double: await crunch(Number(n)) };     // crunch runs in a fresh sandbox
//   });
//   const crunch = task({ name: "crunch", compute: "MEDIUM" }, (x) => x * 2);
//
// Inside a Capsule sandbox, calling a task from a running task schedules it as a sub-task
// through the host (guest ABI task_schedule) and returns a Promise of its result, rejected with
// a TaskError when the sub-task fails or is refused. Outside a running task (at module top
// level, or in a plain JavaScript engine) it runs in-process and still returns a Promise.
// Options mirror the Python package (guest/python/capsule/_options.py) and the host's parsers
// (src/runtime/policy.c); camelCase and snake_case are both accepted.

const N = globalThis[Symbol.for('capsule.native')];

export const OPTION_NAMES = ['compute', 'ram', 'timeout', 'max_retries', 'allowed_files',
                             'allowed_hosts', 'env_variables'];
const ALIASES = { maxRetries: 'max_retries', allowedFiles: 'allowed_files',
                  allowedHosts: 'allowed_hosts', envVariables: 'env_variables' };
const MAX_RETRIES_LIMIT = 100;
const MAX_LIST_ENTRIES = 256;
const U64_MAX = 18446744073709551615n;

/** An invalid task option (the task fails with error_type "invalid_config"). */
export class ConfigError extends Error {
    constructor(message) {
        super(message);
        this.name = 'ConfigError';
        this.error_type = 'invalid_config';
    }
}

/** A sub-task failed. errorType is the envelope's type ("task_error", "out_of_fuel", "timeout",
 * "denied", ...), envelope the whole result envelope. */
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
}

const show = (v) => (typeof v === 'string' ? `'${v}'` : typeof v === 'bigint' ? `${v}n`
    : (() => { try { return JSON.stringify(v); } catch { return String(v); } })());
function fail(task, option, value, why) {
    throw new ConfigError(`task '${task}': invalid ${option} ${show(value)}: ${why}`);
}
const UINT = '[0-9](?:_?[0-9])*';
const COMPUTE_RE = new RegExp(`^(?:low|medium|high|${UINT})$`, 'i');
const RAM_RE = new RegExp(`^(${UINT})(?: ?(b|kb|mb|gb|tb|k|m|g|t|kib|mib|gib|tib))?$`, 'i');
const TIMEOUT_RE = new RegExp(`^(${UINT})(ms|s|m|h)$`, 'i');
const ENV_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const HOST_RE = /^[^\s/,;]+$/;
const uint = (s) => BigInt(s.replace(/_/g, ''));
const isInt = (v) => (typeof v === 'number' && Number.isInteger(v)) || typeof v === 'bigint';

function checkCompute(task, v) {
    const why = 'expected LOW, MEDIUM, HIGH or a positive number of fuel units';
    if (isInt(v)) {
        if (BigInt(v) <= 0n || BigInt(v) >= U64_MAX) {
            fail(task, 'compute', v, 'the fuel must be a positive number below 2**64-1');
        }
        return typeof v === 'bigint' ? v.toString() : v;
    }
    if (typeof v !== 'string' || !COMPUTE_RE.test(v)) fail(task, 'compute', v, why);
    if (['LOW', 'MEDIUM', 'HIGH'].includes(v.toUpperCase())) return v.toUpperCase();
    const n = uint(v);
    if (n === 0n || n >= U64_MAX) fail(task, 'compute', v, 'the fuel must be a positive number below 2**64-1');
    return v;
}
function checkRam(task, v) {
    if (isInt(v)) {
        if (BigInt(v) <= 0n) fail(task, 'ram', v, 'the size must be positive');
        return typeof v === 'bigint' ? v.toString() : v;
    }
    const m = typeof v === 'string' ? RAM_RE.exec(v) : null;
    if (!m) fail(task, 'ram', v, 'expected a size like 512KB, 64MB or 2GB');
    if (uint(m[1]) === 0n) fail(task, 'ram', v, 'the size must be positive');
    return v;
}
function checkTimeout(task, v) {
    if (typeof v === 'number' && Number.isInteger(v) && v > 0) return `${v}ms`; // milliseconds, as setTimeout
    const m = typeof v === 'string' ? TIMEOUT_RE.exec(v) : null;
    if (!m) fail(task, 'timeout', v, 'expected a duration like 500ms, 30s, 5m or 1h');
    if (uint(m[1]) === 0n) fail(task, 'timeout', v, 'the duration must be positive');
    return v;
}
function checkRetries(task, v) {
    if (typeof v === 'string' && /^[0-9]+$/.test(v)) v = Number(v);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_RETRIES_LIMIT) {
        fail(task, 'max_retries', v, `expected a number from 0 to ${MAX_RETRIES_LIMIT}`);
    }
    return v;
}
function checkList(task, option, v, checkOne) {
    if (typeof v === 'string') v = [v];
    if (!Array.isArray(v)) fail(task, option, v, 'expected a list of strings');
    if (v.length > MAX_LIST_ENTRIES) fail(task, option, v, `at most ${MAX_LIST_ENTRIES} entries`);
    return v.map((item) => {
        if (typeof item !== 'string' || !item) fail(task, option, item, 'expected a non-empty string');
        checkOne(item);
        return item;
    });
}
function checkFile(task, s) {
    const rest = s.endsWith(':ro') || s.endsWith(':rw') ? s.slice(0, -3) : s;
    const i = rest.indexOf('::');
    const host = i < 0 ? rest : rest.slice(0, i);
    const guest = i < 0 ? '' : rest.slice(i + 2);
    if (!host) fail(task, 'allowed_files', s, 'the host path is empty');
    if (host.includes(':') || guest.includes(':')) {
        fail(task, 'allowed_files', s, 'expected PATH, PATH:ro, PATH:rw or PATH::/GUEST_PATH[:ro|:rw]');
    }
    if (i >= 0 && !guest.startsWith('/')) {
        fail(task, 'allowed_files', s, "the guest path after '::' must be absolute, like ./src::/app");
    }
    if (i >= 0 && guest.split('/').some((p) => p === '.' || p === '..')) {
        fail(task, 'allowed_files', s, "the guest path must not contain '.' or '..' components");
    }
}
function checkHost(task, s) {
    if (!HOST_RE.test(s)) fail(task, 'allowed_hosts', s, 'expected a host pattern like api.example.com or *.example.com');
}
function checkEnv(task, s) {
    if (!ENV_RE.test(s)) fail(task, 'env_variables', s, 'expected a variable name like API_KEY');
}
function nearest(key) {
    // A small edit-distance search for "did you mean" (difflib in the Python package).
    const dist = (a, b) => {
        const d = Array.from({ length: a.length + 1 }, (_, i) => [i]);
        for (let j = 1; j <= b.length; j++) d[0][j] = j;
        for (let i = 1; i <= a.length; i++) {
            for (let j = 1; j <= b.length; j++) {
                d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
            }
        }
        return d[a.length][b.length];
    };
    const names = [...OPTION_NAMES, ...Object.keys(ALIASES), 'name'];
    let best = null, bestD = 4;
    for (const n of names) {
        const dd = dist(key.toLowerCase(), n.toLowerCase());
        if (dd < bestD) { best = n; bestD = dd; }
    }
    return best;
}

/** Checks the options of `task`; returns the policy (only the options given, snake_case). */
export function normaliseOptions(task, options) {
    const policy = {};
    for (const [rawKey, value] of Object.entries(options)) {
        if (rawKey === 'name' || value === undefined || value === null) continue;
        const key = ALIASES[rawKey] || rawKey;
        switch (key) {
        case 'compute': policy[key] = checkCompute(task, value); break;
        case 'ram': policy[key] = checkRam(task, value); break;
        case 'timeout': policy[key] = checkTimeout(task, value); break;
        case 'max_retries': policy[key] = checkRetries(task, value); break;
        case 'allowed_files': policy[key] = checkList(task, key, value, (s) => checkFile(task, s)); break;
        case 'allowed_hosts': policy[key] = checkList(task, key, value, (s) => checkHost(task, s)); break;
        case 'env_variables': policy[key] = checkList(task, key, value, (s) => checkEnv(task, s)); break;
        default: {
            const near = nearest(rawKey);
            throw new ConfigError(`task '${task}': unknown option '${rawKey}'${near ? ` (did you mean '${near}'?)` : ''}`);
        }
        }
    }
    return policy;
}

// ---------------------------------------------------------------- the registry and tasks

/** Every task defined so far, by name, in definition order. */
export const tasks = new Map();
const TASK = Symbol.for('capsule.task');
const state = { running: null };

/** True inside Capsule's JavaScript guest (the host's ABI is present). */
export function inSandbox() {
    return !!(N && typeof N.taskSchedule === 'function');
}

function scheduleTask(t, args) {
    let req;
    try {
        req = JSON.stringify({ task_name: t.taskName, args, kwargs: {}, policy: t.policy });
    } catch (e) {
        throw new TypeError(`arguments of task '${t.taskName}' must be JSON-serialisable: ${e.message}`);
    }
    const raw = N.taskSchedule(req);
    if (typeof raw === 'number') {
        const names = { '-1': 'EFAULT', '-2': 'EINVAL', '-3': 'EBADF', '-4': 'ELIMIT', '-5': 'ENOMEM',
                        '-6': 'ETIMEOUT', '-7': 'ENOSYS' };
        throw new TaskError(raw === -6 ? 'timeout' : 'host_error',
                            `task_schedule('${t.taskName}') failed: ${names[raw] || raw}`);
    }
    const env = JSON.parse(raw);
    if (env.success) return env.result;
    const err = env.error || {};
    throw new TaskError(err.error_type || 'task_error', err.message || '', env);
}

/**
 * Declares a task: task(options, fn), task(fn) or task(name, fn). Options (all optional; the
 * host's defaults and capsule.toml fill in): name, compute ("LOW", "MEDIUM", "HIGH" or fuel
 * units), ram ("64MB"), timeout ("10s"), maxRetries, allowedFiles (["./data:ro"]), allowedHosts,
 * envVariables. An unnamed task takes the name it is exported under. Returns a function whose
 * calls return a Promise of the task's result.
 */
export function task(options, fn) {
    if (typeof options === 'function' && fn === undefined) {
        fn = options;
        options = {};
    } else if (typeof options === 'string') {
        options = { name: options };
    }
    if (options === undefined || options === null) options = {};
    if (typeof options !== 'object' || Array.isArray(options)) {
        throw new ConfigError('task(options, fn): options must be an object');
    }
    const name = options.name;
    if (name !== undefined && (typeof name !== 'string' || !name || name.length > 128)) {
        throw new ConfigError(`invalid task name ${show(name)}: expected a non-empty string`);
    }
    if (typeof fn !== 'function') {
        throw new ConfigError(`task(${show(name || '?')}): the second argument must be a function`);
    }
    const label = name || fn.name || '?';
    const policy = normaliseOptions(label, options);
    const t = function (...args) {
        if (state.running !== null && inSandbox()) {
            // The host call blocks (ABI 1); doing it in a job keeps `t(...)` itself cheap and
            // lets callers build several promises before the first sub-task runs.
            return Promise.resolve().then(() => scheduleTask(t, args));
        }
        return Promise.resolve().then(() => fn.apply(this, args));
    };
    Object.defineProperty(t, 'name', { value: fn.name || name || 'task' });
    t[TASK] = true;
    t.fn = fn;
    t.policy = policy;
    t.taskName = name || null;
    t.explicitName = !!name;
    t.local = (...args) => Promise.resolve().then(() => fn(...args));
    if (name) tasks.set(name, t);
    return t;
}

/** Writes one line to the journal of this run (`capsule logs ID`); outside Capsule, to
 * stderr. level: "debug", "info", "warn" or "error". */
export function log(message, level = 'info') {
    const levels = { debug: 0, info: 1, warn: 2, warning: 2, error: 3 };
    const lvl = typeof level === 'number' ? level : levels[level];
    if (!(lvl >= 0 && lvl <= 3)) {
        throw new RangeError(`invalid log level ${show(level)}: expected debug, info, warn or error`);
    }
    const text = String(message);
    if (!inSandbox()) {
        console.error(`[${['debug', 'info', 'warn', 'error'][lvl]}] ${text}`);
        return;
    }
    N.log(lvl, text); // a full log quota (ELIMIT) drops lines silently
}

/** Internal: used by the guest runner (capsule:runner). */
export const __internal = {
    TASK,
    state,
    isTask: (v) => typeof v === 'function' && v[TASK] === true,
    register(exportName, t) {
        if (!t.taskName) {
            t.taskName = exportName === 'default' ? 'main' : exportName;
            // Re-check the options under the real name so errors name it.
            if (!tasks.has(t.taskName)) tasks.set(t.taskName, t);
        } else if (!tasks.has(t.taskName)) {
            tasks.set(t.taskName, t);
        }
    },
};

export default { task, tasks, log, inSandbox, TaskError, ConfigError };
