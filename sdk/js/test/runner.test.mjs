// SPDX-License-Identifier: Apache-2.0
// Runner: many tasks through one `capsule worker` process, on the real binary.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';

import { CapsuleError, CapsuleNotFound, Runner, TaskError, unwrap } from '../index.js';
import { SDK, alive, capsuleBin, guest, project, sleep } from './helpers.mjs';

let G;
let dir;
before(() => {
    capsuleBin();
    G = guest();
    dir = project();
});

test('success, errors and limits through one worker', async () => {
    const r = new Runner();
    assert.equal(r.pid, null); // started lazily
    const env = await r.run({ file: G, args: ['a'], taskName: 'echo', kwargs: { k: [1, 'ü'] } });
    assert.deepEqual(env.result.args, ['a']);
    assert.deepEqual(env.result.kwargs, { k: [1, 'ü'] });
    assert.equal(env.stdout, 'hello from echo\n');
    assert.equal((await r.run({ file: G, taskName: 'fail' })).error.error_type, 'task_error');
    await assert.rejects(r.run({ file: G, taskName: 'fail', check: true }),
        (e) => e instanceof TaskError && e.taskMessage === 'ValueError: bad input');
    assert.equal((await r.run({ file: G, taskName: 'spin', compute: 100000 })).error.error_type,
        'out_of_fuel');
    assert.deepEqual((await r.run({ file: G, taskName: 'sleep', timeout: 300 })).error,
        { error_type: 'timeout', message: 'timeout after 300ms' });
    assert.equal((await r.run({ file: G, taskName: 'fail', maxRetries: 1 })).execution.retries, 1);
    const pid = r.pid;
    assert.ok(pid && alive(pid));
    await r.close();
    assert.ok(r.closed && !alive(pid));
    await assert.rejects(r.run({ file: G }), /closed/);
    await r.close(); // idempotent
});

test('constructor defaults, per-request overrides, mounts and cwd', async () => {
    const proj = join(dir, 'proj');
    mkdirSync(join(proj, 'data'), { recursive: true });
    writeFileSync(join(proj, 'data', 'in.txt'), 'via the worker');
    const r = new Runner({ cwd: proj, compute: 50000, envVariables: { GREETING: 'grüß dich' } });
    try {
        assert.equal((await r.run({ file: G, taskName: 'spin' })).error.error_type, 'out_of_fuel');
        const env = await r.run({ file: G, taskName: 'env', compute: 'LOW', envVariables: ['GREETING'] });
        assert.deepEqual(env.result, { GREETING: 'grüß dich' });
        await assert.rejects(r.run({ file: G, envVariables: { GREETING: 'x' } }), TypeError);
        const f = await r.run({ file: G, taskName: 'readfile', mounts: ['./data::/data'] });
        assert.deepEqual(f.result, { found: true, text: 'via the worker' });
        assert.ok(existsSync(join(proj, '.capsule')));
        await assert.rejects(r.run({ file: 'missing.wasm' }),
            (e) => e instanceof CapsuleError && /missing\.wasm/.test(e.message));
        await assert.rejects(r.run({ file: G, ram: 'lots' }), (e) => e instanceof CapsuleError && /ram/.test(e.message));
        assert.equal(r.restarts, 0);
    } finally {
        await r.close();
    }
});

test('unicode and large payloads', async () => {
    const args = ['héllo', '日本語', '🎉', '--json', '', 'a\nb', { nested: ['ü', null, 1.5] }];
    const big = 'ß'.repeat(2_000_000) + '🐍'; // 4 MB of UTF-8 on one JSON line
    const r = new Runner();
    try {
        assert.deepEqual((await r.run({ file: G, args, taskName: 'echo' })).result.args, args);
        assert.deepEqual(unwrap(await r.run({ file: G, args: [big], taskName: 'echo' })).args, [big]);
    } finally {
        await r.close();
    }
});

