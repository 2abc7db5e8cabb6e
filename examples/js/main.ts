// SPDX-License-Identifier: Apache-2.0
// Access-log summary in TypeScript: `main` splits the log into batches and sends each batch to
// the `summarise` task, which runs in a fresh sandbox with its own limits (LOW compute, 32MB);
// the batches' counts are merged into one report. A batch whose sub-task fails is reported,
// not fatal.
//
//   build/release/capsule run examples/js/main.ts            (a built-in sample log)
//   build/release/capsule run examples/js/main.ts '1.2.3.4 - - [10/Mar/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 10'
import { task, TaskError, log } from "capsule";
import { addCounts, chunk, parseLine } from "./lib";

const SAMPLE = [
  '10.0.0.1 - - [10/Mar/2024:13:55:36 +0000] "GET /index.html HTTP/1.1" 200 2326',
  '10.0.0.2 - - [10/Mar/2024:13:55:40 +0000] "GET /api/items?page=2 HTTP/1.1" 200 512',
  '10.0.0.1 - - [10/Mar/2024:13:56:02 +0000] "POST /api/items HTTP/1.1" 201 64',
  '10.0.0.3 - - [10/Mar/2024:13:56:10 +0000] "GET /old-page HTTP/1.1" 301 -',
  'this line is not a log line',
  '10.0.0.4 - - [10/Mar/2024:13:57:00 +0000] "GET /api/items HTTP/1.1" 500 128',
  '10.0.0.2 - - [10/Mar/2024:13:57:30 +0000] "GET /missing HTTP/1.1" 404 153',
  '10.0.0.1 - - [10/Mar/2024:13:58:00 +0000] "GET /api/items?page=3 HTTP/1.1" 200 498',
  '10.0.0.5 - - [10/Mar/2024:13:58:45 +0000] "DELETE /api/items/7 HTTP/1.1" 403 0',
  '10.0.0.2 - - [10/Mar/2024:13:59:59 +0000] "GET /index.html HTTP/1.1" 304 -',
];

interface BatchSummary {
  requests: number;
  malformed: number;
  bytes: number;
  status: Record<string, number>;
  paths: Record<string, number>;
  clients: Record<string, number>;
}

const summarise = task({ name: "summarise", compute: "LOW", ram: "32MB", timeout: "5s" },
  (lines: string[]): BatchSummary => {
    const s: BatchSummary = { requests: 0, malformed: 0, bytes: 0, status: {}, paths: {}, clients: {} };
    for (const line of lines) {
      const hit = parseLine(line);
      if (!hit) {
        s.malformed++;
        continue;
      }
      s.requests++;
      s.bytes += hit.bytes;
      const cls = `${Math.floor(hit.status / 100)}xx`;
      s.status[cls] = (s.status[cls] ?? 0) + 1;
      s.paths[hit.path] = (s.paths[hit.path] ?? 0) + 1;
      s.clients[hit.client] = (s.clients[hit.client] ?? 0) + 1;
    }
    return s;
  });

export const main = task({ name: "main", compute: "MEDIUM", ram: "64MB", timeout: "30s" },
  async (...lines: string[]) => {
    const input = lines.length ? lines : SAMPLE;
    const batches = chunk(input, 4);
    // Each call is a sub-task in its own sandbox; failures come back as TaskError.
    const settled = await Promise.allSettled(batches.map((b) => summarise(b)));
    const total: BatchSummary = { requests: 0, malformed: 0, bytes: 0, status: {}, paths: {}, clients: {} };
    const failed: { batch: number; errorType: string }[] = [];
    settled.forEach((r, i) => {
      if (r.status === "rejected") {
        failed.push({ batch: i, errorType: r.reason instanceof TaskError ? r.reason.errorType : String(r.reason) });
        return;
      }
      total.requests += r.value.requests;
      total.malformed += r.value.malformed;
      total.bytes += r.value.bytes;
      addCounts(total.status, r.value.status);
      addCounts(total.paths, r.value.paths);
      addCounts(total.clients, r.value.clients);
    });
    const errors = (total.status["4xx"] ?? 0) + (total.status["5xx"] ?? 0);
    log(`summarised ${total.requests} requests in ${batches.length} batches`);
    return {
      batches: batches.length,
      failed,
      requests: total.requests,
      malformed: total.malformed,
      bytes: total.bytes,
      status: Object.fromEntries(Object.entries(total.status).sort()),
      errorRate: total.requests ? `${((100 * errors) / total.requests).toFixed(1)}%` : null,
      uniqueClients: Object.keys(total.clients).length,
      topPaths: Object.entries(total.paths)
        .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
        .slice(0, 3),
    };
  });
