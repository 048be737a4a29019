import { randomUUID } from 'node:crypto';
import { connect, type Channel, type ChannelModel, type GetMessage } from 'amqplib';
import { rabbitMqMessageId } from '../../src/domain/payloads/rabbitmq.js';
import { notConfiguredExecutor } from '../../src/adapters/executors/not-configured.js';
import { createRabbitMqExecutor, type RabbitMqExecutor } from '../../src/adapters/executors/rabbitmq-executor.js';
import { brokerControlled, brokerIsUp, setMaxMessageSize, TEST_AMQP_URL } from './rabbitmq-broker.js';
import { claimedTask, failure, never } from '../support/executor-calls.js';

const task = (id: string, payload: unknown, attempts = 0) => claimedTask('rabbitmq', id, payload, attempts);

// Decided before the suite is declared: under CI a missing broker throws here and fails the file.
const brokerUp = await brokerIsUp();

describe('rabbitmq executor without a broker', () => {
  it('refuses an invalid payload permanently, naming the field, without connecting', async () => {
    const executor = createRabbitMqExecutor({ url: 'amqp://guest:guest@127.0.0.1:1', confirmTimeoutMs: 1_000 });
    const outcome = failure(await executor.execute(task('1', { queue: 'orders' }), never()));
    expect(outcome.retryable).toBe(false);
    expect(outcome.error).toBe('payload.message: is required, got nothing');
    await executor.close();
  });

  it('fails every task permanently when not configured, saying what to set', async () => {
    const outcome = failure(await notConfiguredExecutor('rabbitmq', 'set AMQP_URL').execute(task('1', {}), never()));
    expect(outcome).toMatchObject({ retryable: false, error: 'rabbitmq executor is not configured: set AMQP_URL' });
  });
});

