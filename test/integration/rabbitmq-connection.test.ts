import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { connect, type Channel, type ChannelModel, type GetMessage } from 'amqplib';
import { rabbitMqMessageId } from '../../src/domain/payloads/rabbitmq.js';
import { createRabbitMqExecutor } from '../../src/adapters/executors/rabbitmq-executor.js';
import { RecordingLogger } from '../support/recording-logger.js';
import {
  brokerIsUp,
  closeConnectionsFromBroker,
  closedFromBroker,
  startRelay,
  startSilentServer,
  TEST_AMQP_URL,
} from './rabbitmq-broker.js';
import { claimedTask, failure, never } from '../support/executor-calls.js';

const task = (id: string, payload: unknown, attempts = 0) => claimedTask('rabbitmq', id, payload, attempts);
const eventually = async (condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> => {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};
const connectionLost = (logger: RecordingLogger) => () =>
  logger.messages().some((message) => message.startsWith('RabbitMQ connection closed'));

/** A port nothing listens on. */
const closedPort = async (): Promise<number> => {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
};

describe('rabbitmq executor when the broker cannot be reached', () => {
  it('is a retryable failure whose message and logs never show the password', async () => {
    const logger = new RecordingLogger();
    const url = `amqp://worker:s3cr3t%2Fpw@127.0.0.1:${await closedPort()}/vhost`;
    const executor = createRabbitMqExecutor({ url, confirmTimeoutMs: 2_000, logger });
    const outcome = failure(await executor.execute(task('1', { queue: 'q', message: 1 }), never()));
    expect(outcome.retryable).toBe(true);
    expect(outcome.error).toMatch(/^could not connect to RabbitMQ \(amqp:\/\/worker:\*\*\*@127\.0\.0\.1:\d+\/vhost\): .*ECONNREFUSED/);
    const everything = JSON.stringify([outcome, logger.lines]);
    expect(everything).not.toContain('s3cr3t');
    await executor.close();
  });

  it('gives up on a broker that never answers the handshake, retryably, after the connect timeout', async () => {
    const silent = await startSilentServer();
    const executor = createRabbitMqExecutor({ url: silent.url, confirmTimeoutMs: 5_000, connectTimeoutMs: 300 });
    const started = Date.now();
    const outcome = failure(await executor.execute(task('2', { queue: 'q', message: 1 }), never()));
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(outcome.retryable).toBe(true);
    expect(outcome.error).toMatch(/300 ms/);
    await executor.close();
    await silent.close();
  });

  it('stops waiting as soon as the task is aborted', async () => {
    const silent = await startSilentServer();
    const executor = createRabbitMqExecutor({ url: silent.url, confirmTimeoutMs: 30_000 });
    const abort = new AbortController();
    setTimeout(() => abort.abort(new Error('task timed out after 100 ms')), 100);
    const started = Date.now();
    const outcome = failure(await executor.execute(task('3', { queue: 'q', message: 1 }), abort.signal));
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(outcome).toMatchObject({ retryable: true, error: expect.stringMatching(/aborted.*task timed out after 100 ms/) });
    await executor.close();
    await silent.close();
  });
});

((await brokerIsUp()) ? describe : describe.skip)('rabbitmq executor when the connection goes away', () => {
  const queue = `at-worker-test.${randomUUID().slice(0, 8)}.reconnect`;
  let admin: ChannelModel;
  let channel: Channel;

  beforeAll(async () => {
    admin = await connect(TEST_AMQP_URL);
    channel = await admin.createChannel();
    await channel.assertQueue(queue, { durable: false });
  });
  afterAll(async () => {
    await channel?.deleteQueue(queue);
    await admin?.close();
  });

  const drain = async (count: number): Promise<GetMessage[]> => {
    const messages: GetMessage[] = [];
    const until = Date.now() + 5_000;
    while (messages.length < count && Date.now() < until) {
      const message = await channel.get(queue, { noAck: true });
      if (message === false) await new Promise((resolve) => setTimeout(resolve, 20));
      else messages.push(message);
    }
    return messages;
  };

  it('reconnects by itself after the broker closes its connection (rabbitmqctl close_connection)', async () => {
    const name = `at-worker-test-${randomUUID()}`;
    const logger = new RecordingLogger();
    const executor = createRabbitMqExecutor({ url: TEST_AMQP_URL, confirmTimeoutMs: 5_000, connectionName: name, logger });
    try {
      expect((await executor.execute(task('11', { queue, message: 'before' }), never()))._tag).toBe('Succeeded');
      // (Without rabbitmqctl, the relay test below still covers a dropped connection.)
      if (!closedFromBroker(await closeConnectionsFromBroker({ name }), 'reconnecting after a broker-side close')) return;
      await eventually(connectionLost(logger), 'the executor to notice the closed connection');
      expect((await executor.execute(task('12', { queue, message: 'after' }), never()))._tag).toBe('Succeeded');
      expect((await drain(2)).map((m) => m.content.toString())).toEqual(['before', 'after']);
      expect(logger.lines.filter((line) => line.message === 'Connected to RabbitMQ')).toHaveLength(2);
    } finally {
      await executor.close();
    }
  });

  it('reconnects by itself after the network drops the connection', async () => {
    const relay = await startRelay(TEST_AMQP_URL);
    const logger = new RecordingLogger();
    const executor = createRabbitMqExecutor({ url: relay.url, confirmTimeoutMs: 5_000, logger });
    try {
      expect((await executor.execute(task('21', { queue, message: 'before' }), never()))._tag).toBe('Succeeded');
      relay.sever();
      await eventually(connectionLost(logger), 'the executor to notice the dropped connection');
      expect((await executor.execute(task('22', { queue, message: 'after' }), never()))._tag).toBe('Succeeded');
      expect(relay.connections()).toBe(2);
      expect((await drain(2)).map((m) => m.content.toString())).toEqual(['before', 'after']);
    } finally {
      await executor.close();
      await relay.close();
    }
  });

  it('fails a publish caught by a dropped connection retryably; the next task reconnects', async () => {
    const relay = await startRelay(TEST_AMQP_URL);
    const executor = createRabbitMqExecutor({ url: relay.url, confirmTimeoutMs: 5_000 });
    try {
      expect((await executor.execute(task('31', { queue, message: 'first' }), never()))._tag).toBe('Succeeded');
      relay.freeze();
      const inFlight = executor.execute(task('32', { queue, message: 'caught' }), never());
      await new Promise((resolve) => setTimeout(resolve, 200));
      relay.sever();
      relay.thaw();
      const outcome = failure(await inFlight);
      expect(outcome.retryable).toBe(true);
      expect(outcome.error).toMatch(/channel closed before the confirm/);
      expect((await executor.execute(task('32', { queue, message: 'caught' }, 1), never()))._tag).toBe('Succeeded');
      // The broker may or may not have taken the first try; either way the copies share one id.
      const messages = await drain(3);
      expect(messages[0]?.content.toString()).toBe('first');
      expect(new Set(messages.slice(1).map((m) => m.properties.messageId))).toEqual(new Set([rabbitMqMessageId('32')]));
    } finally {
      await executor.close();
      await relay.close();
    }
  });

  it('closes within its connect timeout when the broker no longer answers, instead of waiting forever', async () => {
    const relay = await startRelay(TEST_AMQP_URL);
    const executor = createRabbitMqExecutor({ url: relay.url, confirmTimeoutMs: 5_000, connectTimeoutMs: 500 });
    try {
      expect((await executor.execute(task('51', { queue, message: 'before a silent close' }), never()))._tag).toBe('Succeeded');
      relay.freeze();
      const started = Date.now();
      // amqplib's close() waits for the broker's Close-Ok, which the frozen relay never lets through.
      await executor.close();
      expect(Date.now() - started).toBeLessThan(3_000);
      // The confirmed message, taken off the queue so the next test starts from an empty one.
      await drain(1);
    } finally {
      await relay.close();
    }
  });

  it('gives up a channel the broker never opens, and the next task connects afresh', async () => {
    const relay = await startRelay(TEST_AMQP_URL);
    const executor = createRabbitMqExecutor({ url: relay.url, confirmTimeoutMs: 5_000, connectTimeoutMs: 500 });
    try {
      relay.freezeAtChannelOpen();
      const outcome = failure(await executor.execute(task('52', { queue, message: 'no channel' }), never()));
      expect(outcome.retryable).toBe(true);
      relay.thaw();
      // The retry comes after a backoff; by then the half-open link has been given up (500 ms).
      // Without that limit it stayed in use, and every later task timed out on it.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const next = await executor.execute(task('52', { queue, message: 'no channel' }, 1), never());
      expect(next._tag).toBe('Succeeded');
      expect(relay.connections()).toBe(2);
      expect((await drain(1)).map((m) => m.content.toString())).toEqual(['no channel']);
    } finally {
      await executor.close();
      await relay.close();
    }
  });

  it('treats a confirm that does not come in time as retryable, and does not reuse that connection', async () => {
    const relay = await startRelay(TEST_AMQP_URL);
    const executor = createRabbitMqExecutor({ url: relay.url, confirmTimeoutMs: 400, connectTimeoutMs: 5_000 });
    try {
      expect((await executor.execute(task('41', { queue, message: 'first' }), never()))._tag).toBe('Succeeded');
      relay.freeze();
      const outcome = failure(await executor.execute(task('42', { queue, message: 'unconfirmed' }), never()));
      expect(outcome).toMatchObject({ retryable: true, error: expect.stringMatching(/^no publisher confirm from RabbitMQ within 400 ms/) });
      relay.thaw();
      expect((await executor.execute(task('42', { queue, message: 'unconfirmed' }, 1), never()))._tag).toBe('Succeeded');
      expect(relay.connections()).toBe(2);
      const messages = await drain(3);
      expect(messages.map((m) => m.content.toString())).toEqual(['first', 'unconfirmed', 'unconfirmed']);
      expect(messages[1]?.properties.messageId).toBe(messages[2]?.properties.messageId);
    } finally {
      await executor.close();
      await relay.close();
    }
  });
});
