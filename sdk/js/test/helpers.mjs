// SPDX-License-Identifier: Apache-2.0
// Shared set-up of the SDK tests: the real capsule binary (CAPSULE_BIN) and the C guest
// (CAPSULE_SDK_GUEST, compiled to wasm32-wasi by tests/sdk; compiled here when unset).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SDK = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = resolve(SDK, '..', '..');

export function capsuleBin() {
    const bin = process.env.CAPSULE_BIN;
    if (!bin || !existsSync(bin)) {
        throw new Error('set CAPSULE_BIN to the capsule executable (e.g. build/capsule)');
    }
    return resolve(bin);
}

let guestPath = null;

/** The compiled tests/sdk/guests/sdk_guest.c (tasks echo, main, fail, spin, sleep, ...). */
export function guest() {
    if (guestPath) return guestPath;
    if (process.env.CAPSULE_SDK_GUEST) {
        if (!existsSync(process.env.CAPSULE_SDK_GUEST)) {
            throw new Error(`CAPSULE_SDK_GUEST=${process.env.CAPSULE_SDK_GUEST} does not exist`);
        }
        guestPath = resolve(process.env.CAPSULE_SDK_GUEST);
        return guestPath;
    }
    // A private sysroot: --sysroot=/usr would let clang pick glibc headers (TOOLCHAIN notes).
    const dir = mkdtempSync(join(tmpdir(), 'capsule-sdk-guest-'));
    for (const d of ['include', 'lib']) {
        mkdirSync(join(dir, 'sysroot', d), { recursive: true });
        symlinkSync(`/usr/${d}/wasm32-wasi`, join(dir, 'sysroot', d, 'wasm32-wasi'));
    }
    guestPath = join(dir, 'sdk_guest.wasm');
    execFileSync('clang-19', ['--target=wasm32-wasi', `--sysroot=${join(dir, 'sysroot')}`, '-O2',
        '-mcpu=mvp', '-Wall', '-Werror', '-o', guestPath,
        join(ROOT, 'tests', 'sdk', 'guests', 'sdk_guest.c')], { stdio: 'inherit' });
    return guestPath;
}

/** A fresh project directory (made the current directory: the journal goes there). */
export function project() {
    const dir = mkdtempSync(join(tmpdir(), 'capsule-sdk-js-'));
    process.chdir(dir);
    return dir;
}

/** True while a process exists and is not a zombie. */
export function alive(pid) {
    try {
        process.kill(pid, 0);
    } catch {
        return false;
    }
    try {
        const stat = execFileSync('cat', [`/proc/${pid}/stat`]).toString();
        return stat.split(')').pop().trim().split(' ')[0] !== 'Z';
    } catch {
        return false;
    }
}

export const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
