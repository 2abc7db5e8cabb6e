// SPDX-License-Identifier: Apache-2.0
// A JavaScript task module for the SDK tests, run by the JavaScript guest (build/js/
// qjs-capsule.wasm) with this directory mounted at /app (`code_mounts`).
import { task } from 'capsule';

export const main = task({ name: 'main', compute: 'LOW' }, (...args) => ({ hello: args }));
export const boom = task({ name: 'boom' }, (x) => {
    throw new TypeError(`bad input: ${x}`);
});
export const spin = task({ name: 'spin' }, () => {
    for (;;) {
        // burn fuel
    }
});
export const double = task({ name: 'double', compute: 'LOW' }, (x) => x * 2);
export const sub = task({ name: 'sub' }, async (n) => ({ double: await double(Number(n)) }));
