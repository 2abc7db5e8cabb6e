// SPDX-License-Identifier: Apache-2.0
// capsule.d.ts: tsc must reject each of these (a misspelled option, a bad compute level, a
// result of the wrong type).
import { task } from "capsule";
export const a = task({ name: "a", maxRetry: 1 }, () => 1);
export const b = task({ name: "b", compute: "ULTRA" }, () => 1);
export const c = task({ name: "c" }, (x: number) => x);
const r: Promise<string> = c(1);
