import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import * as E from 'fp-ts/lib/Either.js';
import { hostname } from 'node:os';
import { decodeConfig, EnvSchema } from '../../src/infrastructure/config/index.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

interface Service {
  image?: string;
  build?: unknown;
  container_name?: string;
  hostname?: string;
  ports?: unknown[];
  environment?: Record<string, string> | string[];
  env_file?: unknown;
  volumes?: string[];
  healthcheck?: { test?: string[] | string };
  depends_on?: Record<string, { condition: string }>;
  stop_grace_period?: string;
}

const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as { services: Record<string, Service> };
const environment = (service: Service): Record<string, string> =>
  Array.isArray(service.environment)
    ? Object.fromEntries(service.environment.map((entry) => [entry.split('=')[0], entry.split('=').slice(1).join('=')]))
    : Object.fromEntries(Object.entries(service.environment ?? {}).map(([key, value]) => [key, String(value)]));

/** No Docker engine here: read the compose file the way `docker compose` would and check what it means. */
describe('docker-compose.yml', () => {
  const services = compose.services;
  const worker = services['at-worker'] as Service;
  const env = environment(worker);

  it('has PostgreSQL, RabbitMQ, an SMTP catcher with a web UI, and the worker built from this Dockerfile', () => {
    expect(Object.keys(services).sort()).toEqual(['at-worker', 'mailpit', 'postgres', 'rabbitmq']);
    expect(services['postgres']?.image).toMatch(/^postgres:\d+/);
    expect(services['rabbitmq']?.image).toMatch(/^rabbitmq:/);
    expect(services['mailpit']?.image).toMatch(/^axllent\/mailpit/);
    expect(JSON.stringify(services['mailpit']?.ports)).toContain('8025');
    expect(worker.build).toBe('.');
    expect(existsSync(join(root, 'Dockerfile'))).toBe(true);
  });

  it('can be scaled: no container_name, hostname or fixed host port on the worker, and no WORKER_ID', () => {
    expect(worker.container_name).toBeUndefined();
    expect(worker.hostname).toBeUndefined();
    expect(worker.ports).toBeUndefined();
    expect(worker.env_file).toBeUndefined();
    expect(env['WORKER_ID']).toBeUndefined();
  });

  it('points the worker at the other services by their compose names', () => {
    expect(env).toMatchObject({
      DB_HOST: 'postgres',
      DB_PORT: '5432',
      DB_USER: environment(services['postgres'] as Service)['POSTGRES_USER'],
      DB_PASSWORD: environment(services['postgres'] as Service)['POSTGRES_PASSWORD'],
      DB_NAME: environment(services['postgres'] as Service)['POSTGRES_DB'],
      DB_MIGRATE: 'true',
      AMQP_URL: 'amqp://guest:guest@rabbitmq:5672',
      SMTP_HOST: 'mailpit',
      SMTP_PORT: '1025',
      HTTP_PORT: '8080',
    });
    expect(env['EMAIL_FROM']).toMatch(/@/);
    // The same names the config decoder reads: a typo here would silently fall back to a default.
    const known = Object.keys(EnvSchema.props);
    expect(Object.keys(env).filter((name) => !known.includes(name))).toEqual([]);
  });

  it('is a configuration the worker accepts, naming each replica after its hostname', () => {
    const config = decodeConfig(env);
    if (E.isLeft(config)) throw new Error(config.left.message);
    expect(config.right.worker.id).toBe(hostname());
    expect(config.right.database.url).toMatch(/^postgres:\/\/postgres:postgres@postgres:5432\/at_scheduler/);
    expect(config.right.smtp).toMatchObject({ host: 'mailpit', port: 1025, secure: false });
    expect(config.right.healthPort).toBe(8080);
  });

  it('starts the worker after its dependencies are healthy, checks its health, and lets it drain on stop', () => {
    expect(worker.depends_on).toMatchObject({
      postgres: { condition: 'service_healthy' },
      rabbitmq: { condition: 'service_healthy' },
      mailpit: { condition: expect.stringMatching(/^service_/) },
    });
    expect(services['postgres']?.healthcheck?.test).toBeDefined();
    expect(services['rabbitmq']?.healthcheck?.test).toBeDefined();
    expect(JSON.stringify(worker.healthcheck?.test)).toMatch(/127\.0\.0\.1:8080\/(readyz|healthz)/);
    const graceSeconds = Number.parseInt(worker.stop_grace_period ?? '10s', 10);
    expect(graceSeconds).toBeGreaterThan(Number(env['SHUTDOWN_TIMEOUT'] ?? 30));
  });

  it("leaves the schema to the workers' migrations: nothing is mounted into initdb", () => {
    const mounts = (services['postgres']?.volumes ?? []).filter((volume) => volume.includes('/docker-entrypoint-initdb.d/'));
    expect(mounts).toEqual([]);
  });
});