(brokerUp ? describe : describe.skip)('rabbitmq executor against RabbitMQ', () => {
  const run = randomUUID().slice(0, 8);
  const queue = `at-worker-test.${run}.orders`;
  const exchange = `at-worker-test.${run}.events`;
  const boundQueue = `at-worker-test.${run}.bound`;
  let admin: ChannelModel;
  let channel: Channel;
  let executor: RabbitMqExecutor;

  beforeAll(async () => {
    admin = await connect(TEST_AMQP_URL);
    channel = await admin.createChannel();
    await channel.assertQueue(queue, { durable: false });
    await channel.assertQueue(boundQueue, { durable: false });
    await channel.assertExchange(exchange, 'direct', { durable: false });
    await channel.bindQueue(boundQueue, exchange, 'order.created');
    executor = createRabbitMqExecutor({ url: TEST_AMQP_URL, confirmTimeoutMs: 5_000 });
  });

  afterAll(async () => {
    await executor?.close();
    await channel?.deleteQueue(queue);
    await channel?.deleteQueue(boundQueue);
    await channel?.deleteExchange(exchange);
    await admin?.close();
  });

  /** The next message on `name`, waiting up to 5 s for it. */
  const nextMessage = async (name: string): Promise<GetMessage> => {
    const until = Date.now() + 5_000;
    while (Date.now() < until) {
      const message = await channel.get(name, { noAck: true });
      if (message !== false) return message;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`no message arrived on ${name}`);
  };

  it('publishes a JSON message to a queue: body, headers, content type, message_id, persistent', async () => {
    const outcome = await executor.execute(
      task('101', { queue, message: { order: 7, items: ['a', 'b'] }, headers: { 'x-tenant': 'acme', 'x-count': 3 } }),
      never(),
    );
    expect(outcome).toMatchObject({ _tag: 'Succeeded', details: { message_id: rabbitMqMessageId('101') } });
    const message = await nextMessage(queue);
    expect(JSON.parse(message.content.toString('utf8'))).toEqual({ order: 7, items: ['a', 'b'] });
    expect(message.properties.contentType).toBe('application/json');
    expect(message.properties.messageId).toBe(rabbitMqMessageId('101'));
    expect(message.properties.deliveryMode).toBe(2);
    expect(message.properties.headers).toMatchObject({ 'x-tenant': 'acme', 'x-count': 3 });
    expect(message.fields.routingKey).toBe(queue);
  });

  it('sends a string message byte for byte through an exchange and routing key', async () => {
    const body = '<order id="7">crème brûlée</order>';
    const outcome = await executor.execute(
      task('102', { exchange, routing_key: 'order.created', message: body, content_type: 'application/xml', persistent: false }),
      never(),
    );
    expect(outcome._tag).toBe('Succeeded');
    const message = await nextMessage(boundQueue);
    expect(message.content.equals(Buffer.from(body, 'utf8'))).toBe(true);
    expect(message.properties.contentType).toBe('application/xml');
    expect(message.properties.deliveryMode).toBe(1);
    expect(message.fields.exchange).toBe(exchange);
  });

  it('does not label a raw string as JSON', async () => {
    await executor.execute(task('103', { queue, message: '{"pre":"serialised"}' }), never());
    const message = await nextMessage(queue);
    expect(message.content.toString('utf8')).toBe('{"pre":"serialised"}');
    expect(message.properties.contentType).toBeUndefined();
  });

  it('gives every attempt of a task the same message_id, and other tasks another', async () => {
    await executor.execute(task('104', { queue, message: 1 }, 0), never());
    await executor.execute(task('104', { queue, message: 1 }, 1), never());
    await executor.execute(task('105', { queue, message: 1 }, 0), never());
    const ids = [await nextMessage(queue), await nextMessage(queue), await nextMessage(queue)].map((m) => m.properties.messageId);
    expect(ids).toEqual([rabbitMqMessageId('104'), rabbitMqMessageId('104'), rabbitMqMessageId('105')]);
  });

  it('fails an unroutable message saying so, and keeps publishing afterwards', async () => {
    const missing = `at-worker-test.${run}.nobody-listens`;
    const toQueue = failure(await executor.execute(task('106', { queue: missing, message: 1 }), never()));
    expect(toQueue.retryable).toBe(true);
    expect(toQueue.error).toMatch(/^unroutable: .*312 NO_ROUTE/);
    expect(toQueue.error).toContain(`"${missing}"`);

    const toExchange = failure(await executor.execute(task('107', { exchange, routing_key: 'order.deleted', message: 1 }), never()));
    expect(toExchange.error).toMatch(/^unroutable: .*no queue is bound to exchange ".*" for routing key "order\.deleted"/);

    expect((await executor.execute(task('108', { queue, message: 'after' }), never()))._tag).toBe('Succeeded');
    expect((await nextMessage(queue)).content.toString()).toBe('after');
  });

  it('fails a missing exchange permanently without disturbing publishes in flight', async () => {
    const outcomes = await Promise.all([
      executor.execute(task('109', { exchange: `at-worker-test.${run}.missing`, routing_key: 'k', message: 1 }), never()),
      ...Array.from({ length: 5 }, (_, index) => executor.execute(task(`110-${index}`, { queue, message: index }), never())),
    ]);
    const [missing, ...good] = outcomes;
    expect(failure(missing)).toMatchObject({
      retryable: false,
      error: expect.stringMatching(/^exchange ".*\.missing" does not exist: .*404/),
    });
    expect(good.map((outcome) => outcome._tag)).toEqual(Array(5).fill('Succeeded'));
    const bodies = await Promise.all(good.map(() => nextMessage(queue)));
    expect(bodies.map((m) => Number(m.content.toString())).sort()).toEqual([0, 1, 2, 3, 4]);
  });

  /**
   * One refused publish (the broker closes the channel they all share) and five good ones, at once.
   * The refused one fails permanently, naming why; the good ones succeed or, caught on the closed
   * channel, fail retryably; the messages that got through are on the queue.
   */
  const refusedAmongGood = async (publisher: RabbitMqExecutor, refusedPayload: object, id: string) => {
    const [refused, ...good] = await Promise.all([
      publisher.execute(task(id, refusedPayload), never()),
      ...Array.from({ length: 5 }, (_, index) => publisher.execute(task(`${id}-${index}`, { queue, message: index }), never())),
    ]);
    for (const outcome of good) {
      if (outcome._tag !== 'Succeeded')
        expect(failure(outcome)).toMatchObject({ retryable: true, error: expect.stringMatching(/channel closed/) });
    }
    const delivered = good.filter((outcome) => outcome._tag === 'Succeeded').length;
    await Promise.all(Array.from({ length: delivered }, () => nextMessage(queue)));
    return { refused: failure(refused), delivered };
  };

  it('fails a publish to an internal exchange permanently, and sends no other there, sparing the publishes in flight', async () => {
    const internal = `at-worker-test.${run}.internal`;
    await channel.assertExchange(internal, 'topic', { durable: false, internal: true });
    try {
      const first = await refusedAmongGood(executor, { exchange: internal, routing_key: 'k', message: 1 }, '113');
      expect(first.refused).toMatchObject({ retryable: false, error: expect.stringMatching(/internal exchange .*403/) });
      // Known now: refused before it is sent, so it no longer closes the channel under the others.
      const again = await refusedAmongGood(executor, { exchange: internal, routing_key: 'k', message: 2 }, '114');
      expect(again.refused).toMatchObject({
        retryable: false,
        error: expect.stringMatching(/^RabbitMQ refuses publishing to internal exchange/),
      });
      expect(again.delivered).toBe(5);
    } finally {
      await channel.deleteExchange(internal);
    }
  });

  it("fails a message over the broker's max_message_size permanently, and refuses such messages before sending", async () => {
    const previous = await setMaxMessageSize(4096);
    if (!brokerControlled(previous, 'a message over max_message_size')) return;
    // Opened after the change: a channel reads max_message_size when it opens.
    const publisher = createRabbitMqExecutor({ url: TEST_AMQP_URL, confirmTimeoutMs: 5_000 });
    try {
      const big = { queue, message: 'x'.repeat(5000) };
      const first = await refusedAmongGood(publisher, big, '115');
      expect(first.refused).toMatchObject({
        retryable: false,
        error: expect.stringMatching(/5000 bytes, over RabbitMQ's max_message_size of 4096: .*406/),
      });
      const again = await refusedAmongGood(publisher, big, '116');
      expect(again.refused).toMatchObject({
        retryable: false,
        error: expect.stringMatching(/5000 bytes, over RabbitMQ's max_message_size of 4096/),
      });
      expect(again.delivered).toBe(5);
      // A message under the limit still goes.
      expect((await publisher.execute(task('117', { queue, message: 'y'.repeat(4000) }), never()))._tag).toBe('Succeeded');
      expect((await nextMessage(queue)).content.length).toBe(4000);
    } finally {
      await publisher.close();
      await setMaxMessageSize(previous);
    }
  });

  it('refuses content amqplib cannot encode as a permanent failure', async () => {
    const outcome = failure(await executor.execute(task('111', { queue, message: 1, headers: { big: 'x'.repeat(70_000) } }), never()));
    expect(outcome.retryable).toBe(false);
    expect(outcome.error).toMatch(/cannot be encoded/);
    expect((await executor.execute(task('112', { queue, message: 'still fine' }), never()))._tag).toBe('Succeeded');
    expect((await nextMessage(queue)).content.toString()).toBe('still fine');
  });
});
