// SPDX-License-Identifier: Apache-2.0
// Types of @capsule/sdk (written by hand; index.js is the implementation).

/** The stable error types (CAP_ERROR_TYPE_MAP in include/capsule.h, docs/guest-abi.md). */
export type ErrorType =
    | 'task_error'
    | 'out_of_fuel'
    | 'timeout'
    | 'memory_limit'
    | 'trap'
    | 'exit'
    | 'denied'
    | 'invalid_config'
    | 'invalid_module'
    | 'host_error';

export declare const ERROR_TYPES: readonly ErrorType[];

/** Arguments longer than this in total (or not all strings) go through --args-file. */
export declare const ARGS_FILE_THRESHOLD: number;

/** The envelope's error object. Guests may add fields (exception, traceback, ...). */
export interface ErrorInfo {
    error_type: ErrorType | (string & {});
    message: string;
    exception?: string;
    traceback?: string;
    [extra: string]: unknown;
}

/** How the task ran. */
export interface Execution {
    task_name: string;
    duration_ms: number;
    /** Retries actually made (the envelope keeps the last attempt's error). */
    retries: number;
    fuel_consumed: number;
    /** Peak bytes of the last attempt. */
    ram_used: number;
    /** Present when the guest exited through WASI. */
    exit_code?: number;
}

interface EnvelopeCommon {
    execution: Execution;
    stdout?: string;
    stderr?: string;
    stdout_truncated?: boolean;
    stderr_truncated?: boolean;
    /** The run's id in the project's journal (`capsule logs ID`). */
    task_id?: number;
}

export interface SuccessEnvelope<R = unknown> extends EnvelopeCommon {
    success: true;
    result: R;
    error: null;
}

export interface FailureEnvelope extends EnvelopeCommon {
    success: false;
    result: null;
    error: ErrorInfo;
}

/** The result envelope: what `capsule run --json` prints. Narrow it on `success`. */
export type Envelope<R = unknown> = SuccessEnvelope<R> | FailureEnvelope;

/** "LOW", "MEDIUM", "HIGH" (any case) or a number of fuel units. */
export type Compute = 'LOW' | 'MEDIUM' | 'HIGH' | (string & {}) | number | bigint;
/** "512KB", "64MB", "2GB" (1024-based) or a number of bytes. */
export type Size = string | number;
/** "500ms", "30s", "5m", "1h", or a number of **milliseconds**. */
export type Duration = string | number;

/** The task policy (names as in capsule.toml and @task; camelCase or snake_case). */
export interface PolicyOptions {
    /** "HOST::/GUEST" directories holding the code a guest runtime runs (a JavaScript bundle or
     * a Python project at /app), read-only for the task and its sub-tasks; not a policy grant. */
    codeMounts?: string | string[];
    code_mounts?: string | string[];
    compute?: Compute;
    ram?: Size;
    timeout?: Duration;
    maxRetries?: number;
    max_retries?: number;
    /** Directories to grant: "HOST[::GUEST][:ro|:rw]" (read-only unless ":rw"). */
    mounts?: string | string[];
    allowedHosts?: string | string[];
    allowed_hosts?: string | string[];
}

export interface RunOptions extends PolicyOptions {
    /** The task file (.wasm; .py/.js/.ts once their guests are installed), relative to cwd. */
    file: string;
    /** Positional arguments: strings go on the command line, anything else (or > 32 KiB)
     * through a temporary --args-file. */
    args?: unknown[];
    /** The task to run (default "main"). */
    taskName?: string;
    task_name?: string;
    /** Alias of mounts (the policy's own name). */
    allowedFiles?: string | string[];
    allowed_files?: string | string[];
    /** Names to grant (values from the environment or .env), or names mapped to values. */
    envVariables?: string[] | Record<string, string | null>;
    env_variables?: string[] | Record<string, string | null>;
    /** The project directory: capsule.toml, .env and .capsule/journal.db. */
    cwd?: string;
    /** The task's standard input (default: empty). */
    stdin?: string | Uint8Array;
    /** Cap on captured stdout and stderr each. */
    maxOutput?: Size;
    /** Record the run in .capsule/journal.db (default true). */
    journal?: boolean;
    /** Reject with TaskError when the task fails instead of resolving to the envelope. */
    check?: boolean;
    /** Kills the process when aborted (the promise rejects with an AbortError). */
    signal?: AbortSignal;
    /** The capsule executable (default: $CAPSULE_BIN, then PATH). */
    capsuleBin?: string;
}

/** Runs one task in a fresh `capsule run --json` process. */
export declare function run<R = unknown>(options: RunOptions | string): Promise<Envelope<R>>;

/** The result of a successful envelope; throws TaskError for a failed one. */
export declare function unwrap<R>(envelope: Envelope<R>): R;

/** The capsule executable: capsuleBin, else $CAPSULE_BIN, else `capsule` on PATH. */
export declare function findCapsule(capsuleBin?: string): string;

export interface RunnerOptions extends PolicyOptions {
    /** The worker's project directory (default: the current directory). */
    cwd?: string;
    capsuleBin?: string;
    /** Worker threads (default: the number of CPUs). */
    threads?: number;
    journal?: boolean;
    /** Default grants of the worker; values may be given here (not per request). */
    envVariables?: string[] | Record<string, string | null>;
    env_variables?: string[] | Record<string, string | null>;
    /** Extra environment variables of the worker process. */
    env?: Record<string, string>;
}

export interface RunnerRunOptions extends PolicyOptions {
    file: string;
    args?: unknown[];
    kwargs?: Record<string, unknown>;
    taskName?: string;
    task_name?: string;
    /** Names only (values come from the worker's environment, .env or RunnerOptions). */
    envVariables?: string[];
    env_variables?: string[];
    check?: boolean;
    /** Stops waiting when aborted (the task still finishes in the worker). */
    signal?: AbortSignal;
}

/** One long-lived `capsule worker` process serving many tasks concurrently. */
export declare class Runner {
    constructor(options?: RunnerOptions);
    /** The worker's project directory. */
    readonly cwd: string;
    /** How many times a worker was started again after the first one died. */
    readonly restarts: number;
    /** The current worker's pid, or null when none is running. */
    readonly pid: number | null;
    readonly closed: boolean;
    /** Starts the worker now rather than on the first request. */
    start(): this;
    run<R = unknown>(options: RunnerRunOptions): Promise<Envelope<R>>;
    /** Lets the worker answer what it holds, then stops it (killed after timeout ms). */
    close(options?: { timeout?: number }): Promise<void>;
    /** Kills the worker now; the next request starts a new one. */
    kill(): Promise<void>;
    [Symbol.asyncDispose](): Promise<void>;
}

/** Capsule could not run the task at all (exit status 2, a refused request, a dead worker). */
export declare class CapsuleError extends Error {
    constructor(message: string, details?: { exitCode?: number | null; signal?: string | null; stderr?: string });
    exitCode: number | null;
    signal: string | null;
    stderr: string;
}

/** No capsule executable was found. */
export declare class CapsuleNotFound extends CapsuleError {}

/** A task ran and failed. */
export declare class TaskError extends Error {
    constructor(errorType: string, message: string, envelope?: FailureEnvelope | object);
    errorType: ErrorType | (string & {});
    error_type: ErrorType | (string & {});
    /** The envelope's message (Error.message is "errorType: message"). */
    taskMessage: string;
    envelope: FailureEnvelope;
    readonly error: ErrorInfo;
    static fromEnvelope(envelope: Envelope): TaskError;
}
