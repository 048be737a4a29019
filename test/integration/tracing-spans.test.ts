import { randomUUID } from 'node:crypto';
import { connect, type Channel, type ChannelModel } from 'amqplib';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { sql } from 'slonik';
import { claimBatch } from '../../src/application/claim-batch.js';
import { executeTask } from '../../src/application/execute-task.js';
import { noMetrics, type ClaimedTask, type Logger, type TaskExecutor } from '../../src/application/ports.js';
import { createHttpCallbackExecutor } from '../../src/adapters/executors/http-callback-executor.js';
import { createEmailExecutor } from '../../src/adapters/executors/email-executor.js';
import { createRabbitMqExecutor } from '../../src/adapters/executors/rabbitmq-executor.js';
import { createOtelTracing, type OtelTracing } from '../../src/adapters/observability/otel-tracer.js';
import { createPostgresTaskQueue } from '../../src/adapters/postgres/task-queue.js';
import { startReceiver, type Receiver } from '../support/http-receiver.js';
import { header, startSmtpServer } from './email-smtp-server.js';
import { openFixture, type Fixture } from './postgres-fixtures.js';
import { brokerIsUp, TEST_AMQP_URL } from './rabbitmq-broker.js';

const PRODUCER_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PRODUCER_SPAN = '00f067aa0ba902b7';
const PRODUCER = `00-${PRODUCER_TRACE}-${PRODUCER_SPAN}-01`;
const amqpUp = await brokerIsUp();

/**
 * The spans of claims and attempts as OpenTelemetry's in-memory exporter receives them, with the
 * real claim on PostgreSQL, a real HTTP receiver on loopback and (when it is up) the real RabbitMQ.
 */
