// SPDX-License-Identifier: Apache-2.0
// Compiled (never run) by types.test.mjs with `tsc --noEmit --strict` when TypeScript is
// installed: the declarations in index.d.ts describe the API the way a user writes it.
import {
    run, unwrap, Runner, TaskError, CapsuleError, CapsuleNotFound, ERROR_TYPES,
    type Envelope, type ErrorType, type RunOptions,
} from '@capsule/sdk';

async function main(): Promise<void> {
    const opts: RunOptions = { file: 'task.wasm', args: ['5', 1, { k: true }], compute: 'LOW',
                               ram: '64MB', timeout: '10s', mounts: ['./data:ro'], cwd: '.',
                               envVariables: { API_KEY: 'x' }, maxRetries: 1, check: false };
    const env: Envelope<{ double: number }> = await run<{ double: number }>(opts);
    if (env.success) {
        const n: number = env.result.double;
        console.log(n, env.execution.fuel_consumed, env.stdout);
    } else {
        const t: ErrorType | string = env.error.error_type;
        const msg: string = env.error.message;
        console.log(t, msg, env.result);
    }
    const r: { double: number } = unwrap(env);
    const runner = new Runner({ threads: 2, compute: 'LOW', envVariables: ['HOME'] });
    const envs = await Promise.all([1, 2].map((i) => runner.run<string>({
        file: 'task.wasm', args: [i], kwargs: { a: 1 }, taskName: 'main', timeout: 500 })));
    const pid: number | null = runner.pid;
    await runner.close({ timeout: 1000 });
    try {
        await run('task.wasm');
    } catch (e) {
        if (e instanceof TaskError) console.log(e.errorType, e.taskMessage, e.error.message);
        if (e instanceof CapsuleNotFound) console.log('no capsule');
        if (e instanceof CapsuleError) console.log(e.exitCode, e.stderr);
    }
    console.log(r, envs.length, pid, ERROR_TYPES[0], runner.restarts);
}
void main;