test('many concurrent tasks through one worker', async () => {
    const n = 400;
    const r = new Runner({ threads: 4 });
    try {
        const t0 = Date.now();
        const envs = await Promise.all(Array.from({ length: n },
            (_, i) => r.run({ file: G, args: [String(i)], taskName: 'echo' })));
        const secs = (Date.now() - t0) / 1000;
        assert.deepEqual(envs.map((e) => e.result.args), Array.from({ length: n }, (_, i) => [String(i)]));
        assert.equal(r.restarts, 0);
        console.log(`# ${n} tasks through one worker in ${secs.toFixed(2)}s (${Math.round(n / secs)} tasks/s)`);
    } finally {
        await r.close();
    }
});

test('a killed worker is restarted', async () => {
    const r = new Runner();
    try {
        assert.equal((await r.run({ file: G })).success, true);
        const first = r.pid;
        // Requests in flight when the worker dies reject with CapsuleError, promptly.
        const sleepers = [1, 2, 3].map(() => r.run({ file: G, taskName: 'sleep', timeout: '60s' }));
        await sleep(300);
        process.kill(first, 'SIGKILL');
        for (const s of sleepers) {
            await assert.rejects(s, (e) => e instanceof CapsuleError && /SIGKILL/.test(e.message));
        }
        const env = await r.run({ file: G, args: ['again'], taskName: 'echo' });
        assert.deepEqual(env.result.args, ['again']);
        assert.ok(r.pid !== first && r.restarts === 1 && !alive(first));
        // Killed while idle: the next request starts a new worker too.
        await r.kill();
        assert.equal(r.pid, null);
        assert.deepEqual((await r.run({ file: G, args: ['b'], taskName: 'echo' })).result.args, ['b']);
        assert.equal(r.restarts, 2);
    } finally {
        await r.close();
    }
});

test('close answers pending requests; a stuck worker is killed', async () => {
    const r = new Runner();
    const pending = Array.from({ length: 10 }, (_, i) => r.run({ file: G, args: [String(i)], taskName: 'echo' }));
    const pid = r.pid;
    await r.close();
    assert.deepEqual((await Promise.all(pending)).map((e) => e.result.args[0]),
        Array.from({ length: 10 }, (_, i) => String(i)));
    assert.ok(!alive(pid));
    const s = new Runner().start();
    const stuck = s.run({ file: G, taskName: 'sleep', timeout: '60s' });
    const spid = s.pid;
    const t0 = Date.now();
    await s.close({ timeout: 500 });
    assert.ok(Date.now() - t0 < 10000 && !alive(spid));
    await assert.rejects(stuck, CapsuleError);
});

test('an AbortSignal stops waiting', async () => {
    const r = new Runner();
    try {
        await assert.rejects(r.run({ file: G, taskName: 'sleep', timeout: '3s', signal: AbortSignal.timeout(200) }),
            (e) => e.name === 'TimeoutError' || e.name === 'AbortError');
        assert.equal((await r.run({ file: G })).success, true);
    } finally {
        await r.close();
    }
});

test('an idle worker does not keep node alive, and is gone when node exits', () => {
    // A script that never closes its Runner: it must still exit, and leave no worker behind.
    const script = `import { Runner } from ${JSON.stringify(join(SDK, 'index.js'))};
        const r = new Runner();
        const env = await r.run({ file: ${JSON.stringify(G)}, args: ['x'], taskName: 'echo' });
        console.log(r.pid, env.result.args[0]);`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script],
        { timeout: 20000, env: process.env }).toString().trim().split(' ');
    assert.equal(out[1], 'x');
    const pid = Number(out[0]);
    const deadline = Date.now() + 5000;
    while (alive(pid) && Date.now() < deadline) execFileSync('sleep', ['0.05']);
    assert.ok(!alive(pid));
});

test('a missing executable', () => {
    const saved = process.env.CAPSULE_BIN;
    process.env.CAPSULE_BIN = join(dir, 'nope');
    try {
        assert.throws(() => new Runner(), CapsuleNotFound);
    } finally {
        process.env.CAPSULE_BIN = saved;
    }
});