describe('tracing: spans of claims and attempts, and the context a delivery carries', () => {
  let fixture: Fixture;
  let receiver: Receiver;
  let exporter: InMemorySpanExporter;
  let tracing: OtelTracing;
  let amqp: ChannelModel | undefined;
  let channel: Channel | undefined;
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  const queueName = `at-worker-test.${randomUUID().slice(0, 8)}.tracing`;
  const warnings: string[] = [];
  const quiet = () => undefined;
  const logger: Logger = { debug: quiet, info: quiet, warn: (message) => void warnings.push(message), error: quiet };
  const executors = new Map<string, TaskExecutor & { close(): Promise<void> }>();

  beforeAll(async () => {
    fixture = await openFixture();
    receiver = await startReceiver();
    exporter = new InMemorySpanExporter();
    tracing = createOtelTracing({ serviceName: 'at-worker-test', workerId: 'tracer', processor: new SimpleSpanProcessor(exporter) });
    executors.set('http_callback', createHttpCallbackExecutor({ allowPrivateNetworks: true, requestTimeoutMs: 10_000 }));
    smtp = await startSmtpServer();
    const email = createEmailExecutor({ host: '127.0.0.1', port: smtp.port, secure: false, from: 'at@example.com', timeoutMs: 10_000 });
    executors.set('email', email);
    if (amqpUp) {
      const rabbitmq = createRabbitMqExecutor({ url: TEST_AMQP_URL, confirmTimeoutMs: 10_000, connectionName: 'tracing-test', logger });
      executors.set('rabbitmq', rabbitmq);
      amqp = await connect(TEST_AMQP_URL);
      channel = await amqp.createChannel();
      await channel.assertQueue(queueName, { durable: false });
    }
  });

  afterAll(async () => {
    await Promise.all([...executors.values()].map((executor) => executor.close()));
    await channel?.deleteQueue(queueName);
    await amqp?.close();
    await tracing?.shutdown();
    await smtp?.close();
    await receiver?.close();
    await fixture?.close();
  });

  beforeEach(() => {
    exporter.reset();
    warnings.length = 0;
  });

  /** Schedules with plain SQL, as a producer would, then claims and runs every due task once. */
  const runOnce = async (tasks: readonly { taskType: string; payload: unknown; traceparent: string | null }[]) => {
    const ids: string[] = [];
    for (const task of tasks) {
      ids.push(
        (await fixture.pool.oneFirst(sql.unsafe`
          INSERT INTO scheduled_tasks (task_type, payload, traceparent)
          VALUES (${task.taskType}, ${JSON.stringify(task.payload)}::jsonb, ${task.traceparent}) RETURNING id::text`)) as string,
      );
    }
    const queue = createPostgresTaskQueue(fixture.pool, { withTraceparent: true });
    const deps = { workerId: 'tracer', queue, clock: { now: () => new Date() }, logger, metrics: noMetrics, tracer: tracing.tracer };
    const claimed: readonly ClaimedTask[] = await claimBatch(deps)(10);
    const run = executeTask({
      ...deps,
      executors,
      jitter: { next: () => 0 },
      retryPolicy: { baseDelayMs: 1000, maxDelayMs: 1000 },
      taskTimeoutMs: 20_000,
    });
    const results = await Promise.all(claimed.map((task) => run(task, new AbortController().signal)));
    expect(results.every((result) => result === 'applied')).toBe(true);
    expect(claimed.map((task) => task.id).sort()).toEqual([...ids].sort());
    return ids;
  };

  const spans = (name: string): ReadableSpan[] => exporter.getFinishedSpans().filter((span) => span.name === name);
  const forTask = (name: string, id: string): ReadableSpan => {
    const found = spans(name).filter((span) => span.attributes['at_worker.task.id'] === id);
    expect(found).toHaveLength(1);
    return found[0]!;
  };
  const parentOf = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId;

  it("continues the producer's trace: attempt child of its traceparent, execute and end children of it, context sent", async () => {
    const [id] = await runOnce([{ taskType: 'http_callback', payload: { url: receiver.url('/traced'), data: {} }, traceparent: PRODUCER }]);
    const [claim] = spans('at-worker claim');
    expect(claim?.attributes).toMatchObject({ 'at_worker.worker_id': 'tracer', 'at_worker.claim.count': 1 });
    const attempt = forTask('at-worker attempt', id!);
    const execute = forTask('at-worker execute http_callback', id!);
    const end = forTask('at-worker end attempt', id!);

    expect(attempt.spanContext().traceId).toBe(PRODUCER_TRACE);
    expect(parentOf(attempt)).toBe(PRODUCER_SPAN);
    expect(attempt.links.map((link) => link.context.spanId)).toEqual([claim!.spanContext().spanId]);
    expect(attempt.attributes).toMatchObject({
      'at_worker.task.type': 'http_callback',
      'at_worker.attempt': 1,
      'at_worker.outcome': 'completed',
    });
    expect(parentOf(execute)).toBe(attempt.spanContext().spanId);
    expect(execute.kind).toBe(SpanKind.CLIENT);
    expect(execute.attributes).toMatchObject({ 'at_worker.execution': 'succeeded' });
    expect(parentOf(end)).toBe(attempt.spanContext().spanId);
    expect(end.attributes).toMatchObject({ 'at_worker.outcome': 'completed' });

    const [request] = receiver.to('/traced');
    expect(request?.headers['traceparent']).toBe(`00-${PRODUCER_TRACE}-${execute.spanContext().spanId}-01`);
  });

  it("without a traceparent, or with a malformed one (warned, the task still completes), the attempt is its claim's child", async () => {
    const [plain, malformed] = await runOnce([
      { taskType: 'http_callback', payload: { url: receiver.url('/plain'), data: {} }, traceparent: null },
      { taskType: 'http_callback', payload: { url: receiver.url('/malformed'), data: {} }, traceparent: '00-not-a-trace-01' },
    ]);
    const [claim] = spans('at-worker claim');
    for (const id of [plain!, malformed!]) {
      const attempt = forTask('at-worker attempt', id);
      expect(attempt.spanContext().traceId).toBe(claim!.spanContext().traceId);
      expect(parentOf(attempt)).toBe(claim!.spanContext().spanId);
    }
    const warning = new RegExp(`^\\[Executor\\] Task ${malformed}: traceparent ignored, expected a W3C traceparent`);
    expect(warnings).toEqual([expect.stringMatching(warning)]);
    const statuses = await fixture.pool.anyFirst(sql.unsafe`SELECT status FROM scheduled_tasks WHERE id IN (${plain!}, ${malformed!})`);
    expect(statuses).toEqual(['completed', 'completed']);
    expect(receiver.to('/malformed')[0]?.headers['traceparent']).toMatch(new RegExp(`^00-${claim!.spanContext().traceId}-`));
  });

  it('marks a failed attempt: the execute and attempt spans are errors with the reason, outcome retried', async () => {
    const refused = { url: 'http://127.0.0.1:9/refused', data: {} };
    const [id] = await runOnce([{ taskType: 'http_callback', payload: refused, traceparent: PRODUCER }]);
    const execute = forTask('at-worker execute http_callback', id!);
    const attempt = forTask('at-worker attempt', id!);
    expect(execute.status.code).toBe(SpanStatusCode.ERROR);
    expect(execute.attributes).toMatchObject({ 'at_worker.execution': 'failed', 'at_worker.retryable': true });
    expect(attempt.status).toMatchObject({ code: SpanStatusCode.ERROR, message: expect.stringMatching(/.+/) });
    expect(attempt.attributes).toMatchObject({ 'at_worker.outcome': 'retried' });
  });

  (amqpUp ? it : it.skip)('puts the trace context in the AMQP message headers, beside the payload headers', async () => {
    const [id] = await runOnce([
      { taskType: 'rabbitmq', payload: { queue: queueName, message: { n: 1 }, headers: { source: 'billing' } }, traceparent: PRODUCER },
    ]);
    const execute = forTask('at-worker execute rabbitmq', id!);
    const message = await channel!.get(queueName, { noAck: true });
    expect(message && message.properties.headers).toMatchObject({
      source: 'billing',
      traceparent: `00-${PRODUCER_TRACE}-${execute.spanContext().spanId}-01`,
    });
  });

  it('puts the trace context in the email header fields', async () => {
    const mail = { to: 'someone@example.com', subject: 'traced', text: 'hi' };
    const [id] = await runOnce([{ taskType: 'email', payload: mail, traceparent: PRODUCER }]);
    const execute = forTask('at-worker execute email', id!);
    expect(header(smtp.received.at(-1), 'traceparent')).toBe(`00-${PRODUCER_TRACE}-${execute.spanContext().spanId}-01`);
  });
});
