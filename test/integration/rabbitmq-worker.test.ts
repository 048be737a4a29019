import { randomUUID } from 'node:crypto';
import { connect, type Channel, type ChannelModel, type GetMessage } from 'amqplib';
import { rabbitMqMessageId } from '../../src/domain/payloads/rabbitmq.js';
import { until, type WorkerProcess } from '../support/worker-process.js';
import { useWorkerSuite } from '../support/worker-suite.js';
import { brokerIsUp, closeConnectionsFromBroker, closedFromBroker, startRelay, TEST_AMQP_URL, type Relay } from './rabbitmq-broker.js';

((await brokerIsUp()) ? describe : describe.skip)('rabbitmq tasks, through a running worker and RabbitMQ', () => {
  const queue = `at-worker-test.${randomUUID().slice(0, 8)}.worker`;
  const suite = useWorkerSuite();
  let admin: ChannelModel;
  let channel: Channel;
  let worker: WorkerProcess;
  // The worker reaches the broker through a relay so the test can tell its connection from the
  // others on the shared broker (by the relay's port) and close only that one.
  let relay: Relay;

  beforeAll(async () => {
    admin = await connect(TEST_AMQP_URL);
    channel = await admin.createChannel();
    await channel.assertQueue(queue, { durable: false });
    relay = await startRelay(TEST_AMQP_URL);
    worker = suite.start({ WORKER_ID: 'publisher', AMQP_URL: relay.url, SMTP_HOST: '' });
    await worker.waitForLog(/Started with polling interval/);
  });

  afterAll(async () => {
    await worker?.stop('SIGKILL');
    await relay?.close();
    await channel?.deleteQueue(queue);
    await admin?.close();
  });

  const settled = (id: string) =>
    until(async () => ['completed', 'failed'].includes((await suite.db.task(id)).status), 20_000, `task ${id} settled`);
  const nextMessage = async (): Promise<GetMessage> => {
    let found: GetMessage | false = false;
    await until(async () => (found = await channel.get(queue, { noAck: true })) !== false, 5_000, 'a message on the queue');
    return found as unknown as GetMessage;
  };

  it('publishes a task inserted with plain SQL, confirmed, with the message_id of its task', async () => {
    const id = await suite.db.insertTask('rabbitmq', { queue, message: { invoice: 42 }, headers: { source: 'billing' } });
    await settled(id);
    expect(await suite.db.task(id)).toMatchObject({ status: 'completed', attempts: 1 });
    const message = await nextMessage();
    expect(JSON.parse(message.content.toString())).toEqual({ invoice: 42 });
    // The task's uuid: unique across databases, where ids repeat.
    const { task_uuid: uuid } = await suite.db.task(id);
    expect(message.properties).toMatchObject({ messageId: rabbitMqMessageId(uuid!), contentType: 'application/json', deliveryMode: 2 });
    expect(message.properties.messageId).toMatch(/^at-worker:task:[0-9a-f-]{36}$/);
    expect(message.properties.headers).toMatchObject({ source: 'billing' });
  });

  it('retries an unroutable message and records why it failed', async () => {
    const id = await suite.db.insertTask('rabbitmq', { queue: `${queue}.nobody`, message: 1 }, { maxAttempts: 2 });
    await settled(id);
    const row = await suite.db.task(id);
    expect(row).toMatchObject({ status: 'failed', attempts: 2 });
    expect(row.error_message).toMatch(/^unroutable: /);
    expect((await suite.db.events(id)).map((event) => event.event_type)).toEqual([
      'scheduled',
      'claimed',
      'retry_scheduled',
      'claimed',
      'failed',
    ]);
  });

  it('still delivers after the broker closes the worker connection', async () => {
    const closed = await closeConnectionsFromBroker({ clientPorts: relay.brokerSidePorts() });
    if (!closedFromBroker(closed, 'delivering after a broker-side close')) return;
    await worker.waitForLog(/RabbitMQ connection closed/);
    const id = await suite.db.insertTask('rabbitmq', { queue, message: 'after the broker hung up' });
    await settled(id);
    expect(await suite.db.task(id)).toMatchObject({ status: 'completed', attempts: 1 });
    expect((await nextMessage()).content.toString()).toBe('after the broker hung up');
  });
});
