import type {
  CircuitState,
  ClaimToken,
  ExecutionOutcome,
  PostponeReason,
  TaskEvent,
  TaskId,
  TaskState,
  WorkerId,
} from '../domain/index.js';

/** A task this worker holds: the row as it was claimed. */
export interface ClaimedTask {
  readonly id: TaskId;
  readonly taskType: string;
  readonly payload: unknown;
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly executeAt: Date;
  readonly owner: WorkerId;
  readonly claimToken: ClaimToken;
  readonly claimedAt: Date;
  /**
   * The task's identifier unique across databases and id resets (task_uuid); null for a task
   * scheduled before the column existed, which keeps delivering under its id (see deliveryId).
   */
  readonly taskUuid: string | null;
  /** The producer's W3C traceparent as stored, unchecked; read only while tracing is on. */
  readonly traceparent?: string | null;
  /** The claim's span as a traceparent, while tracing is on: the attempt's span links to it. */
  readonly claimTrace?: string;
}

/**
 * What a receiver de-duplicates on (webhook-id, message_id, Message-ID): the task's uuid, or for a
 * task scheduled before task_uuid existed its id, as before, so its retries keep the id they began with.
 */
export const deliveryId = (task: Pick<ClaimedTask, 'id' | 'taskUuid'>): string => task.taskUuid ?? task.id;

/** A task in processing whose owner has stopped heart-beating. */
export interface StuckTask {
  readonly id: TaskId;
  readonly taskType: string;
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly executeAt: Date;
  readonly owner: WorkerId;
  readonly claimToken: ClaimToken;
  readonly heartbeatAt: Date;
}

export interface ClaimRef {
  readonly id: TaskId;
  readonly claimToken: ClaimToken;
}

/**
 * The end of an attempt: the events that explain it and the state they lead to. Written only while
 * the claim is still held (status = processing and the same claim token); with `onlyIfSilentForMs`,
 * also only while the heartbeat is at least that old by the database's clock (the cleaner must not
 * take a task back from an owner that has just proven it is alive).
 */
export interface AttemptEnd {
  readonly claim: ClaimRef;
  readonly events: readonly TaskEvent[];
  readonly next: TaskState;
  readonly errorMessage: string | null;
  readonly onlyIfSilentForMs?: number;
}

/** `fenced`: the claim was no longer ours (recovered, or already ended); nothing was written. */
export type AttemptEndResult = 'applied' | 'fenced';

/**
 * What the worker needs from the task store. Shaped by the use cases, not as CRUD. Every method
 * writes state and its events in one transaction.
 */
export interface TaskQueue {
  /** Claims up to `limit` due pending tasks (due by the database's clock), oldest first. */
  claimDueTasks(workerId: WorkerId, limit: number): Promise<readonly ClaimedTask[]>;
  /** Ends an attempt, fenced to its claim. Implementations may coalesce concurrent calls. */
  endAttempt(end: AttemptEnd): Promise<AttemptEndResult>;
  /** Proves the claims are alive. Returns how many were still held. */
  refreshHeartbeats(workerId: WorkerId, claims: readonly ClaimRef[]): Promise<number>;
  /**
   * Tasks in processing whose heartbeat is more than `silentForMs` old, up to `limit`. Heartbeats
   * are stamped by the database's clock, so their age is measured by it too: a cleaner whose own
   * clock runs ahead must not find live tasks stuck.
   */
  findStuckTasks(silentForMs: number, limit: number): Promise<readonly StuckTask[]>;
  /** The earliest execute_at of a pending task, if any is due before `horizon`. */
  nextDueAt(horizon: Date): Promise<Date | null>;
  /**
   * Stops waiting out an unreachable store: attempt ends still being retried fail now. Called when
   * shutdown's deadline has passed; their tasks stay claimed until a cleaner recovers them.
   */
  giveUpRetries?(): void;
}

/** Runs one kind of task. Never throws for a task's own failure: that is an outcome. */
export interface TaskExecutor {
  /** `trace`, while tracing is on: the context to send along, so the receiver's trace continues it. */
  execute(task: ClaimedTask, signal: AbortSignal, trace?: TraceHeaders): Promise<ExecutionOutcome>;
}

