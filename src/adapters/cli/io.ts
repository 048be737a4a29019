import type * as E from 'fp-ts/lib/Either.js';
import type { RetentionPolicy } from '../../application/history-maintenance.js';
import type { FinishedHistories, OperatorStore, SchemaMigrator } from '../../application/operator/ports.js';
import type { ScheduleStore } from '../../application/schedules/ports.js';

/** The process edge as the commands see it; tests substitute strings for streams and files. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly readStdin: () => Promise<string>;
  readonly readFile: (path: string) => Promise<string>;
  /** Milliseconds, for throttling progress lines. */
  readonly monotonicNow: () => number;
  /** Resolves once stdout has taken what was written, so a long stream's memory stays bounded. */
  readonly stdoutDrained?: () => Promise<void>;
}

/** What a command that talks to the database gets: the ports, and the settings it reads. */
export interface Session {
  readonly store: OperatorStore;
  readonly schedules: ScheduleStore;
  /**
   * One schedule pass, as the workers run it: after `schedules add` and `resume`, so the first
   * look-ahead's tasks exist at once instead of after the workers' next check (SCHEDULES_INTERVAL).
   */
  readonly schedulePass: () => Promise<void>;
  readonly migrator: SchemaMigrator;
  /** WORKER_STUCK_TIMEOUT, for `stats`. */
  readonly stuckTimeoutMs: number;
  readonly histories: FinishedHistories;
  /** TASK_RETENTION and TASK_RETENTION_FAILED, for `stats`. */
  readonly retention: RetentionPolicy;
  /** host:port/database, without credentials, for messages. */
  readonly target: string;
}

/** A session could not be opened: one line for stderr and the exit code (2 for bad configuration). */
export interface SessionFailure {
  readonly exitCode: number;
  readonly message: string;
}

export interface OpenedSession {
  readonly session: Session;
  readonly close: () => Promise<void>;
}

/** Opens the database session lazily: only commands that need it call this, after their arguments decoded. */
export type OpenSession = () => Promise<E.Either<SessionFailure, OpenedSession>>;

/** Exit codes: the contract scripts rely on. */
export const EXIT = { ok: 0, no: 1, usage: 2 } as const;

/** Every line we write to stderr is exactly one line, whatever text an error carries. */
export const oneLine = (text: string): string => text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
