// No relative imports here: jest loads global setup outside its module mapper, so `./x.js` would not
// resolve to `./x.ts`. Keep in step with test/support/database.ts.
const DEFAULT_TEST_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const DEFAULT_TEST_AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';

/**
 * Jest global setup: decides which PostgreSQL and RabbitMQ the integration suites use and exports
 * them as TEST_DATABASE_URL / TEST_AMQP_URL (test workers inherit this process's environment).
 *
 * Where a container runtime answers, fresh containers (testcontainers; its Ryuk sidecar removes them
 * when this process exits). Otherwise the servers already named by the environment, or the local
 * defaults. Probing for a runtime takes well under a second when there is none (no socket, nothing
 * to time out on), so machines without Docker pay almost nothing.
 */
export default async function globalSetup(): Promise<void> {
  const runtime = await containerRuntime();
  if (runtime !== undefined) {
    const started = await startContainers();
    process.env['TEST_DATABASE_URL'] = started.databaseUrl;
    process.env['TEST_AMQP_URL'] = started.amqpUrl;
    // rabbitmqctl runs inside this container (rabbitmq-broker.ts), to close connections from the broker's side.
    process.env['TEST_RABBITMQ_CONTAINER'] = started.rabbitContainerId;
    console.log(`[test] using containers on ${runtime}: PostgreSQL ${redact(started.databaseUrl)}, RabbitMQ ${redact(started.amqpUrl)}`);
    return;
  }
  process.env['TEST_DATABASE_URL'] ??= DEFAULT_TEST_DATABASE_URL;
  process.env['TEST_AMQP_URL'] ??= DEFAULT_TEST_AMQP_URL;
  console.log(
    `[test] no container runtime; using PostgreSQL ${redact(process.env['TEST_DATABASE_URL'])} ` +
      `and RabbitMQ ${redact(process.env['TEST_AMQP_URL'])}`,
  );
}

/** The runtime's name when one answers, undefined otherwise. Never throws. */
const containerRuntime = async (): Promise<string | undefined> => {
  if (process.env['TESTCONTAINERS_DISABLED'] === 'true') return undefined;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    const client = await getContainerRuntimeClient();
    return client.info.containerRuntime.host;
  } catch {
    return undefined;
  }
};

const startContainers = async (): Promise<{ databaseUrl: string; amqpUrl: string; rabbitContainerId: string }> => {
  const { GenericContainer, Wait } = await import('testcontainers');
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const [postgres, rabbit] = await Promise.all([
    new PostgreSqlContainer('postgres:15-alpine').withUsername('postgres').withPassword('postgres').start(),
    new GenericContainer('rabbitmq:3.13-alpine')
      .withExposedPorts(5672)
      .withWaitStrategy(Wait.forLogMessage(/Server startup complete/))
      .start(),
  ]);
  return {
    databaseUrl: postgres.getConnectionUri(),
    amqpUrl: `amqp://guest:guest@${rabbit.getHost()}:${rabbit.getMappedPort(5672)}`,
    rabbitContainerId: rabbit.getId(),
  };
};

const redact = (url: string): string => {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
};
