import * as E from 'fp-ts/lib/Either.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDsn } from '@slonik/utilities';
import { decodeConfig, loadEnvironment, type Config } from '../../src/infrastructure/config/index.js';
import { describeTarget } from '../../src/infrastructure/database.js';

const decode = (env: Record<string, string>): Config => {
  const result = decodeConfig(env);
  if (E.isLeft(result)) throw new Error(result.left.message);
  return result.right;
};
const refusal = (env: Record<string, string>): string => {
  const result = decodeConfig(env);
  if (E.isRight(result)) throw new Error('expected the configuration to be refused');
  return result.left.message;
};

describe('configuration', () => {
  it("applies the seed's defaults", () => {
    const config = decode({});
    expect(config.database.url).toBe('postgres://postgres:postgres@localhost:5432/at_scheduler?sslmode=disable');
    expect(config.worker).toMatchObject({
      id: hostname(),
      pollIntervalMs: 5000,
      batchSize: 10,
      prefetch: 0,
      cleanerIntervalMs: 5 * 60_000,
      stuckTimeoutMs: 5 * 60_000,
      taskTimeoutMs: 300_000,
      shutdownTimeoutMs: 30_000,
    });
    expect(config.http.timeoutMs).toBe(30_000);
    expect(config.database.migrate).toBe(true);
  });

  it('accepts fractions of seconds and minutes', () => {
    const config = decode({ WORKER_POLLING_INTERVAL: '0.2', WORKER_CLEANER_INTERVAL: '0.05', WORKER_STUCK_TIMEOUT: '0.05' });
    expect(config.worker.pollIntervalMs).toBe(200);
    expect(config.worker.cleanerIntervalMs).toBe(3000);
    expect(config.worker.stuckTimeoutMs).toBe(3000);
  });

  it('lets DATABASE_URL override the DB_* variables', () => {
    const config = decode({ DATABASE_URL: 'postgres://app@db.internal/tasks', DB_HOST: 'ignored' });
    expect(config.database.url).toBe('postgres://app@db.internal/tasks');
  });

  it('builds a URL the driver reads DB_HOST back from as written: a socket directory, reserved characters', () => {
    const socket = decode({ DB_HOST: '/var/run/postgresql', DB_USER: 'app', DB_PASSWORD: 'p@ss/word', DB_NAME: 'tasks' });
    expect(socket.database.url).toBe('postgres://app:p%40ss%2Fword@%2Fvar%2Frun%2Fpostgresql:5432/tasks?sslmode=disable');
    expect(parseDsn(socket.database.url)).toMatchObject({
      host: '/var/run/postgresql',
      username: 'app',
      password: 'p@ss/word',
      databaseName: 'tasks',
    });
    expect(describeTarget(socket.database.url)).toBe('/var/run/postgresql:5432/tasks');
    expect(parseDsn(decode({ DB_HOST: '[::1]' }).database.url)).toMatchObject({ host: '[::1]' });
    expect(parseDsn(decode({ DB_HOST: 'db.internal' }).database.url)).toMatchObject({ host: 'db.internal', port: 5432 });
  });

  it('honours host, user and password given as DATABASE_URL query parameters, as libpq does', () => {
    const config = decode({ DATABASE_URL: 'postgres:///tasks?host=/var/run/postgresql&user=app&password=s%23cret&application_name=w' });
    expect(parseDsn(config.database.url)).toMatchObject({
      host: '/var/run/postgresql',
      username: 'app',
      password: 's#cret',
      databaseName: 'tasks',
      applicationName: 'w',
    });
    expect(config.secrets).toContain('s#cret');
    expect(parseDsn(decode({ DATABASE_URL: 'postgres://db.internal:6432/tasks?user=app' }).database.url)).toMatchObject({
      host: 'db.internal',
      port: 6432,
      username: 'app',
    });
    // Nothing to move: the URL is used as given.
    expect(decode({ DATABASE_URL: 'postgres://app@db.internal/tasks?sslmode=require' }).database.url).toBe(
      'postgres://app@db.internal/tasks?sslmode=require',
    );
  });

  it('refuses a bad value with one line naming the variable and what it expected', () => {
    const message = refusal({ WORKER_BATCH_SIZE: 'ten' });
    expect(message).toBe('Invalid configuration: WORKER_BATCH_SIZE must be a positive integer (got "ten")');
    expect(message).not.toContain('\n');
    expect(refusal({ WORKER_POLLING_INTERVAL: '-1' })).toContain('WORKER_POLLING_INTERVAL must be a positive number of seconds');
    expect(refusal({ DB_MIGRATE: 'maybe' })).toContain('DB_MIGRATE must be true or false');
    expect(refusal({ DATABASE_URL: 'mysql://x' })).toContain('DATABASE_URL must be a postgres or postgresql URL');
    expect(refusal({ WORKER_PREFETCH: '-5' })).toContain('WORKER_PREFETCH must be a non-negative integer (got "-5")');
    expect(decode({ WORKER_PREFETCH: '100' }).worker.prefetch).toBe(100);
  });

  it('refuses durations a timer cannot wait: over about 24 days, or under a millisecond', () => {
    // A huge TASK_TIMEOUT "to turn it off" would otherwise time out every task at once.
    expect(refusal({ TASK_TIMEOUT: '3000000' })).toBe(
      'Invalid configuration: TASK_TIMEOUT must be a positive number of seconds, at most 2147483 (about 24 days) (got "3000000")',
    );
    expect(refusal({ WORKER_STUCK_TIMEOUT: '40000' })).toContain(
      'WORKER_STUCK_TIMEOUT must be a positive number of minutes, at most 35791',
    );
    expect(refusal({ WORKER_POLLING_INTERVAL: '0.0001' })).toContain('WORKER_POLLING_INTERVAL must be a positive number of seconds');
    expect(decode({ TASK_TIMEOUT: '2147483', WORKER_STUCK_TIMEOUT: '35791' }).worker).toMatchObject({
      taskTimeoutMs: 2_147_483_000,
      stuckTimeoutMs: 2_147_460_000,
    });
  });

  it('names every bad variable on the same line', () => {
    expect(refusal({ WORKER_CONCURRENCY: '0', LOG_LEVEL: 'loud' })).toBe(
      'Invalid configuration: WORKER_CONCURRENCY must be a positive integer (got "0"); ' +
        'LOG_LEVEL must be one of debug, info, warn, error (got "loud")',
    );
  });

  it('never puts a password into the error line', () => {
    expect(refusal({ DB_PASSWORD: 's3cret-canary', DB_PORT: 'x' })).not.toContain('s3cret-canary');
  });

  it('hides the user-info of a refused URL, even one no URL parser can read', () => {
    const database = refusal({ DATABASE_URL: 'postgres://admin:Top#S3cret/Pw@host/db' });
    expect(database).toBe('Invalid configuration: DATABASE_URL must be a postgres or postgresql URL (got "postgres://***@host/db")');
    const amqp = refusal({ AMQP_URL: 'amqp://u:Top#S3cret/Pw@mq:5672' });
    expect(amqp).toBe('Invalid configuration: AMQP_URL must be a amqp or amqps URL (got "amqp://***@mq:5672")');
    expect(refusal({ DATABASE_URL: 'mysql://h/db?user=u&password=Top#S3cret' })).not.toContain('S3cret');
  });

  it('knows which values are secrets, so logs can scrub them', () => {
    const config = decode({
      DB_PASSWORD: 'db-canary',
      SMTP_USER: 'mailer',
      SMTP_PASSWORD: 'smtp-canary',
      AMQP_URL: 'amqp://u:amqp-canary@h:5672',
    });
    expect(config.secrets).toEqual(expect.arrayContaining(['db-canary', 'smtp-canary', 'amqp-canary']));
  });

  it('reads the environment over ./.env over /app/.env', () => {
    const dir = mkdtempSync(join(tmpdir(), 'atw-env-'));
    const appEnv = join(dir, 'app.env');
    const localEnv = join(dir, 'local.env');
    writeFileSync(appEnv, 'WORKER_BATCH_SIZE=7\nWORKER_ID=from-app\nDB_NAME=app_db\n');
    writeFileSync(localEnv, 'WORKER_ID=from-local\nDB_NAME=local_db\n');
    const env = loadEnvironment({ DB_NAME: 'from_process' }, [appEnv, localEnv, join(dir, 'missing.env')]);
    rmSync(dir, { recursive: true, force: true });
    expect(env).toMatchObject({ WORKER_BATCH_SIZE: '7', WORKER_ID: 'from-local', DB_NAME: 'from_process' });
  });
});

