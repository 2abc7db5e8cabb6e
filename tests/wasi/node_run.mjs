// SPDX-License-Identifier: Apache-2.0
// Runs a WASI command under node:wasi with the fixture's mounts (/ro and /rw, both writable:
// node's WASI has no read-only mounts and is no sandbox), to compare outputs with Capsule's.
// Usage: node node_run.mjs FIXTURE_DIR [capsule-style options] FILE.wasm [ARGS...]
import { readFileSync } from 'node:fs';
import { WASI } from 'node:wasi';
import process from 'node:process';

const [fixture, ...rest] = process.argv.slice(2);
const env = {};
const preopens = {};
let stdinFd = undefined;
let i = 0;
for (; i < rest.length && rest[i].startsWith('--'); i++) {
  const opt = rest[i];
  const val = rest[++i];
  if (opt === '--env') {
    const eq = val.indexOf('=');
    if (eq < 0) { if (process.env[val] !== undefined) env[val] = process.env[val]; }
    else env[val.slice(0, eq)] = val.slice(eq + 1);
  } else if (opt === '--mount') {
    const m = val.replace(/:(ro|rw)$/, '').split('::');
    preopens[m[1] ?? '/' + m[0].split('/').pop()] = m[0];
  } else if (opt === '--stdin') {
    stdinFd = val === '-' ? 0 : undefined;
  }
}
const file = rest[i];
const wasi = new WASI({ version: 'preview1', args: rest.slice(i), env, preopens,
                        returnOnExit: true, stdin: stdinFd });
const mod = await WebAssembly.compile(readFileSync(file));
const inst = await WebAssembly.instantiate(mod, wasi.getImportObject());
process.exitCode = wasi.start(inst);
