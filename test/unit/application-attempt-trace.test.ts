import { claimBatch } from '../../src/application/claim-batch.js';
import { executeTask, shutdownCause } from '../../src/application/execute-task.js';
import { noMetrics, type SpanEnd, type SpanStart, type TaskExecutor, type TraceHeaders, type Tracer } from '../../src/application/ports.js';
import { retryableFailure, succeeded } from '../../src/domain/index.js';
import { InMemoryTaskQueue } from '../support/in-memory-queue.js';
import { RecordingLogger } from '../support/recording-logger.js';

interface RecordedSpan {
  readonly name: string;
  readonly start: SpanStart;
  readonly traceparent: string;
  end?: SpanEnd;
}

/** A Tracer that records what the use cases ask of it: each span's name, parent, links and end. */
const recordingTracer = () => {
  const spans: RecordedSpan[] = [];
  let next = 1;
  const tracer: Tracer = {
    enabled: true,
    startSpan: (name, start = {}) => {
      const id = (next++).toString(16).padStart(16, '0');
      const span: RecordedSpan = { name, start, traceparent: `00-${'a'.repeat(32)}-${id}-01` };
      spans.push(span);
      const headers = () => ({ traceparent: span.traceparent });
      return { traceparent: span.traceparent, headers, end: (end = {}) => void (span.end = end) };
    },
  };
  return { tracer, spans, named: (name: string) => spans.filter((span) => span.name === name) };
};

const setup = (executor: TaskExecutor, traceparent: string | null = null) => {
  const queue = new InMemoryTaskQueue();
  const logger = new RecordingLogger();
  const traced = recordingTracer();
  const deps = { workerId: 'w1', queue, clock: { now: () => new Date() }, logger, metrics: noMetrics, tracer: traced.tracer };
  const run = executeTask({
    ...deps,
    executors: new Map([['http_callback', executor]]),
    jitter: { next: () => 0 },
    retryPolicy: { baseDelayMs: 60_000, maxDelayMs: 600_000 },
    taskTimeoutMs: 5_000,
  });
  queue.add('http_callback', { url: 'http://example.test/', data: {} });
  const claim = async () => {
    const [task] = await claimBatch(deps)(1);
    if (task === undefined) throw new Error('nothing claimed');
    return traceparent === null ? task : { ...task, traceparent };
  };
  return { run, claim, logger, ...traced };
};

const never = new AbortController().signal;

describe('ExecuteTask and ClaimBatch with a tracer', () => {
  it('hands the executor the execute span’s context, and ends each span with the outcome', async () => {
    let sent: TraceHeaders | undefined;
    const { run, claim, named } = setup({ execute: async (_task, _signal, trace) => ((sent = trace), succeeded()) });
    await run(await claim(), never);
    const [claimSpan] = named('at-worker claim');
    const [attempt] = named('at-worker attempt');
    const [execute] = named('at-worker execute http_callback');
    const [end] = named('at-worker end attempt');
    expect(claimSpan?.end).toEqual({ attributes: { 'at_worker.claim.count': 1 } });
    expect(attempt?.start.parent).toBe(claimSpan?.traceparent);
    expect(execute?.start).toMatchObject({ parent: attempt?.traceparent, kind: 'client' });
    expect(sent).toEqual({ traceparent: execute?.traceparent });
    expect(end?.start.parent).toBe(attempt?.traceparent);
    expect(attempt?.end).toEqual({ attributes: { 'at_worker.outcome': 'completed' } });
  });

  it("a producer's traceparent is the attempt's parent and the claim a link; a retry marks the attempt failed", async () => {
    const producer = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const { run, claim, named } = setup({ execute: async () => retryableFailure('HTTP 503: busy') }, producer);
    await run(await claim(), never);
    const [attempt] = named('at-worker attempt');
    expect(attempt?.start).toMatchObject({ parent: producer, links: [named('at-worker claim')[0]?.traceparent] });
    expect(attempt?.end).toEqual({ error: 'HTTP 503: busy', attributes: { 'at_worker.outcome': 'retried' } });
    expect(named('at-worker execute http_callback')[0]?.end).toMatchObject({ error: 'HTTP 503: busy' });
  });

  it('a task released at shutdown before it ran has no execute span, and its attempt says released', async () => {
    let calls = 0;
    const { run, claim, named } = setup({ execute: async () => ((calls += 1), succeeded()) });
    await run(await claim(), AbortSignal.abort(shutdownCause));
    expect(calls).toBe(0);
    expect(named('at-worker execute http_callback')).toEqual([]);
    expect(named('at-worker attempt')[0]?.end).toEqual({ attributes: { 'at_worker.outcome': 'released' } });
  });

  it('ignores a malformed traceparent with a warning: the attempt continues its claim and the task completes', async () => {
    const { run, claim, named, logger } = setup({ execute: async () => succeeded() }, 'garbage');
    expect(await run(await claim(), never)).toBe('applied');
    expect(named('at-worker attempt')[0]?.start.parent).toBe(named('at-worker claim')[0]?.traceparent);
    expect(logger.messages().some((message) => /traceparent ignored, expected a W3C traceparent/.test(message))).toBe(true);
  });
});