/** task_type → executor. Adding a type is one adapter and one entry here. */
export type ExecutorsByType = ReadonlyMap<string, TaskExecutor>;

export interface Clock {
  now(): Date;
}

/** A number in [0, 1) for retry jitter; injected so tests can pin it. */
export interface Jitter {
  next(): number;
}

export type LogFields = Readonly<Record<string, unknown>>;
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/**
 * Something that says "there may be work now" sooner than the next poll (LISTEN/NOTIFY, a timer for
 * the earliest known execute_at). Optional: polling alone is always correct.
 */
export interface WakeUpSource {
  onWakeUp(listener: () => void): void;
  /**
   * Called by the loop when a claim came back short (nothing more is due for now) just before it
   * sleeps, so a source can find out when the next task comes due (DueTimer's look-ahead).
   */
  idle?(): void;
}

/** Counters the use cases report to, for metrics; a no-op is fine. */
export interface WorkerMetrics {
  claimed(taskType: string, scheduleLagMs: number): void;
  attemptEnded(taskType: string, outcome: 'completed' | 'retried' | 'failed' | 'released', durationMs: number): void;
  recovered(taskType: string, outcome: 'requeued' | 'failed'): void;
  inFlight(count: number): void;
  /** A claimed task given back unrun for `waitMs` (no attempt used). */
  postponed(taskType: string, reason: PostponeReason, waitMs: number): void;
  /** The circuits this worker knows are not plainly closed (open, half-open, or counting failures). */
  circuits(known: ReadonlyMap<string, CircuitState>): void;
}

export const noMetrics: WorkerMetrics = {
  claimed: () => undefined,
  attemptEnded: () => undefined,
  recovered: () => undefined,
  inFlight: () => undefined,
  postponed: () => undefined,
  circuits: () => undefined,
};

/** Several WorkerMetrics as one: each hook calls every one of them, in order. */
export const allMetrics = (...all: readonly WorkerMetrics[]): WorkerMetrics => ({
  claimed: (...args) => all.forEach((metrics) => metrics.claimed(...args)),
  attemptEnded: (...args) => all.forEach((metrics) => metrics.attemptEnded(...args)),
  recovered: (...args) => all.forEach((metrics) => metrics.recovered(...args)),
  inFlight: (...args) => all.forEach((metrics) => metrics.inFlight(...args)),
  postponed: (...args) => all.forEach((metrics) => metrics.postponed(...args)),
  circuits: (...args) => all.forEach((metrics) => metrics.circuits(...args)),
});

/**
 * W3C trace context to send with a task's delivery: `traceparent` and, when there is one,
 * `tracestate`. The executors copy it into HTTP headers, AMQP message headers and email headers.
 */
export type TraceHeaders = Readonly<Record<string, string>>;

export type SpanAttributes = Readonly<Record<string, string | number | boolean>>;

/** How a span ended: `error` marks it failed, with the message as its status. */
export interface SpanEnd {
  readonly error?: string;
  readonly attributes?: SpanAttributes;
}

export interface TraceSpan {
  /** This span as a W3C traceparent, for children started elsewhere (another task of a claim). */
  readonly traceparent: string;
  /** The headers that make a receiver's trace continue from this span. */
  headers(): TraceHeaders;
  end(end?: SpanEnd): void;
}

export interface SpanStart {
  /** A W3C traceparent the span continues; none (or one the tracer cannot read) starts a new trace. */
  readonly parent?: string;
  /** Spans this one is related to without being their child (an attempt links to its claim). */
  readonly links?: readonly string[];
  /** `client` for a call to another system (the executor's delivery), `internal` otherwise. */
  readonly kind?: 'internal' | 'client';
  readonly attributes?: SpanAttributes;
}

/**
 * Where spans go (OpenTelemetry when OTEL_TRACES_EXPORTER=otlp). The use cases ask `enabled` before
 * doing any work for tracing, so that with tracing off a task costs nothing more than a field read.
 */
export interface Tracer {
  readonly enabled: boolean;
  startSpan(name: string, start?: SpanStart): TraceSpan;
}

const noSpan: TraceSpan = { traceparent: '', headers: () => ({}), end: () => undefined };

export const noTracer: Tracer = { enabled: false, startSpan: () => noSpan };
