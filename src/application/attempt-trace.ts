import * as E from 'fp-ts/lib/Either.js';
import type { ExecutionOutcome } from '../domain/index.js';
import { checkTraceparent } from '../shared/traceparent.js';
import type { AttemptEndResult, ClaimedTask, Logger, TraceHeaders, Tracer, TraceSpan } from './ports.js';

/** How an attempt ended, as its spans say it (the `at_worker.outcome` attribute). */
export type AttemptOutcome = 'completed' | 'retried' | 'failed' | 'released' | 'fenced';

/**
 * The spans of one attempt, while tracing is on:
 *
 *   at-worker attempt                 child of the producer's traceparent, else of the claim's span
 *   ├── at-worker execute <type>      the executor's call (kind client); its context is what the
 *   │                                 delivery carries (HTTP / AMQP / email headers)
 *   └── at-worker end attempt         recording the outcome, fenced to the claim
 *
 * An attempt whose producer gave a traceparent still links to the claim that took it.
 */
export interface AttemptTrace {
  /** Starts the executor's span; returns the headers the delivery carries and the function that ends it. */
  executing(): { readonly headers: TraceHeaders; readonly executed: (outcome: ExecutionOutcome) => void };
  /** Starts the span of recording the outcome; the function it returns ends it and the attempt. */
  recording(): (outcome: AttemptOutcome | { readonly error: string }) => void;
}

export const startAttemptTrace = (tracer: Tracer, logger: Logger, task: ClaimedTask): AttemptTrace => {
  const producer = producerParent(task, logger);
  const claim = task.claimTrace === undefined || task.claimTrace === '' ? [] : [task.claimTrace];
  const taskAttributes = { 'at_worker.task.id': task.id, 'at_worker.task.type': task.taskType, 'at_worker.attempt': task.attempts + 1 };
  const attempt = tracer.startSpan('at-worker attempt', {
    ...(producer === undefined ? (claim.length > 0 ? { parent: claim[0] } : {}) : { parent: producer, links: claim }),
    attributes: taskAttributes,
  });
  let failure: string | undefined;
  return {
    executing: () => {
      const call = tracer.startSpan(`at-worker execute ${task.taskType}`, {
        parent: attempt.traceparent,
        kind: 'client',
        attributes: taskAttributes,
      });
      return { headers: call.headers(), executed: (outcome) => endExecution(call, outcome, (error) => (failure = error)) };
    },
    recording: () => {
      const record = tracer.startSpan('at-worker end attempt', { parent: attempt.traceparent, attributes: taskAttributes });
      return (outcome) => {
        if (typeof outcome === 'object') {
          record.end({ error: outcome.error });
          attempt.end({ error: outcome.error });
          return;
        }
        record.end({ attributes: { 'at_worker.outcome': outcome } });
        const failed = outcome === 'retried' || outcome === 'failed';
        attempt.end({ attributes: { 'at_worker.outcome': outcome }, ...(failed && failure !== undefined ? { error: failure } : {}) });
      };
    },
  };
};

/** The outcome of `end` for the spans: what the recorded status means, or that the claim was lost. */
export const attemptOutcome = (result: AttemptEndResult, released: boolean, succeeded: boolean, nextStatus: string): AttemptOutcome => {
  if (result === 'fenced') return 'fenced';
  if (released) return 'released';
  if (succeeded) return 'completed';
  return nextStatus === 'pending' ? 'retried' : 'failed';
};

const endExecution = (span: TraceSpan, outcome: ExecutionOutcome, onFailure: (error: string) => void): void => {
  if (outcome._tag === 'Succeeded') {
    span.end({ attributes: { 'at_worker.execution': 'succeeded' } });
    return;
  }
  onFailure(outcome.error);
  span.end({ error: outcome.error, attributes: { 'at_worker.execution': 'failed', 'at_worker.retryable': outcome.retryable } });
};

/** The producer's traceparent when it is valid; a malformed one is ignored with a warning, never failing the task. */
const producerParent = (task: ClaimedTask, logger: Logger): string | undefined => {
  if (task.traceparent === undefined || task.traceparent === null) return undefined;
  const checked = checkTraceparent(task.traceparent);
  if (E.isRight(checked)) return checked.right;
  logger.warn(`[Executor] Task ${task.id}: traceparent ignored, ${checked.left}`, { taskId: task.id });
  return undefined;
};
