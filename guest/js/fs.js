// SPDX-License-Identifier: Apache-2.0
// A Node-style `fs` subset over WASI (modules "fs", "node:fs", "fs/promises",
// "node:fs/promises"). The guest sees only the directories its task was granted; everything
// else fails with ENOENT or ENOTCAPABLE, and read-only grants refuse writes, as the host
// decides. Relative paths resolve against "/" (process.cwd()).
// Sync functions: readFileSync writeFileSync appendFileSync existsSync statSync lstatSync
// readdirSync mkdirSync rmSync rmdirSync unlinkSync renameSync copyFileSync accessSync
// mkdtempSync; the same without "Sync" take a callback; fs.promises returns promises.
const N = globalThis[Symbol.for('capsule.native')];

function toPath(p) {
    if (p instanceof URL) {
        if (p.protocol !== 'file:') throw new TypeError('The URL must be of scheme file');
        p = decodeURIComponent(p.pathname);
    }
    if (typeof p !== 'string') {
        throw new TypeError(`The "path" argument must be of type string or an instance of URL. Received ${typeof p}`);
    }
    if (p.includes('\0')) throw new TypeError('The "path" argument must not contain null bytes');
    return p.startsWith('/') ? p : `/${p}`;
}
const encodingOf = (o) => (typeof o === 'string' ? o : o && o.encoding) || null;
function decode(bytes, enc) {
    if (!enc || enc === 'buffer') return bytes;
    const e = enc.toLowerCase();
    if (e === 'utf8' || e === 'utf-8') return N.utf8Decode(bytes, false);
    if (e === 'latin1' || e === 'binary') return String.fromCharCode(...bytes);
    if (e === 'base64') return btoa(String.fromCharCode(...bytes));
    if (e === 'hex') return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    throw new TypeError(`Unknown encoding: ${enc}`);
}
function toBytes(data) {
    if (typeof data === 'string') return N.utf8Encode(data.toWellFormed ? data.toWellFormed() : data);
    if (data instanceof ArrayBuffer) return new Uint8Array(data);
    if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    throw new TypeError('The "data" argument must be of type string or an instance of Buffer, TypedArray, or DataView');
}

class Stats {
    constructor(s) {
        this._kind = s.kind;
        this.size = s.size;
        this.mode = s.mode;
        this.ino = s.ino;
        this.nlink = s.nlink;
        this.atimeMs = s.atimeMs;
        this.mtimeMs = s.mtimeMs;
        this.ctimeMs = s.ctimeMs;
        this.birthtimeMs = s.ctimeMs;
        this.atime = new Date(s.atimeMs);
        this.mtime = new Date(s.mtimeMs);
        this.ctime = new Date(s.ctimeMs);
        this.birthtime = new Date(s.ctimeMs);
    }
    isFile() { return this._kind === 'file'; }
    isDirectory() { return this._kind === 'dir'; }
    isSymbolicLink() { return this._kind === 'symlink'; }
    isFIFO() { return false; }
    isSocket() { return false; }
    isBlockDevice() { return false; }
    isCharacterDevice() { return this._kind === 'other'; }
}
class Dirent {
    constructor(name, kind, parentPath) {
        this.name = name;
        this._kind = kind;
        this.parentPath = parentPath;
        this.path = parentPath;
    }
    isFile() { return this._kind === 'file'; }
    isDirectory() { return this._kind === 'dir'; }
    isSymbolicLink() { return this._kind === 'symlink'; }
    isFIFO() { return false; }
    isSocket() { return false; }
    isBlockDevice() { return false; }
    isCharacterDevice() { return false; }
}