describe('configuration of the http executor', () => {
  it('refuses a malformed WEBHOOK_SECRET at start-up without echoing it', () => {
    const message = refusal({ WEBHOOK_SECRET: 'not-a-whsec-secret-value' });
    expect(message).toMatch(/^Invalid configuration: WEBHOOK_SECRET must be whsec_/);
    expect(message).not.toContain('not-a-whsec-secret-value');
  });

  it('refuses a malformed HTTP_ALLOWED_HOSTS entry', () => {
    expect(refusal({ HTTP_ALLOWED_HOSTS: '10.0.0.0/99' })).toMatch(/^Invalid configuration: HTTP_ALLOWED_HOSTS: /);
  });
});

describe('configuration of the rabbitmq and email executors', () => {
  it('turns rabbitmq off with an empty AMQP_URL and keeps the default when unset', () => {
    expect(decode({ AMQP_URL: '' }).amqp.url).toBeNull();
    expect(decode({}).amqp.url).toBe('amqp://guest:guest@localhost:5672');
  });

  it('turns tracing on only with OTEL_TRACES_EXPORTER=otlp, and refuses what it cannot export', () => {
    expect(decode({}).tracing).toEqual({ enabled: false, serviceName: 'at-worker', endpointSet: false });
    expect(decode({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).tracing).toMatchObject({ enabled: false, endpointSet: true });
    expect(decode({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_SERVICE_NAME: 'billing-worker' }).tracing).toMatchObject({
      enabled: true,
      serviceName: 'billing-worker',
    });
    expect(decode({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_SDK_DISABLED: 'true' }).tracing.enabled).toBe(false);
    expect(refusal({ OTEL_TRACES_EXPORTER: 'jaeger' })).toContain('OTEL_TRACES_EXPORTER must be one of none, otlp (got "jaeger")');
    expect(refusal({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toContain('OTEL_EXPORTER_OTLP_PROTOCOL must be one of http/protobuf');
    expect(refusal({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toContain('OTEL_EXPORTER_OTLP_ENDPOINT must be a http or https URL');
  });

  it('picks the SMTP port from SMTP_SECURE unless given', () => {
    expect(decode({ SMTP_HOST: 'mail' }).smtp.port).toBe(587);
    expect(decode({ SMTP_HOST: 'mail', SMTP_SECURE: 'true' }).smtp.port).toBe(465);
    expect(decode({ SMTP_HOST: 'mail', SMTP_PORT: '2525' }).smtp.port).toBe(2525);
  });

  it('refuses an invalid EMAIL_FROM and a user without a password', () => {
    expect(refusal({ EMAIL_FROM: 'not an address' })).toMatch(/^Invalid configuration: EMAIL_FROM/);
    expect(refusal({ SMTP_USER: 'me' })).toBe('Invalid configuration: SMTP_USER and SMTP_PASSWORD must be set together');
  });

  it('reads retention as a duration with a unit or forever, defaulting to 30 days and 90 for failed tasks', () => {
    expect(decode({}).storage).toEqual({
      finishedRetentionMs: 30 * 86_400_000,
      failedRetentionMs: 90 * 86_400_000,
      partitionSize: 1_000_000,
      maintenanceIntervalMs: 60_000,
    });
    expect(decode({ TASK_RETENTION: '12h', TASK_RETENTION_FAILED: 'forever' }).storage).toMatchObject({
      finishedRetentionMs: 12 * 3_600_000,
      failedRetentionMs: null,
    });
    expect(decode({ TASK_RETENTION: 'Forever', TASK_RETENTION_FAILED: '90s' }).storage).toMatchObject({
      finishedRetentionMs: null,
      failedRetentionMs: 90_000,
    });
    expect(refusal({ TASK_RETENTION: '30' })).toBe(
      `Invalid configuration: TASK_RETENTION must be a duration with a unit (30d, 12h, 15m, 90s) or 'forever' (got "30")`,
    );
    expect(refusal({ TASK_RETENTION_FAILED: '-1d' })).toMatch(/^Invalid configuration: TASK_RETENTION_FAILED must be a duration/);
    expect(refusal({ TASK_HISTORY_PARTITION_SIZE: '0' })).toMatch(
      /^Invalid configuration: TASK_HISTORY_PARTITION_SIZE must be a positive integer/,
    );
  });
});
