// SPDX-License-Identifier: Apache-2.0
// run(): one `capsule run --json` process per task, on the real binary and a real C guest.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';

import { ARGS_FILE_THRESHOLD, CapsuleError, CapsuleNotFound, ERROR_TYPES, TaskError, findCapsule,
    run, unwrap } from '../index.js';
import { capsuleBin, guest, project } from './helpers.mjs';

let G;
let dir;
before(() => {
    capsuleBin();
    G = guest();
    dir = project();
});

test('success: the envelope', async () => {
    const env = await run({ file: G, args: ['a', 'two words'], taskName: 'echo' });
    assert.equal(env.success, true);
    assert.equal(env.error, null);
    assert.deepEqual(env.result.args, ['a', 'two words']);
    assert.equal(env.stdout, 'hello from echo\n');
    const ex = env.execution;
    assert.equal(ex.task_name, 'echo');
    assert.equal(ex.retries, 0);
    assert.ok(ex.fuel_consumed > 0 && ex.ram_used > 0 && ex.duration_ms >= 0);
    assert.equal(typeof env.task_id, 'number');
    assert.ok(existsSync(join(dir, '.capsule', 'journal.db')));
    assert.equal(unwrap(await run(G)).task_name, 'main'); // a bare file name works too
});

test('a task error', async () => {
    const env = await run({ file: G, taskName: 'fail' });
    assert.equal(env.success, false);
    assert.equal(env.result, null);
    assert.deepEqual(env.error, { error_type: 'task_error', message: 'ValueError: bad input',
        exception: 'ValueError' });
    assert.equal(env.stderr, 'about to fail\n');
    assert.throws(() => unwrap(env), (e) => e instanceof TaskError && e.errorType === 'task_error'
        && e.taskMessage === 'ValueError: bad input' && e.error.exception === 'ValueError');
    await assert.rejects(run({ file: G, taskName: 'fail', check: true }), TaskError);
    const exit = await run({ file: G, taskName: 'exit3' });
    assert.equal(exit.error.error_type, 'exit');
    assert.equal(exit.execution.exit_code, 3);
});

test('limits: fuel and timeout', async () => {
    const fuel = await run({ file: G, taskName: 'spin', compute: 200000 });
    assert.deepEqual(fuel.error, { error_type: 'out_of_fuel', message: 'out of fuel after 200000 units' });
    const t0 = Date.now();
    const slow = await run({ file: G, taskName: 'spin', compute: 'HIGH', timeout: 300 });
    assert.deepEqual(slow.error, { error_type: 'timeout', message: 'timeout after 300ms' });
    assert.ok(Date.now() - t0 < 10000);
    const sleepy = await run({ file: G, taskName: 'sleep', timeout: '250ms' });
    assert.equal(sleepy.error.error_type, 'timeout');
    const retried = await run({ file: G, taskName: 'fail', maxRetries: 2 });
    assert.equal(retried.execution.retries, 2);
    assert.ok(ERROR_TYPES.includes(fuel.error.error_type));
});

const UNICODE = ['héllo', '日本語', 'emoji 🎉🐍', 'עברית', 'e\u0301', '', ' spaced ', 'line\nbreak',
    '--json', '-', '--', 'quote " and \\ backslash', 'tab\there'];

test('unicode args on the command line', async () => {
    const env = await run({ file: G, args: UNICODE, taskName: 'echo' });
    assert.deepEqual(env.result.args, UNICODE);
});

test('JSON args and large payloads go through --args-file', async (t) => {
    // A private TMPDIR: other tests running at the same time (ctest -j) make their own
    // capsule-args-* directories in the shared one, which this check would count as leaked.
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = mkdtempSync(join(tmpdir(), 'sdk-args-test-'));
    t.after(() => {
        rmSync(process.env.TMPDIR, { recursive: true, force: true });
        if (saved === undefined) delete process.env.TMPDIR;
        else process.env.TMPDIR = saved;
    });
    const before = readdirSync(tmpdir()).filter((d) => d.startsWith('capsule-args-'));
    const json = [1, 2.5, null, true, { k: ['v', { ü: 1 }] }, 's'];
    assert.deepEqual((await run({ file: G, args: json, taskName: 'echo' })).result.args, json);
    const big = 'ü'.repeat(1_500_000) + '🎉'; // 3 MB of UTF-8
    assert.ok(Buffer.byteLength(big) > ARGS_FILE_THRESHOLD);
    const env = await run({ file: G, args: [big, 'tail'], taskName: 'echo' });
    assert.equal(env.success, true);
    assert.deepEqual(env.result.args, [big, 'tail']);
    const many = Array.from({ length: 20000 }, (_, i) => `arg ${i}`);
    assert.deepEqual((await run({ file: G, args: many, taskName: 'echo' })).result.args, many);
    const after = readdirSync(tmpdir()).filter((d) => d.startsWith('capsule-args-'));
    assert.deepEqual(after.filter((d) => !before.includes(d)), []); // temporary files removed
});

