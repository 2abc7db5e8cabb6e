// SPDX-License-Identifier: Apache-2.0
// The SDK on the JavaScript and Python guests (tests/sdk/apps), when those guests are built:
// JavaScript through build/js/qjs-capsule.wasm with the app at /app (codeMounts); Python once
// `capsule run main.py` works (probed). Each is skipped, saying why, otherwise.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';

import { Runner, run, unwrap } from '../index.js';
import { ROOT, capsuleBin, project } from './helpers.mjs';

const APPS = join(ROOT, 'tests', 'sdk', 'apps');
const QJS = join(process.env.CAP_JS_DIR || join(ROOT, 'build', 'js'), 'qjs-capsule.wasm');

function copyApp(name) {
    const dir = join(mkdtempSync(join(tmpdir(), 'capsule-sdk-app-')), 'app');
    cpSync(join(APPS, name), dir, { recursive: true });
    return dir;
}

before(() => {
    capsuleBin();
    project();
});

const noJs = !existsSync(QJS) && `the JavaScript guest is not built (${QJS}: scripts/build-quickjs.sh)`;

test('JavaScript guest: results, errors, limits, sub-tasks', { skip: noJs }, async () => {
    const codeMounts = [`${copyApp('js')}::/app`];
    const env = await run({ file: QJS, args: ['héllo', '🎉', '--json'], codeMounts });
    assert.equal(env.success, true, JSON.stringify(env));
    assert.deepEqual(env.result, { hello: ['héllo', '🎉', '--json'] });
    const boom = await run({ file: QJS, args: ['x'], taskName: 'boom', codeMounts });
    assert.equal(boom.error.error_type, 'task_error');
    assert.equal(boom.error.message, 'TypeError: bad input: x');
    const fuel = await run({ file: QJS, taskName: 'spin', compute: 20000000, codeMounts });
    assert.equal(fuel.error.error_type, 'out_of_fuel');
    const slow = await run({ file: QJS, taskName: 'spin', timeout: 300, codeMounts });
    assert.equal(slow.error.error_type, 'timeout');
    assert.deepEqual(unwrap(await run({ file: QJS, args: ['21'], taskName: 'sub', codeMounts })), { double: 42 });
    const big = 'ü'.repeat(200000);
    assert.deepEqual(unwrap(await run({ file: QJS, args: [big], codeMounts })), { hello: [big] });
});

test('JavaScript guest through a Runner', { skip: noJs }, async () => {
    const codeMounts = [`${copyApp('js')}::/app`];
    const r = new Runner();
    try {
        const envs = await Promise.all(Array.from({ length: 16 },
            (_, i) => r.run({ file: QJS, args: [String(i)], codeMounts })));
        assert.deepEqual(envs.map((e) => e.result), Array.from({ length: 16 }, (_, i) => ({ hello: [String(i)] })));
        assert.deepEqual(unwrap(await r.run({ file: QJS, args: ['21'], taskName: 'sub', codeMounts })), { double: 42 });
    } finally {
        await r.close();
    }
});

const pyApp = copyApp('python');
const probe = spawnSync(process.env.CAPSULE_BIN || 'capsule',
    ['run', '--json', '--no-journal', 'main.py', 'probe'], { cwd: pyApp, encoding: 'utf8' });
const noPy = probe.status === 2 && `the Python guest does not run yet: ${probe.stderr.trim()}`;

test('Python guest: results, errors, limits, sub-tasks', { skip: noPy }, async () => {
    const env = await run({ file: 'main.py', args: ['héllo', '🎉'], cwd: pyApp });
    assert.equal(env.success, true, JSON.stringify(env));
    assert.deepEqual(env.result, { hello: ['héllo', '🎉'] });
    const boom = await run({ file: 'main.py', args: ['x'], taskName: 'boom', cwd: pyApp });
    assert.equal(boom.error.error_type, 'task_error');
    assert.match(boom.error.message, /ValueError: bad input: x/);
    const fuel = await run({ file: 'main.py', taskName: 'spin', compute: 50000000, cwd: pyApp });
    assert.equal(fuel.error.error_type, 'out_of_fuel');
    assert.deepEqual(unwrap(await run({ file: 'main.py', args: ['21'], taskName: 'sub', cwd: pyApp })), { double: 42 });
});
