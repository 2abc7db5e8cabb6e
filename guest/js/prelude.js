// SPDX-License-Identifier: Apache-2.0
// The global environment of Capsule's JavaScript guest, evaluated once as a script before the
// user's bundle: console, timers, TextEncoder/TextDecoder, URL/URLSearchParams, atob/btoa,
// crypto, structuredClone, performance, process, and fills for library gaps of QuickJS.
// Hand-written subsets (no npm polyfills: whatwg-url alone would be larger than this guest's
// engine with its Unicode tables); each follows the web platform / Node behaviour it names.
(function (global) {
    'use strict';
    const N = global.__capsule_native;
    delete global.__capsule_native;
    const NATIVE = Symbol.for('capsule.native');
    Object.defineProperty(global, NATIVE, { value: N, enumerable: false });

    const define = (obj, name, value) =>
        Object.defineProperty(obj, name, { value, writable: true, configurable: true,
                                           enumerable: false });
    define(global, 'global', global);

    // ------------------------------------------------------------------ inspect (console)
    const isIdent = (k) => /^[A-Za-z_$][\w$]*$/.test(k);
    function quote(s) {
        return "'" + s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n') + "'";
    }
    function inspect(v, opts, depth, seen) {
        depth = depth || 0;
        seen = seen || [];
        const maxDepth = opts && opts.depth !== undefined ? opts.depth : 2;
        switch (typeof v) {
        case 'string': return depth ? quote(v) : v;
        case 'number': return Object.is(v, -0) ? '-0' : String(v);
        case 'bigint': return `${v}n`;
        case 'undefined': return 'undefined';
        case 'boolean': return String(v);
        case 'symbol': return v.toString();
        case 'function': {
            const n = v.name ? `: ${v.name}` : ' (anonymous)';
            return /^class\s/.test(Function.prototype.toString.call(v)) ? `[class ${v.name || '(anonymous)'}]`
                                                                         : `[Function${n}]`;
        }
        }
        if (v === null) return 'null';
        if (seen.includes(v)) return '[Circular *1]';
        if (v instanceof Error) {
            const head = v.stack ? `${v.name}: ${v.message}\n${v.stack}`.trimEnd()
                                 : `${v.name}: ${v.message}`;
            return depth ? `[${head.split('\n')[0]}]` : head;
        }
        if (v instanceof Date) return isNaN(v) ? 'Invalid Date' : v.toISOString();
        if (v instanceof RegExp) return String(v);
        if (v instanceof Promise) return 'Promise { <unknown> }';
        if (typeof WeakMap !== 'undefined' && (v instanceof WeakMap || v instanceof WeakSet)) {
            return `${v.constructor.name} { <items unknown> }`;
        }
        if (depth > maxDepth) return Array.isArray(v) ? '[Array]' : '[Object]';
        seen = seen.concat([v]);
        const sub = (x) => inspect(x, opts, depth + 1, seen);
        const wrap = (open, parts, close, prefix) => {
            prefix = prefix || '';
            if (!parts.length) return `${prefix}${open}${close}`;
            const one = `${prefix}${open} ${parts.join(', ')} ${close}`;
            if (one.length <= 72 && !one.includes('\n')) return one;
            const pad = '  '.repeat(depth + 1);
            return `${prefix}${open}\n${pad}${parts.join(`,\n${pad}`)}\n${'  '.repeat(depth)}${close}`;
        };
        if (Array.isArray(v)) {
            const parts = v.slice(0, 100).map(sub);
            if (v.length > 100) parts.push(`... ${v.length - 100} more items`);
            return wrap('[', parts, ']');
        }
        if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
            const parts = Array.from(v.slice(0, 100), (x) => sub(x));
            if (v.length > 100) parts.push(`... ${v.length - 100} more items`);
            return wrap('[', parts, ']', `${v.constructor.name}(${v.length}) `);
        }
        if (v instanceof ArrayBuffer) return `ArrayBuffer { byteLength: ${v.byteLength} }`;
        if (v instanceof Map) {
            return wrap('{', [...v].map(([k, x]) => `${sub(k)} => ${sub(x)}`), '}', `Map(${v.size}) `);
        }
        if (v instanceof Set) return wrap('{', [...v].map(sub), '}', `Set(${v.size}) `);
        const keys = Object.keys(v);
        const parts = keys.map((k) => `${isIdent(k) ? k : quote(k)}: ${sub(v[k])}`);
        for (const s of Object.getOwnPropertySymbols(v)) {
            if (Object.prototype.propertyIsEnumerable.call(v, s)) parts.push(`[${s.toString()}]: ${sub(v[s])}`);
        }
        const proto = Object.getPrototypeOf(v);
        const cname = proto === null ? '[Object: null prototype] '
            : proto && proto.constructor && proto.constructor.name && proto.constructor !== Object
                ? `${proto.constructor.name} ` : '';
        return wrap('{', parts, '}', cname);
    }
    function format(args) {
        let out = '';
        let i = 0;
        if (typeof args[0] === 'string' && args[0].includes('%')) {
            const fmt = args[0];
            i = 1;
            out = fmt.replace(/%[sdifjoOc%]/g, (m) => {
                if (m === '%%') return '%';
                if (i >= args.length) return m;
                const a = args[i++];
                switch (m) {
                case '%s': return typeof a === 'string' ? a : inspect(a, { depth: 1 }, 1);
                case '%d': case '%i': {
                    if (typeof a === 'bigint') return `${a}n`;
                    const n = Number(a);
                    return String(m === '%i' ? Math.trunc(n) : n);
                }
                case '%f': return String(parseFloat(a));
                case '%j': try { return JSON.stringify(a); } catch { return '[Circular]'; }
                case '%c': return '';
                default: return inspect(a, { depth: 4 }, 1);
                }
            });
        }
        for (; i < args.length; i++) {
            out += (out === '' && i === 0 ? '' : ' ') + inspect(args[i]);
        }
        return out;
    }

    // ------------------------------------------------------------------ console
    let groupIndent = '';
    const emit = (fd, args) => {
        let s = format(args);
        if (groupIndent) s = s.split('\n').map((l) => groupIndent + l).join('\n');
        N.write(fd, s + '\n');
    };
    const counts = new Map();
    const timersByLabel = new Map();
    const console = {
        log: (...a) => emit(1, a),
        info: (...a) => emit(1, a),
        debug: (...a) => emit(1, a),
        warn: (...a) => emit(2, a),
        error: (...a) => emit(2, a),
        trace: (...a) => emit(2, ['Trace:', ...a, '\n' + (new Error().stack || '')]),
        dir: (o, opts) => N.write(1, inspect(o, opts) + '\n'),
        assert: (cond, ...a) => { if (!cond) emit(2, ['Assertion failed' + (a.length ? ':' : ''), ...a]); },
        count: (label = 'default') => {
            const n = (counts.get(label) || 0) + 1;
            counts.set(label, n);
            emit(1, [`${label}: ${n}`]);
        },
        countReset: (label = 'default') => counts.delete(label),
        time: (label = 'default') => timersByLabel.set(label, N.now()),
        timeLog: (label = 'default', ...a) => {
            const t = timersByLabel.get(label);
            if (t !== undefined) emit(1, [`${label}: ${(N.now() - t).toFixed(3)}ms`, ...a]);
        },
        timeEnd: (label = 'default') => {
            const t = timersByLabel.get(label);
            if (t !== undefined) emit(1, [`${label}: ${(N.now() - t).toFixed(3)}ms`]);
            timersByLabel.delete(label);
        },
        group: (...a) => { if (a.length) emit(1, a); groupIndent += '  '; },
        groupCollapsed: (...a) => { if (a.length) emit(1, a); groupIndent += '  '; },
        groupEnd: () => { groupIndent = groupIndent.slice(2); },
        table: (data) => N.write(1, inspect(data) + '\n'),
    };
    define(global, 'console', console);

    // ------------------------------------------------------------------ timers
    // Timeout objects behave like node's (ref/unref/hasRef/refresh) and convert to their
    // numeric id, so both node-style and browser-style code can keep and clear them.
    const active = new Map(); // id -> Timeout
    let nextId = 1;
    class Timeout {
        constructor(cb, ms, args, repeat) {
            this._id = nextId++;
            this._cb = cb;
            this._ms = ms;
            this._args = args;
            this._repeat = repeat;
            this._ref = true;
            this._native = 0;
            active.set(this._id, this);
            this._arm();
        }
        _arm() {
            this._native = N.setTimer(() => this._fire(), this._ms, []);
        }
        _fire() {
            if (!this._repeat) active.delete(this._id);
            else this._arm();
            this._cb.apply(undefined, this._args);
        }
        _clear() {
            N.clearTimer(this._native);
            active.delete(this._id);
        }
        ref() { this._ref = true; return this; }
        unref() { this._ref = false; return this; }
        hasRef() { return this._ref; }
        refresh() { N.clearTimer(this._native); this._arm(); return this; }
        close() { this._clear(); return this; }
        [Symbol.toPrimitive]() { return this._id; }
    }
    const checkCb = (cb) => {
        if (typeof cb !== 'function') {
            throw new TypeError('The "callback" argument must be of type function');
        }
    };
    const toMs = (ms) => { const n = Number(ms); return n >= 1 ? n : 1; };
    const clear = (t) => {
        if (t == null) return;
        const x = t instanceof Timeout ? t : active.get(Number(t));
        if (x) x._clear();
    };
    define(global, 'setTimeout', (cb, ms, ...args) => { checkCb(cb); return new Timeout(cb, toMs(ms), args, false); });
    define(global, 'setInterval', (cb, ms, ...args) => { checkCb(cb); return new Timeout(cb, toMs(ms), args, true); });
    define(global, 'setImmediate', (cb, ...args) => { checkCb(cb); return new Timeout(cb, 0, args, false); });
    define(global, 'clearTimeout', clear);
    define(global, 'clearInterval', clear);
    define(global, 'clearImmediate', clear);
    define(global, 'queueMicrotask', (cb) => {
        checkCb(cb);
        Promise.resolve().then(() => cb());
    });

    // ------------------------------------------------------------------ performance
    // performance.now() counts from the start of the task: refresh() moves the origin when a
    // task starts (after a snapshot restore, the snapshot's clock readings mean nothing).
    let t0 = N.now();
    const performance = {
        now: () => N.now() - t0,
        timeOrigin: Date.now(),
        mark() {}, measure() {},
    };
    define(global, 'performance', performance);

    // ------------------------------------------------------------------ TextEncoder / TextDecoder
    const wellFormed = (s) => (String.prototype.toWellFormed ? String(s).toWellFormed()
        : String(s).replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD'));
    class TextEncoder {
        get encoding() { return 'utf-8'; }
        encode(input = '') { return N.utf8Encode(wellFormed(input)); }
        encodeInto(src, dest) {
            const s = wellFormed(src);
            let read = 0;
            let written = 0;
            for (const ch of s) {
                const b = N.utf8Encode(ch);
                if (written + b.length > dest.length) break;
                dest.set(b, written);
                written += b.length;
                read += ch.length;
            }
            return { read, written };
        }
    }
    const utf8Labels = ['utf-8', 'utf8', 'unicode-1-1-utf-8'];
    class TextDecoder {
        constructor(label = 'utf-8', options = {}) {
            const l = String(label).trim().toLowerCase();
            if (!utf8Labels.includes(l)) {
                throw new RangeError(`The "${label}" encoding is not supported`);
            }
            this._fatal = !!options.fatal;
            this._ignoreBOM = !!options.ignoreBOM;
            this._pending = null;
        }
        get encoding() { return 'utf-8'; }
        get fatal() { return this._fatal; }
        get ignoreBOM() { return this._ignoreBOM; }
        decode(input, options = {}) {
            let bytes = input === undefined ? new Uint8Array(0)
                : input instanceof ArrayBuffer ? new Uint8Array(input)
                : ArrayBuffer.isView(input) ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength)
                : null;
            if (!bytes) {
                throw new TypeError('The "input" argument must be an instance of ArrayBuffer or ArrayBufferView');
            }
            if (this._pending) {
                const b = new Uint8Array(this._pending.length + bytes.length);
                b.set(this._pending);
                b.set(bytes, this._pending.length);
                bytes = b;
                this._pending = null;
            }
            if (options.stream) {
                // Keep an incomplete sequence at the end for the next call.
                let k = bytes.length;
                let back = 0;
                while (k > 0 && back < 3 && (bytes[k - 1] & 0xC0) === 0x80) { k--; back++; }
                if (k > 0) {
                    const lead = bytes[k - 1];
                    const need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
                    if (need > 1 && need > back + 1) {
                        this._pending = bytes.slice(k - 1);
                        bytes = bytes.subarray(0, k - 1);
                    }
                }
            }
            let s = N.utf8Decode(bytes, this._fatal);
            if (!this._ignoreBOM && !this._seenStart && s.charCodeAt(0) === 0xFEFF) s = s.slice(1);
            this._seenStart = !!options.stream;
            return s;
        }
    }
    define(global, 'TextEncoder', TextEncoder);
    define(global, 'TextDecoder', TextDecoder);

    // ------------------------------------------------------------------ atob / btoa
    const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const invalidChar = (what) => {
        const e = new Error(what);
        e.name = 'InvalidCharacterError';
        return e;
    };
    define(global, 'btoa', (input) => {
        const s = String(input);
        let out = '';
        for (let i = 0; i < s.length; i += 3) {
            const a = s.charCodeAt(i), b = s.charCodeAt(i + 1), c = s.charCodeAt(i + 2);
            if (a > 255 || b > 255 || c > 255) throw invalidChar('Invalid character');
            const n = (a << 16) | ((b || 0) << 8) | (c || 0);
            out += B64[n >> 18] + B64[(n >> 12) & 63] +
                (i + 1 < s.length ? B64[(n >> 6) & 63] : '=') + (i + 2 < s.length ? B64[n & 63] : '=');
        }
        return out;
    });
    define(global, 'atob', (input) => {
        let s = String(input).replace(/[\t\n\f\r ]/g, '');
        if (s.length % 4 === 0) s = s.replace(/==?$/, '');
        if (s.length % 4 === 1 || /[^A-Za-z0-9+/]/.test(s)) {
            throw invalidChar('The string to be decoded is not correctly encoded.');
        }
        let out = '';
        let bits = 0, acc = 0;
        for (const ch of s) {
            acc = (acc << 6) | B64.indexOf(ch);
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                out += String.fromCharCode((acc >> bits) & 255);
            }
        }
        return out;
    });

    // ------------------------------------------------------------------ crypto
    const hex = (b) => (b + 0x100).toString(16).slice(1);
    const crypto = {
        getRandomValues(view) {
            if (!ArrayBuffer.isView(view) || view instanceof Float32Array || view instanceof Float64Array ||
                view instanceof DataView) {
                throw new TypeError('The data argument must be an integer-type TypedArray');
            }
            if (view.byteLength > 65536) {
                const e = new Error(`The ArrayBufferView's byte length (${view.byteLength}) exceeds the number of bytes of entropy available via this API (65536)`);
                e.name = 'QuotaExceededError';
                throw e;
            }
            N.fillRandom(view);
            return view;
        },
        randomUUID() {
            const b = new Uint8Array(16);
            N.fillRandom(b);
            b[6] = (b[6] & 0x0f) | 0x40;
            b[8] = (b[8] & 0x3f) | 0x80;
            const h = Array.from(b, hex).join('');
            return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
        },
    };
    define(global, 'crypto', crypto);

    // ------------------------------------------------------------------ Math.random
    // QuickJS seeds its own Math.random once, when the context is created, and cannot be
    // reseeded: a task restored from a snapshot would replay the snapshot's sequence on every
    // run. This one takes its bits from WASI random_get (the host's CSPRNG), 2 KiB at a time
    // for 256 numbers; refresh() below (the start of every task) drops what a snapshot kept
    // of them. Cheaper in fuel than a generator written in JavaScript (~2,500 fuel units a
    // call more than the native one under Capsule's interpreter).
    // A runtime that can reseed QuickJS's own generator (native reseedRandom(), fed from
    // random_get) keeps it: it costs no JavaScript per call.
    const words = new Uint32Array(512);
    let poolAt = 512;
    const nativeRandom = typeof N.reseedRandom === 'function';
    const reseed = () => {
        if (nativeRandom) N.reseedRandom();
        poolAt = 512;
    };
    if (!nativeRandom) {
        define(Math, 'random', {
            random() {
                if (poolAt === 512) {
                    N.fillRandom(words);
                    poolAt = 0;
                }
                // 21 + 32 = 53 random bits: a multiple of 2**-53 in [0, 1).
                const hi = words[poolAt++] >>> 11;
                return (hi * 4294967296 + words[poolAt++]) / 9007199254740992;
            },
        }.random);
    }
    reseed();

    // ------------------------------------------------------------------ structuredClone
    const cloneError = (what) => {
        const e = new Error(`${what} could not be cloned.`);
        e.name = 'DataCloneError';
        return e;
    };
    function clone(v, memo) {
        if (typeof v === 'function') throw cloneError(String(v).slice(0, 40));
        if (typeof v === 'symbol') throw cloneError(v.toString());
        if (v === null || typeof v !== 'object') return v;
        if (memo.has(v)) return memo.get(v);
        let out;
        if (Array.isArray(v)) {
            out = new Array(v.length);
            memo.set(v, out);
            for (const k of Object.keys(v)) out[k] = clone(v[k], memo);
            return out;
        }
        if (v instanceof Date) out = new Date(v.getTime());
        else if (v instanceof RegExp) out = new RegExp(v.source, v.flags);
        else if (v instanceof Boolean || v instanceof Number || v instanceof String) out = Object(v.valueOf());
        else if (typeof BigInt !== 'undefined' && v instanceof BigInt) out = Object(v.valueOf());
        else if (v instanceof ArrayBuffer) out = v.slice(0);
        else if (ArrayBuffer.isView(v)) {
            const buf = clone(v.buffer, memo);
            out = v instanceof DataView ? new DataView(buf, v.byteOffset, v.byteLength)
                : new v.constructor(buf, v.byteOffset, v.length);
        } else if (v instanceof Map) {
            out = new Map();
            memo.set(v, out);
            for (const [k, x] of v) out.set(clone(k, memo), clone(x, memo));
            return out;
        } else if (v instanceof Set) {
            out = new Set();
            memo.set(v, out);
            for (const x of v) out.add(clone(x, memo));
            return out;
        } else if (v instanceof Error) {
            const Ctor = { EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError }[v.name] || Error;
            out = new Ctor(v.message);
            memo.set(v, out);
            if (v.stack !== undefined) define(out, 'stack', String(v.stack));
            if ('cause' in v) define(out, 'cause', clone(v.cause, memo));
            return out;
        } else if (v instanceof Promise || v instanceof WeakMap || v instanceof WeakSet ||
                   (typeof WeakRef !== 'undefined' && v instanceof WeakRef)) {
            throw cloneError(`#<${v.constructor.name}>`);
        } else {
            out = {};
            memo.set(v, out);
            for (const k of Object.keys(v)) out[k] = clone(v[k], memo);
            return out;
        }
        memo.set(v, out);
        return out;
    }
    if (typeof global.structuredClone !== 'function') {
        define(global, 'structuredClone', (value, options) => {
            if (arguments.length === 0 && value === undefined && options === undefined) { /* ok */ }
            return clone(value, new Map());
        });
    }

    // ------------------------------------------------------------------ URLSearchParams / URL
    const formEncode = (s) => encodeURIComponent(s).replace(/%20/g, '+')
        .replace(/[!'()~]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
    const formDecode = (s) => {
        s = s.replace(/\+/g, ' ');
        try { return decodeURIComponent(s); } catch {
            return s.replace(/%([0-9A-Fa-f]{2})/g, (m, h) => String.fromCharCode(parseInt(h, 16)));
        }
    };
    class URLSearchParams {
        constructor(init = '') {
            this._list = [];
            this._url = null;
            if (init instanceof URLSearchParams) {
                this._list = init._list.map((p) => p.slice());
            } else if (typeof init === 'object' && init !== null) {
                if (typeof init[Symbol.iterator] === 'function') {
                    for (const pair of init) {
                        const p = [...pair];
                        if (p.length !== 2) throw new TypeError('Each query pair must be an iterable [name, value] tuple');
                        this._list.push([String(p[0]), String(p[1])]);
                    }
                } else {
                    for (const k of Object.keys(init)) this._list.push([k, String(init[k])]);
                }
            } else {
                this._parse(String(init));
            }
        }
        _parse(s) {
            this._list = [];
            if (s.startsWith('?')) s = s.slice(1);
            for (const part of s.split('&')) {
                if (!part) continue;
                const i = part.indexOf('=');
                this._list.push(i < 0 ? [formDecode(part), ''] : [formDecode(part.slice(0, i)), formDecode(part.slice(i + 1))]);
            }
        }
        _update() {
            if (this._url) {
                const q = this.toString();
                this._url._search = q ? '?' + q : '';
            }
        }
        get size() { return this._list.length; }
        append(k, v) { this._list.push([String(k), String(v)]); this._update(); }
        delete(k, v) {
            k = String(k);
            this._list = this._list.filter((p) => p[0] !== k || (v !== undefined && p[1] !== String(v)));
            this._update();
        }
        get(k) { const p = this._list.find((x) => x[0] === String(k)); return p ? p[1] : null; }
        getAll(k) { return this._list.filter((x) => x[0] === String(k)).map((x) => x[1]); }
        has(k, v) { return this._list.some((x) => x[0] === String(k) && (v === undefined || x[1] === String(v))); }
        set(k, v) {
            k = String(k);
            const i = this._list.findIndex((x) => x[0] === k);
            if (i < 0) this._list.push([k, String(v)]);
            else {
                this._list[i][1] = String(v);
                this._list = this._list.filter((x, j) => j <= i || x[0] !== k);
            }
            this._update();
        }
        sort() {
            this._list = this._list.map((p, i) => [p, i]).sort((a, b) =>
                (a[0][0] < b[0][0] ? -1 : a[0][0] > b[0][0] ? 1 : a[1] - b[1])).map((x) => x[0]);
            this._update();
        }
        forEach(fn, thisArg) { for (const [k, v] of this._list) fn.call(thisArg, v, k, this); }
        keys() { return this._list.map((p) => p[0])[Symbol.iterator](); }
        values() { return this._list.map((p) => p[1])[Symbol.iterator](); }
        entries() { return this._list.map((p) => [p[0], p[1]])[Symbol.iterator](); }
        [Symbol.iterator]() { return this.entries(); }
        toString() { return this._list.map(([k, v]) => `${formEncode(k)}=${formEncode(v)}`).join('&'); }
        get [Symbol.toStringTag]() { return 'URLSearchParams'; }
    }

    const SPECIAL = { 'http:': '80', 'https:': '443', 'ws:': '80', 'wss:': '443', 'ftp:': '21', 'file:': '' };
    const pctEncode = (s, re) => s.replace(re, (c) => Array.from(N.utf8Encode(c),
        (b) => '%' + b.toString(16).toUpperCase().padStart(2, '0')).join(''));
    const PATH_RE = /[\u0000-\u0020"#<>?`{}\u007f-\uffff]/gu;
    const QUERY_RE = /[\u0000-\u0020"#<>\u007f-\uffff]/gu;
    const FRAG_RE = /[\u0000-\u0020"<>`\u007f-\uffff]/gu;
    const USER_RE = /[\u0000-\u0020"#<>?`{}/:;=@[\\\]^|\u007f-\uffff]/gu;
    function normalizePath(path, special) {
        const segs = path.split('/');
        const out = [];
        for (let i = 1; i < segs.length; i++) {
            const s = segs[i];
            const dot = s === '.' || s.toLowerCase() === '%2e';
            const dotdot = s === '..' || /^(\.|%2e)(\.|%2e)$/i.test(s);
            if (dotdot) {
                out.pop();
                if (i === segs.length - 1) out.push('');
            } else if (dot) {
                if (i === segs.length - 1) out.push('');
            } else {
                out.push(s);
            }
        }
        return '/' + out.join('/');
    }
    const urlError = (input) => new TypeError(`Invalid URL: ${input}`);
    class URL {
        constructor(input, base) {
            input = String(input).replace(/^[\u0000-\u0020]+|[\u0000-\u0020]+$/g, '').replace(/[\t\n\r]/g, '');
            let baseUrl = null;
            if (base !== undefined) baseUrl = base instanceof URL ? base : new URL(base);
            const m = /^([A-Za-z][A-Za-z0-9+.-]*):(.*)$/s.exec(input);
            if (m) {
                this._protocol = m[1].toLowerCase() + ':';
                this._parseAfterScheme(m[2], input, baseUrl && baseUrl._protocol === this._protocol ? baseUrl : null);
            } else if (baseUrl) {
                this._protocol = baseUrl._protocol;
                this._resolveRelative(input, baseUrl);
            } else {
                throw urlError(input);
            }
            this._searchParams = null;
        }
        _special() { return this._protocol in SPECIAL; }
        _parseAfterScheme(rest, input, base) {
            const special = this._special();
            if (special) rest = rest.replace(/\\/g, '/');
            this._username = this._password = '';
            this._hostname = '';
            this._port = '';
            this._opaque = false;
            if (rest.startsWith('//') || (special && base === null)) {
                rest = rest.replace(/^\/*/, '');
                const end = rest.search(/[/?#]/);
                let auth = end < 0 ? rest : rest.slice(0, end);
                rest = end < 0 ? '' : rest.slice(end);
                const at = auth.lastIndexOf('@');
                if (at >= 0) {
                    const cred = auth.slice(0, at);
                    auth = auth.slice(at + 1);
                    const c = cred.indexOf(':');
                    this._username = pctEncode(c < 0 ? cred : cred.slice(0, c), USER_RE);
                    this._password = c < 0 ? '' : pctEncode(cred.slice(c + 1), USER_RE);
                }
                const pm = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(auth);
                if (!pm) throw urlError(input);
                let host = pm[1];
                if (special && this._protocol !== 'file:' && host === '') throw urlError(input);
                if (/[\u0000\t\n\r #/<>?@[\\\]^|%]/.test(host.replace(/^\[.*\]$/, ''))) throw urlError(input);
                this._hostname = special ? host.toLowerCase() : host;
                let port = pm[2] || '';
                if (port !== '') {
                    const p = Number(port);
                    if (p > 65535) throw urlError(input);
                    port = String(p);
                }
                this._port = port === SPECIAL[this._protocol] ? '' : port;
                this._hasAuthority = true;
            } else if (base && !rest.startsWith('/')) {
                return this._resolveRelative(rest, base);
            } else if (!rest.startsWith('/')) {
                this._opaque = true;
                this._hasAuthority = false;
            } else {
                this._hasAuthority = false;
            }
            this._setPathQueryHash(rest);
        }
        _setPathQueryHash(rest) {
            const h = rest.indexOf('#');
            this._hash = h < 0 ? '' : '#' + pctEncode(rest.slice(h + 1), FRAG_RE);
            if (h >= 0) rest = rest.slice(0, h);
            const q = rest.indexOf('?');
            this._search = q < 0 || q === rest.length - 1 ? '' : '?' + pctEncode(rest.slice(q + 1), QUERY_RE);
            if (q >= 0) rest = rest.slice(0, q);
            if (this._opaque) {
                this._pathname = rest;
            } else {
                if (rest === '' && this._special()) rest = '/';
                this._pathname = rest === '' ? '' : normalizePath(pctEncode(rest, PATH_RE), this._special());
            }
        }
        _resolveRelative(input, base) {
            if (base._opaque) {
                if (!input.startsWith('#')) throw urlError(input);
            }
            this._username = base._username;
            this._password = base._password;
            this._hostname = base._hostname;
            this._port = base._port;
            this._hasAuthority = base._hasAuthority;
            this._opaque = base._opaque;
            if (this._special()) input = input.replace(/\\/g, '/');
            if (input.startsWith('//')) return this._parseAfterScheme(input, input, null);
            if (input === '') {
                this._pathname = base._pathname;
                this._search = base._search;
                this._hash = '';
                return;
            }
            if (input.startsWith('#')) {
                this._pathname = base._pathname;
                this._search = base._search;
                this._hash = '#' + pctEncode(input.slice(1), FRAG_RE);
                return;
            }
            if (input.startsWith('?')) {
                this._pathname = base._pathname;
                this._setPathQueryHash(base._pathname.replace(/[?#].*$/, '') + input);
                this._pathname = base._pathname;
                return;
            }
            if (input.startsWith('/')) return this._setPathQueryHash(input);
            const dir = base._pathname.slice(0, base._pathname.lastIndexOf('/') + 1);
            this._setPathQueryHash((dir || '/') + input);
        }
        get protocol() { return this._protocol; }
        set protocol(v) {
            const p = String(v).replace(/:.*$/, '').toLowerCase() + ':';
            if (/^[a-z][a-z0-9+.-]*:$/.test(p) && (p in SPECIAL) === this._special()) this._protocol = p;
        }
        get username() { return this._username; }
        set username(v) { this._username = pctEncode(String(v), USER_RE); }
        get password() { return this._password; }
        set password(v) { this._password = pctEncode(String(v), USER_RE); }
        get hostname() { return this._hostname; }
        set hostname(v) { if (!this._opaque) this._hostname = this._special() ? String(v).toLowerCase() : String(v); }
        get port() { return this._port; }
        set port(v) {
            const s = String(v);
            if (s === '') { this._port = ''; return; }
            const m = /^\d+/.exec(s);
            if (m && Number(m[0]) <= 65535) this._port = String(Number(m[0])) === SPECIAL[this._protocol] ? '' : String(Number(m[0]));
        }
        get host() { return this._hostname + (this._port ? ':' + this._port : ''); }
        set host(v) {
            const m = /^(\[[^\]]*\]|[^:/?#]*)(?::(\d*))?/.exec(String(v));
            if (m && m[1]) { this.hostname = m[1]; if (m[2] !== undefined) this.port = m[2]; }
        }
        get origin() {
            return this._special() && this._protocol !== 'file:' ? `${this._protocol}//${this.host}` : 'null';
        }
        get pathname() { return this._pathname; }
        set pathname(v) {
            if (this._opaque) return;
            let p = String(v);
            if (!p.startsWith('/')) p = '/' + p;
            this._pathname = normalizePath(pctEncode(p, PATH_RE), this._special());
        }
        get search() { return this._search.length > 1 ? this._search : ''; }
        set search(v) {
            const s = String(v).replace(/^\?/, '');
            this._search = s ? '?' + pctEncode(s, QUERY_RE) : '';
            if (this._searchParams) this._searchParams._parse(this._search);
        }
        get searchParams() {
            if (!this._searchParams) {
                this._searchParams = new URLSearchParams(this._search);
                this._searchParams._url = this;
            }
            return this._searchParams;
        }
        get hash() { return this._hash.length > 1 ? this._hash : ''; }
        set hash(v) { const s = String(v).replace(/^#/, ''); this._hash = s ? '#' + pctEncode(s, FRAG_RE) : ''; }
        get href() {
            let s = this._protocol;
            if (this._hasAuthority) {
                s += '//';
                if (this._username || this._password) {
                    s += this._username + (this._password ? ':' + this._password : '') + '@';
                }
                s += this.host;
            }
            return s + this._pathname + this._search + this._hash;
        }
        set href(v) {
            const u = new URL(v);
            Object.assign(this, u);
            this._searchParams = null;
        }
        toString() { return this.href; }
        toJSON() { return this.href; }
        static canParse(input, base) {
            try { new URL(input, base); return true; } catch { return false; }
        }
        static parse(input, base) {
            try { return new URL(input, base); } catch { return null; }
        }
        get [Symbol.toStringTag]() { return 'URL'; }
    }
    define(global, 'URL', URL);
    define(global, 'URLSearchParams', URLSearchParams);

    // ------------------------------------------------------------------ fetch
    // fetch over the host's HTTP (guest ABI http_request): the host checks allowed_hosts on
    // every hop and refuses private addresses; a refused or failed request rejects with
    // TypeError("fetch failed") whose cause has the host's error_type as `code`.
    class Headers {
        constructor(init) {
            this._h = [];
            if (init instanceof Headers) this._h = init._h.map((p) => p.slice());
            else if (Array.isArray(init) || (init && typeof init[Symbol.iterator] === 'function')) {
                for (const [k, v] of init) this.append(k, v);
            } else if (init && typeof init === 'object') {
                for (const k of Object.keys(init)) this.append(k, init[k]);
            }
        }
        append(k, v) { this._h.push([String(k).toLowerCase(), String(v)]); }
        set(k, v) { k = String(k).toLowerCase(); this.delete(k); this._h.push([k, String(v)]); }
        get(k) {
            k = String(k).toLowerCase();
            const v = this._h.filter((p) => p[0] === k).map((p) => p[1]);
            return v.length ? v.join(', ') : null;
        }
        getSetCookie() { return this._h.filter((p) => p[0] === 'set-cookie').map((p) => p[1]); }
        has(k) { k = String(k).toLowerCase(); return this._h.some((p) => p[0] === k); }
        delete(k) { k = String(k).toLowerCase(); this._h = this._h.filter((p) => p[0] !== k); }
        forEach(fn, thisArg) { for (const [k, v] of this) fn.call(thisArg, v, k, this); }
        *entries() {
            const names = [...new Set(this._h.map((p) => p[0]))].sort();
            for (const n of names) yield [n, this.get(n)];
        }
        keys() { return Array.from(this.entries(), (p) => p[0])[Symbol.iterator](); }
        values() { return Array.from(this.entries(), (p) => p[1])[Symbol.iterator](); }
        [Symbol.iterator]() { return this.entries(); }
        get [Symbol.toStringTag]() { return 'Headers'; }
    }
    const bodyBytes = (body) => {
        if (body === undefined || body === null) return { bytes: undefined, type: null };
        if (typeof body === 'string') return { bytes: N.utf8Encode(wellFormed(body)), type: 'text/plain;charset=UTF-8' };
        if (body instanceof URLSearchParams) {
            return { bytes: N.utf8Encode(body.toString()), type: 'application/x-www-form-urlencoded;charset=UTF-8' };
        }
        if (body instanceof ArrayBuffer) return { bytes: new Uint8Array(body), type: null };
        if (ArrayBuffer.isView(body)) return { bytes: new Uint8Array(body.buffer, body.byteOffset, body.byteLength), type: null };
        return { bytes: N.utf8Encode(wellFormed(String(body))), type: 'text/plain;charset=UTF-8' };
    };
    class Body {
        _take() {
            if (this.bodyUsed) throw new TypeError('Body is unusable: Body has already been read');
            this.bodyUsed = true;
            return this._bytes || new Uint8Array(0);
        }
        async arrayBuffer() { const b = this._take(); return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength); }
        async bytes() { return new Uint8Array(this._take()); }
        async text() { return N.utf8Decode(this._take(), false); }
        async json() { return JSON.parse(await this.text()); }
    }
    class Response extends Body {
        constructor(body, init = {}) {
            super();
            const b = bodyBytes(body);
            this._bytes = b.bytes;
            this.status = init.status === undefined ? 200 : init.status;
            this.statusText = init.statusText || '';
            this.headers = new Headers(init.headers);
            if (b.type && !this.headers.has('content-type')) this.headers.set('content-type', b.type);
            this.url = init.url || '';
            this.redirected = !!init.redirected;
            this.type = 'basic';
            this.bodyUsed = false;
        }
        get ok() { return this.status >= 200 && this.status < 300; }
        get body() { return null; } // no streams: read it with text(), json(), arrayBuffer(), bytes()
        clone() {
            if (this.bodyUsed) throw new TypeError('Response.clone: Body has already been consumed');
            return new Response(this._bytes, this);
        }
        static json(data, init = {}) {
            const r = new Response(JSON.stringify(data), init);
            r.headers.set('content-type', 'application/json');
            return r;
        }
        static error() { const r = new Response(null, { status: 0 }); r.type = 'error'; return r; }
    }
    class Request extends Body {
        constructor(input, init = {}) {
            super();
            const base = input instanceof Request ? input : null;
            this.url = base ? base.url : new URL(String(input)).href;
            this.method = String(init.method || (base && base.method) || 'GET').toUpperCase();
            this.headers = new Headers(init.headers || (base && base.headers));
            const b = init.body !== undefined ? bodyBytes(init.body) : { bytes: base && base._bytes, type: null };
            this._bytes = b.bytes;
            if (b.type && !this.headers.has('content-type')) this.headers.set('content-type', b.type);
            this.redirect = init.redirect || (base && base.redirect) || 'follow';
            this.signal = init.signal || (base && base.signal) || null;
            this.bodyUsed = false;
        }
        clone() { return new Request(this); }
    }
    const fetchFailed = (code, message) => {
        const cause = new Error(message);
        cause.code = code;
        return new TypeError('fetch failed', { cause });
    };
    function fetch(input, init = {}) {
        return new Promise((resolve, reject) => {
            let req;
            try {
                req = new Request(input, init);
            } catch (e) {
                reject(e);
                return;
            }
            if (req.signal && req.signal.aborted) {
                reject(req.signal.reason);
                return;
            }
            // A job, so that fetch() itself returns at once; the host call then blocks.
            Promise.resolve().then(() => {
                const head = { method: req.method, url: req.url, headers: req.headers._h };
                if (req.redirect !== 'follow') head.max_redirects = 0;
                if (typeof init.timeout === 'number') head.timeout_ms = init.timeout;
                const r = N.httpRequest(JSON.stringify(head), req._bytes);
                if (typeof r === 'number') {
                    throw fetchFailed(r === -6 ? 'timeout' : 'host_error', `http_request failed (code ${r})`);
                }
                const h = JSON.parse(r[0]);
                if (h.error) throw fetchFailed(h.error.error_type, h.error.message);
                if (req.redirect === 'error' && h.status >= 300 && h.status < 400) {
                    throw fetchFailed('redirect', `redirect mode is "error" (status ${h.status})`);
                }
                return new Response(r[1], { status: h.status, headers: h.headers, url: h.url,
                                            redirected: (h.redirects || 0) > 0 });
            }).then(resolve, reject);
        });
    }
    define(global, 'Headers', Headers);
    define(global, 'Request', Request);
    define(global, 'Response', Response);
    define(global, 'fetch', fetch);

    // ------------------------------------------------------------------ process
    const env = Object.assign(Object.create(null), N.env);
    const argv = Array.from(N.argv);
    const out = (fd) => ({
        write(chunk, enc, cb) {
            N.write(fd, typeof chunk === 'string' ? chunk : chunk);
            if (typeof enc === 'function') enc(); else if (typeof cb === 'function') cb();
            return true;
        },
        isTTY: false,
        fd,
    });
    const listeners = new Map();
    const process = {
        argv,
        argv0: argv[0] || 'capsule',
        execArgv: [],
        env,
        platform: 'wasi',
        arch: 'wasm32',
        pid: 1,
        ppid: 0,
        title: 'capsule',
        version: 'v20.0.0',
        versions: { capsule: '0.1.0', quickjs: '2025-04-26', node: '20.0.0' },
        release: { name: 'capsule' },
        exitCode: undefined,
        stdout: out(1),
        stderr: out(2),
        stdin: { isTTY: false, fd: 0 },
        cwd: () => '/',
        chdir: () => { throw new Error('process.chdir() is not supported in the sandbox'); },
        uptime: () => (N.now() - t0) / 1000,
        hrtime: Object.assign((prev) => {
            const ns = Math.round(N.now() * 1e6);
            let s = Math.floor(ns / 1e9), n = ns % 1e9;
            if (prev) { s -= prev[0]; n -= prev[1]; if (n < 0) { s--; n += 1e9; } }
            return [s, n];
        }, { bigint: () => BigInt(Math.round(N.now() * 1e6)) }),
        memoryUsage: () => ({ rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 }),
        nextTick: (cb, ...args) => { checkCb(cb); Promise.resolve().then(() => cb(...args)); },
        // WASI proc_exit: the host ends the task (0: success with the result written so far,
        // else error_type "exit").
        exit: (code) => N.exit(code === undefined ? (process.exitCode || 0) : Number(code) | 0),
        on(ev, fn) { if (!listeners.has(ev)) listeners.set(ev, []); listeners.get(ev).push(fn); return this; },
        once(ev, fn) { return this.on(ev, fn); },
        off(ev, fn) { const l = listeners.get(ev); if (l) listeners.set(ev, l.filter((f) => f !== fn)); return this; },
        removeListener(ev, fn) { return this.off(ev, fn); },
        emit(ev, ...a) { const l = listeners.get(ev); if (l) l.forEach((f) => f(...a)); return !!(l && l.length); },
        emitWarning: (w) => N.write(2, `Warning: ${w instanceof Error ? w.message : w}\n`),
        binding: () => { throw new Error('process.binding is not supported'); },
    };
    define(global, 'process', process);

    // ------------------------------------------------------------------ per-task refresh
    // Called by the runner at the start of every task (serve()). Everything above ran at
    // start-up, which a snapshot keeps: state that must differ from run to run is renewed
    // here. Math.random is reseeded; process.argv and process.env are rebuilt, in
    // place (code may hold on to the objects), from what the host gives this run: through the
    // native readArgv()/readEnv() when the runtime has them (they re-read WASI args_get and
    // environ_get), else from N.argv/N.env (which a restoring runtime may replace).
    const refresh = () => {
        reseed();
        const nargv = typeof N.readArgv === 'function' ? N.readArgv() : N.argv;
        const nenv = typeof N.readEnv === 'function' ? N.readEnv() : N.env;
        argv.length = 0;
        for (const a of Array.from(nargv)) argv.push(a);
        for (const k of Object.keys(env)) delete env[k];
        for (const k of Object.keys(nenv)) if (k !== 'CAPSULE_JS_MAIN') env[k] = String(nenv[k]);
        process.argv = argv;
        process.env = env;
        process.argv0 = argv[0] || 'capsule';
        process.exitCode = undefined;
        t0 = N.now();
        performance.timeOrigin = Date.now();
    };
    Object.defineProperty(global, Symbol.for('capsule.refresh'), { value: refresh });

    // ------------------------------------------------------------------ library gaps
    if (!Array.fromAsync) {
        define(Array, 'fromAsync', async function fromAsync(items, mapFn, thisArg) {
            const out = [];
            let i = 0;
            if (items != null && typeof items[Symbol.asyncIterator] === 'function') {
                for await (const x of items) out.push(mapFn ? await mapFn.call(thisArg, x, i++) : x);
            } else {
                for (const x of Array.from(items)) {
                    const v = await x;
                    out.push(mapFn ? await mapFn.call(thisArg, v, i++) : v);
                }
            }
            return out;
        });
    }
    if (!Promise.withResolvers) {
        define(Promise, 'withResolvers', function withResolvers() {
            let resolve, reject;
            const promise = new this((a, b) => { resolve = a; reject = b; });
            return { promise, resolve, reject };
        });
    }
    if (!String.prototype.isWellFormed) {
        define(String.prototype, 'isWellFormed', function isWellFormed() {
            return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(this);
        });
        define(String.prototype, 'toWellFormed', function toWellFormed() { return wellFormed(this); });
    }
    // ES2025 Set methods (set-like arguments: size, has, keys).
    if (!Set.prototype.union) {
        const setLike = (o) => {
            if (o === null || typeof o !== 'object' || typeof o.has !== 'function' ||
                typeof o.keys !== 'function' || Number.isNaN(Number(o.size))) {
                throw new TypeError('The argument must be set-like (size, has, keys)');
            }
            return o;
        };
        const setMethods = {
            union(other) {
                setLike(other);
                const out = new Set(this);
                for (const x of other.keys()) out.add(x);
                return out;
            },
            intersection(other) {
                setLike(other);
                const out = new Set();
                if (this.size <= other.size) {
                    for (const x of this) if (other.has(x)) out.add(x);
                } else {
                    for (const x of other.keys()) if (this.has(x)) out.add(x);
                }
                return out;
            },
            difference(other) {
                setLike(other);
                const out = new Set(this);
                if (this.size <= other.size) {
                    for (const x of this) if (other.has(x)) out.delete(x);
                } else {
                    for (const x of other.keys()) out.delete(x);
                }
                return out;
            },
            symmetricDifference(other) {
                setLike(other);
                const out = new Set(this);
                for (const x of other.keys()) {
                    if (this.has(x)) out.delete(x);
                    else out.add(x);
                }
                return out;
            },
            isSubsetOf(other) {
                setLike(other);
                if (this.size > other.size) return false;
                for (const x of this) if (!other.has(x)) return false;
                return true;
            },
            isSupersetOf(other) {
                setLike(other);
                if (this.size < other.size) return false;
                for (const x of other.keys()) if (!this.has(x)) return false;
                return true;
            },
            isDisjointFrom(other) {
                setLike(other);
                if (this.size <= other.size) {
                    for (const x of this) if (other.has(x)) return false;
                } else {
                    for (const x of other.keys()) if (this.has(x)) return false;
                }
                return true;
            },
        };
        for (const k of Object.keys(setMethods)) define(Set.prototype, k, setMethods[k]);
    }
    if (!Promise.try) {
        define(Promise, 'try', { try(fn, ...args) { return new this((resolve) => resolve(fn(...args))); } }.try);
    }
    // ES2025 iterator helpers: the global Iterator, Iterator.from, and map/filter/take/drop/
    // flatMap/reduce/toArray/forEach/some/every/find on every iterator (arrays', Maps',
    // generators'). The lazy ones return generators, which inherit the same methods; closing
    // one (return(), break) closes the underlying iterator.
    const IteratorProto = Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]()));
    if (typeof IteratorProto.map !== 'function') {
        const steps = (it) => ({ [Symbol.iterator]: () => it });
        const needFn = (f) => {
            if (typeof f !== 'function') throw new TypeError(`${String(f)} is not a function`);
        };
        const limit = (n) => {
            const v = Number(n);
            if (Number.isNaN(v)) throw new RangeError(`${String(n)} must be a number`);
            const i = v === Infinity ? Infinity : Math.trunc(v);
            if (i < 0) throw new RangeError(`${String(n)} must be positive`);
            return i;
        };
        const iterMethods = {
            map(fn) {
                needFn(fn);
                return (function* (it) { let i = 0; for (const x of steps(it)) yield fn(x, i++); })(this);
            },
            filter(fn) {
                needFn(fn);
                return (function* (it) { let i = 0; for (const x of steps(it)) if (fn(x, i++)) yield x; })(this);
            },
            take(n) {
                const k = limit(n);
                return (function* (it) {
                    if (k === 0) { if (typeof it.return === 'function') it.return(); return; }
                    let i = 0;
                    for (const x of steps(it)) { yield x; if (++i >= k) return; }
                })(this);
            },
            drop(n) {
                const k = limit(n);
                return (function* (it) { let i = 0; for (const x of steps(it)) if (i++ >= k) yield x; })(this);
            },
            flatMap(fn) {
                needFn(fn);
                return (function* (it) {
                    let i = 0;
                    for (const x of steps(it)) {
                        const inner = fn(x, i++);
                        if (inner === null || (typeof inner !== 'object' && typeof inner !== 'function')) {
                            throw new TypeError('flatMap: the mapper must return an iterator or iterable object');
                        }
                        yield* (typeof inner[Symbol.iterator] === 'function' ? inner : steps(inner));
                    }
                })(this);
            },
            reduce(fn, ...init) {
                needFn(fn);
                let i = 0;
                let acc;
                let first = init.length === 0;
                if (!first) acc = init[0];
                for (const x of steps(this)) {
                    if (first) { acc = x; first = false; i++; continue; }
                    acc = fn(acc, x, i++);
                }
                if (first) throw new TypeError('Reduce of empty iterator with no initial value');
                return acc;
            },
            toArray() { return Array.from(steps(this)); },
            forEach(fn) { needFn(fn); let i = 0; for (const x of steps(this)) fn(x, i++); },
            some(fn) { needFn(fn); let i = 0; for (const x of steps(this)) if (fn(x, i++)) return true; return false; },
            every(fn) { needFn(fn); let i = 0; for (const x of steps(this)) if (!fn(x, i++)) return false; return true; },
            find(fn) { needFn(fn); let i = 0; for (const x of steps(this)) if (fn(x, i++)) return x; return undefined; },
        };
        for (const k of Object.keys(iterMethods)) define(IteratorProto, k, iterMethods[k]);
        if (typeof global.Iterator !== 'function') {
            const Iterator = function Iterator() {
                if (new.target === undefined || new.target === Iterator) {
                    throw new TypeError('Abstract class Iterator not directly constructable');
                }
            };
            Object.defineProperty(Iterator, 'prototype', { value: IteratorProto, writable: false });
            define(IteratorProto, 'constructor', Iterator);
            define(Iterator, 'from', { from(o) {
                const it = typeof o === 'string' || (o !== null && typeof o === 'object' &&
                    typeof o[Symbol.iterator] === 'function') || typeof o?.[Symbol.iterator] === 'function'
                    ? o[Symbol.iterator]() : o;
                if (it === null || (typeof it !== 'object' && typeof it !== 'function') || typeof it.next !== 'function') {
                    throw new TypeError(`${String(o)} is not an iterator or iterable`);
                }
                if (IteratorProto.isPrototypeOf(it)) return it;
                const wrapped = Object.create(IteratorProto);
                define(wrapped, 'next', (...a) => it.next(...a));
                define(wrapped, 'return', () => (typeof it.return === 'function' ? it.return() : { done: true, value: undefined }));
                return wrapped;
            } }.from);
            define(global, 'Iterator', Iterator);
        }
    }
    if (typeof global.AbortController !== 'function') {
        class AbortSignal {
            constructor() { this.aborted = false; this.reason = undefined; this._l = []; this.onabort = null; }
            addEventListener(t, fn) { if (t === 'abort') this._l.push(fn); }
            removeEventListener(t, fn) { this._l = this._l.filter((f) => f !== fn); }
            throwIfAborted() { if (this.aborted) throw this.reason; }
            _abort(reason) {
                if (this.aborted) return;
                this.aborted = true;
                this.reason = reason !== undefined ? reason
                    : Object.assign(new Error('This operation was aborted'), { name: 'AbortError' });
                const ev = { type: 'abort', target: this };
                if (this.onabort) this.onabort(ev);
                for (const f of this._l) f(ev);
            }
            static abort(reason) { const s = new AbortSignal(); s._abort(reason); return s; }
            static timeout(ms) {
                const s = new AbortSignal();
                setTimeout(() => s._abort(Object.assign(new Error('The operation timed out'), { name: 'TimeoutError' })), ms);
                return s;
            }
        }
        class AbortController {
            constructor() { this.signal = new AbortSignal(); }
            abort(reason) { this.signal._abort(reason); }
        }
        define(global, 'AbortController', AbortController);
        define(global, 'AbortSignal', AbortSignal);
    }
})(globalThis);