function readFileSync(path, options) {
    return decode(N.readFile(toPath(path)), encodingOf(options));
}
function writeFileSync(path, data, options) {
    const flag = (options && typeof options === 'object' && options.flag) || 'w';
    N.writeFile(toPath(path), toBytes(data), flag.startsWith('a'), flag.includes('x'));
}
function appendFileSync(path, data) {
    N.writeFile(toPath(path), toBytes(data), true, false);
}
function statSync(path, options) {
    try {
        return new Stats(N.stat(toPath(path), false));
    } catch (e) {
        if (options && options.throwIfNoEntry === false && e.code === 'ENOENT') return undefined;
        throw e;
    }
}
function lstatSync(path) {
    return new Stats(N.stat(toPath(path), true));
}
function existsSync(path) {
    try {
        N.stat(toPath(path), false);
        return true;
    } catch {
        return false;
    }
}
function accessSync(path) {
    N.stat(toPath(path), false);
}
function readdirSync(path, options) {
    const p = toPath(path);
    const entries = N.readdir(p).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const out = [];
    const recursive = options && options.recursive;
    const walk = (dir, rel, list) => {
        for (const [name, kind] of list) {
            const r = rel ? `${rel}/${name}` : name;
            out.push(options && options.withFileTypes ? new Dirent(name, kind, dir) : r);
            if (recursive && kind === 'dir') {
                const sub = `${dir}/${name}`;
                walk(sub, r, N.readdir(sub).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
            }
        }
    };
    walk(p.replace(/\/+$/, '') || '/', '', entries);
    return out;
}
function mkdirSync(path, options) {
    const p = toPath(path);
    const recursive = options && typeof options === 'object' && options.recursive;
    if (!recursive) {
        N.mkdir(p);
        return undefined;
    }
    const parts = p.split('/').filter(Boolean);
    let cur = '';
    let first;
    for (const part of parts) {
        cur += `/${part}`;
        try {
            N.mkdir(cur);
            if (first === undefined) first = cur;
        } catch (e) {
            if (e.code !== 'EEXIST' && e.code !== 'ENOTCAPABLE' && e.code !== 'EACCES' && e.code !== 'EPERM') throw e;
            if (e.code !== 'EEXIST') {
                // A preopen's ancestors are not visible: only fail if the directory is missing.
                if (!existsSync(cur)) throw e;
            } else if (!statSync(cur).isDirectory()) {
                throw e;
            }
        }
    }
    return first;
}
function rmSync(path, options) {
    const p = toPath(path);
    const force = options && options.force;
    let st;
    try {
        st = N.stat(p, true);
    } catch (e) {
        if (force && e.code === 'ENOENT') return;
        throw e;
    }
    if (st.kind === 'dir') {
        if (!(options && options.recursive)) {
            const e = new Error(`Path is a directory: rm returned EISDIR (is a directory) ${p}`);
            e.code = 'ERR_FS_EISDIR';
            throw e;
        }
        for (const [name] of N.readdir(p)) rmSync(`${p}/${name}`, options);
        N.rmdir(p);
    } else {
        N.unlink(p);
    }
}
function rmdirSync(path, options) {
    if (options && options.recursive) return rmSync(path, { recursive: true, force: true });
    N.rmdir(toPath(path));
}
function unlinkSync(path) {
    N.unlink(toPath(path));
}
function renameSync(from, to) {
    N.rename(toPath(from), toPath(to));
}
function copyFileSync(from, to, mode) {
    N.writeFile(toPath(to), N.readFile(toPath(from)), false, !!(mode & 1));
}
function mkdtempSync(prefix) {
    const b = new Uint8Array(6);
    crypto.getRandomValues(b);
    const chars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
    const p = `${prefix}${Array.from(b, (x) => chars[x % chars.length]).join('')}`;
    N.mkdir(toPath(p));
    return p;
}

const syncs = { readFileSync, writeFileSync, appendFileSync, statSync, lstatSync, existsSync,
                accessSync, readdirSync, mkdirSync, rmSync, rmdirSync, unlinkSync, renameSync,
                copyFileSync, mkdtempSync };
const promises = {};
const callbacks = {};
for (const [name, f] of Object.entries(syncs)) {
    const base = name.slice(0, -4);
    if (base === 'exists') continue;
    promises[base] = (...args) => new Promise((resolve, reject) => {
        try { resolve(f(...args)); } catch (e) { reject(e); }
    });
    callbacks[base] = (...args) => {
        const cb = typeof args[args.length - 1] === 'function' ? args.pop() : null;
        let r, err = null;
        try { r = f(...args); } catch (e) { err = e; }
        if (cb) queueMicrotask(() => cb(err, r));
        else if (err) throw err;
    };
}
callbacks.exists = (p, cb) => queueMicrotask(() => cb(existsSync(p)));
const constants = { F_OK: 0, R_OK: 4, W_OK: 2, X_OK: 1, COPYFILE_EXCL: 1 };
promises.constants = constants;

const fs = { ...syncs, ...callbacks, promises, constants, Stats, Dirent };
export default fs;
export { readFileSync, writeFileSync, appendFileSync, statSync, lstatSync, existsSync, accessSync,
         readdirSync, mkdirSync, rmSync, rmdirSync, unlinkSync, renameSync, copyFileSync,
         mkdtempSync, promises, constants, Stats, Dirent };
export const { readFile, writeFile, appendFile, stat, lstat, readdir, mkdir, rm, rmdir, unlink,
               rename, copyFile, access, mkdtemp, exists } = callbacks;
