// SPDX-License-Identifier: Apache-2.0
// capsule.d.ts: this file must type-check (tsc --strict), every option name and form.
import { task, TaskError, log, tasks, inSandbox, type TaskOptions } from "capsule";
const opts: TaskOptions = { name: "main", compute: "LOW", ram: "64MB", timeout: "10s", maxRetries: 1, allowedFiles: ["./data:ro"], allowedHosts: ["api.example.com"], envVariables: ["API_KEY"] };
export const sum = task({ name: "sum", compute: 1000000 }, (xs: number[]) => xs.reduce((a, b) => a + b, 0));
export const main = task(opts, async (n: string): Promise<{ total: number }> => {
  try {
    const total: number = await sum([1, 2, Number(n)]);
    log(`total ${total}`, "info");
    return { total };
  } catch (e) {
    if (e instanceof TaskError) throw new Error(`${e.errorType}: ${e.taskMessage}`);
    throw e;
  }
});
export const snake = task({ max_retries: 2, allowed_files: [], allowed_hosts: [], env_variables: [] }, () => inSandbox() && tasks.size > 0);