test('stdin, mounts, cwd and env variables', async () => {
    assert.equal((await run({ file: G, taskName: 'cat', stdin: 'über\n' })).stdout, 'über\n');
    assert.equal((await run({ file: G, taskName: 'cat', stdin: Buffer.from('b') })).stdout, 'b');
    assert.equal((await run({ file: G, taskName: 'cat' })).stdout, '');
    const proj = join(dir, 'proj');
    mkdirSync(join(proj, 'data'), { recursive: true });
    writeFileSync(join(proj, 'data', 'in.txt'), 'from the host');
    const env = await run({ file: G, taskName: 'readfile', cwd: proj, mounts: ['./data::/data:ro'] });
    assert.deepEqual(env.result, { found: true, text: 'from the host' });
    assert.deepEqual((await run({ file: G, taskName: 'readfile', cwd: proj })).result, { found: false });
    assert.ok(existsSync(join(proj, '.capsule')));
    const e1 = await run({ file: G, taskName: 'env', envVariables: { GREETING: 'hallo' } });
    assert.deepEqual(e1.result, { GREETING: 'hallo' });
    process.env.GREETING = 'from the environment';
    const e2 = await run({ file: G, taskName: 'env', env_variables: ['GREETING'] });
    assert.deepEqual(e2.result, { GREETING: 'from the environment' });
    delete process.env.GREETING;
    assert.deepEqual((await run({ file: G, taskName: 'env' })).result, { GREETING: null });
});

test('usage errors reject with CapsuleError', async () => {
    await assert.rejects(run({ file: G, ram: 'lots' }),
        (e) => e instanceof CapsuleError && e.exitCode === 2 && /ram/.test(e.message)
            && /lots/.test(e.message));
    await assert.rejects(run({ file: 'missing.wasm' }),
        (e) => e instanceof CapsuleError && e.exitCode === 2 && /missing\.wasm/.test(e.message));
    await assert.rejects(run({ file: G, args: 'not an array' }), TypeError);
    await assert.rejects(run({ file: G, timeout: -1 }), TypeError);
});

test('the executable: CAPSULE_BIN, PATH, capsuleBin and a clear error', async () => {
    const saved = { bin: process.env.CAPSULE_BIN, path: process.env.PATH };
    try {
        process.env.CAPSULE_BIN = join(dir, 'no-such-capsule');
        await assert.rejects(run(G), (e) => e instanceof CapsuleNotFound && /CAPSULE_BIN/.test(e.message));
        delete process.env.CAPSULE_BIN;
        process.env.PATH = dir;
        await assert.rejects(run(G), (e) => e instanceof CapsuleNotFound
            && /PATH/.test(e.message) && /CAPSULE_BIN/.test(e.message) && e instanceof CapsuleError);
        assert.equal((await run({ file: G, capsuleBin: saved.bin })).success, true);
        assert.equal(findCapsule(saved.bin), saved.bin);
    } finally {
        process.env.CAPSULE_BIN = saved.bin;
        process.env.PATH = saved.path;
    }
});

test('concurrent runs', async () => {
    const envs = await Promise.all(Array.from({ length: 16 },
        (_, i) => run({ file: G, args: [String(i)], taskName: 'echo' })));
    assert.deepEqual(envs.map((e) => e.result.args), Array.from({ length: 16 }, (_, i) => [String(i)]));
});

test('an AbortSignal kills the process', async () => {
    const t0 = Date.now();
    await assert.rejects(run({ file: G, taskName: 'sleep', timeout: '60s',
        signal: AbortSignal.timeout(400) }), (e) => e.name === 'AbortError' || e.name === 'TimeoutError');
    assert.ok(Date.now() - t0 < 10000);
});
