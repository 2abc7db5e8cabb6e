// SPDX-License-Identifier: Apache-2.0
// The README's example runs and prints what the README says, also after `npm install`.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';

import { SDK, capsuleBin, guest } from './helpers.mjs';

const README = readFileSync(join(SDK, 'README.md'), 'utf8');
const block = (lang) => [...README.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))]
    .map((m) => m[1]);

let G;
before(() => {
    capsuleBin();
    G = guest();
});

function runExample(dir) {
    copyFileSync(G, join(dir, 'hello.wasm'));
    writeFileSync(join(dir, 'example.mjs'), block('js')[0]);
    return execFileSync(process.execPath, ['example.mjs'], { cwd: dir, timeout: 60000 }).toString();
}

test('the README example runs', () => {
    assert.ok(block('js')[0].trim().split('\n').length <= 12, 'the example should stay about 10 lines');
    const dir = mkdtempSync(join(tmpdir(), 'capsule-sdk-readme-'));
    mkdirSync(join(dir, 'node_modules', '@capsule'), { recursive: true });
    symlinkSync(SDK, join(dir, 'node_modules', '@capsule', 'sdk'));
    assert.equal(runExample(dir), block('text')[0]);
});

const npm = spawnSync('npm', ['--version']).status === 0;

test('npm install ./sdk/js offline, then the example', { skip: !npm && 'npm is not installed' }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'capsule-sdk-npm-'));
    writeFileSync(join(dir, 'package.json'), '{"name": "readme-example", "private": true, "type": "module"}');
    execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error',
        `${SDK}`], { cwd: dir, timeout: 120000, stdio: ['ignore', 'ignore', 'inherit'] });
    assert.equal(runExample(dir), block('text')[0]);
});
