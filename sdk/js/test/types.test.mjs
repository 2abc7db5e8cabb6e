// SPDX-License-Identifier: Apache-2.0
// index.d.ts against a typical use (types-check.ts) with `tsc --strict`, when TypeScript is
// installed in sdk/js/node_modules (npm install --no-save typescript @types/node); the package
// itself has no dependencies, so this is skipped otherwise, saying so.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import * as sdk from '../index.js';
import { SDK } from './helpers.mjs';

const tsc = join(SDK, 'node_modules', '.bin', 'tsc');

test('index.d.ts compiles a typical use with tsc --strict',
    { skip: !existsSync(tsc) && 'TypeScript is not installed in sdk/js/node_modules' }, () => {
        const p = spawnSync(tsc, ['--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution',
            'nodenext', '--target', 'es2022', '--lib', 'es2022,esnext.disposable,dom', '--types', 'node',
            join(SDK, 'test', 'types-check.ts')], { encoding: 'utf8' });
        assert.equal(p.status, 0, p.stdout + p.stderr);
    });

test('every runtime export is declared in index.d.ts', () => {
    const dts = readFileSync(join(SDK, 'index.d.ts'), 'utf8');
    for (const name of Object.keys(sdk)) {
        assert.match(dts, new RegExp(`export declare (const|function|class) ${name}\\b`), name);
    }
});
