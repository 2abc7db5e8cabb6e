// SPDX-License-Identifier: Apache-2.0
// Types of Capsule's JavaScript guest package, `import { task } from "capsule"` (capsule.js).
// For editors: point TypeScript at this file, e.g. in tsconfig.json
//   "compilerOptions": { "paths": { "capsule": ["<capsule>/guest/js/capsule.d.ts"] } }
// (the bundler does not need it: TypeScript is stripped, not type-checked).
declare module "capsule" {
    /** A compute level, or a number of fuel units (one per executed Wasm instruction). */
    export type Compute = "LOW" | "MEDIUM" | "HIGH" | "low" | "medium" | "high" | number | `${number}`;

    /** Options of a task; every one optional (capsule.toml and the host's defaults fill in). */
    export interface TaskOptions {
        /** The task's name (default: the name it is exported under; `default` becomes "main"). */
        name?: string;
        /** LOW 100,000,000; MEDIUM 2,000,000,000 (the default); HIGH 50,000,000,000 fuel. */
        compute?: Compute;
        /** Memory cap, e.g. "64MB", "512KB", "2GB", or bytes. */
        ram?: string | number;
        /** Deadline per attempt, e.g. "500ms", "30s", "5m", "1h", or milliseconds. */
        timeout?: string | number;
        /** Re-run a failed attempt up to this many times (0-100). */
        maxRetries?: number;
        max_retries?: number;
        /** Directories the task may use: "./data" or "./data:ro", "./out:rw", "./src::/app". */
        allowedFiles?: string[];
        allowed_files?: string[];
        /** Hosts fetch() may reach: "api.example.com", "*.example.com", "example.com". */
        allowedHosts?: string[];
        allowed_hosts?: string[];
        /** Environment variables visible in process.env. */
        envVariables?: string[];
        env_variables?: string[];
    }

    /** A task: calling it returns a Promise of its result. Called from a running task inside
     * Capsule, it runs in a fresh sandbox with its own limits (bounded by the caller's grants),
     * and rejects with a TaskError if it fails or is refused. Arguments and results are JSON. */
    export type Task<A extends unknown[], R> = ((...args: A) => Promise<Awaited<R>>) & {
        readonly taskName: string | null;
        readonly policy: Record<string, unknown>;
        readonly fn: (...args: A) => R;
        /** Runs the function in this sandbox (no sub-task). */
        local(...args: A): Promise<Awaited<R>>;
    };

    export function task<A extends unknown[], R>(options: TaskOptions, fn: (...args: A) => R): Task<A, R>;
    export function task<A extends unknown[], R>(name: string, fn: (...args: A) => R): Task<A, R>;
    export function task<A extends unknown[], R>(fn: (...args: A) => R): Task<A, R>;

    /** A sub-task failed: errorType is the envelope's error type ("task_error", "out_of_fuel",
     * "timeout", "memory_limit", "denied", ...). */
    export class TaskError extends Error {
        readonly errorType: string;
        readonly error_type: string;
        readonly taskMessage: string;
        /** The sub-task's whole result envelope. */
        readonly envelope: Record<string, unknown>;
        /** The envelope's error object (exception, traceback, ...). */
        readonly error: Record<string, unknown>;
    }

    /** An invalid task option (the task fails with error_type "invalid_config"). */
    export class ConfigError extends Error {
        readonly error_type: "invalid_config";
    }

    /** Writes one line to the journal of this run (`capsule logs ID`). */
    export function log(message: unknown, level?: "debug" | "info" | "warn" | "error"): void;

    /** True inside Capsule's JavaScript guest. */
    export function inSandbox(): boolean;

    /** Every task defined so far, by name. */
    export const tasks: Map<string, Task<unknown[], unknown>>;
}
