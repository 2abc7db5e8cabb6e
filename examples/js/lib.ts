// SPDX-License-Identifier: Apache-2.0
// Helpers of examples/js/main.ts (a local import: esbuild bundles it with the entry file).

/** One request of an access log in the Common Log Format. */
export interface Hit {
  client: string;
  method: string;
  path: string;
  status: number;
  bytes: number;
}

const CLF = /^(\S+) \S+ \S+ \[([^\]]+)\] "(\S+) (\S+)[^"]*" (\d{3}) (\d+|-)$/;

/** Parses `127.0.0.1 - - [10/Mar/2024:13:55:36 +0000] "GET /a HTTP/1.1" 200 512`, or null. */
export function parseLine(line: string): Hit | null {
  const m = CLF.exec(line.trim());
  if (!m) return null;
  const [, client, , method, target, status, bytes] = m;
  return { client, method, path: target.split("?")[0], status: Number(status), bytes: bytes === "-" ? 0 : Number(bytes) };
}

export function chunk<T>(xs: T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

/** Adds the counts of `b` into `a`. */
export function addCounts(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  for (const [k, v] of Object.entries(b)) a[k] = (a[k] ?? 0) + v;
  return a;
}
