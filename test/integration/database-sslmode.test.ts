import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applySchema } from '../../src/adapters/postgres/migrate.js';
import { createScheduler } from '../../src/client/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { until } from '../support/worker-process.js';
import { useWorkerSuite } from '../support/worker-suite.js';
import { oneStderrLine, runCli } from './cli-run.js';

/**
 * Every sslmode libpq documents, against the test server, which has no TLS (`SHOW ssl` is off):
 * disable, allow and prefer connect without TLS, as libpq does; require, verify-ca and verify-full
 * fail with one line saying why and naming DB_SSLMODE. slonik's URL parser knew only disable,
 * no-verify and require, and refused the others with a parser error.
 */
describe('DB_SSLMODE and sslmode in DATABASE_URL', () => {
  let database: TestDatabase;
  let directory: string;
  let rootCert: string;
  beforeAll(async () => {
    database = await createTestDatabase();
    await applySchema(database.url);
    directory = mkdtempSync(join(tmpdir(), 'atw-ssl-'));
    rootCert = join(directory, 'root.crt');
    // Never read by a TLS handshake here (the server has no TLS); the file only has to exist.
    writeFileSync(rootCert, '-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n');
  });
  afterAll(async () => {
    rmSync(directory, { recursive: true, force: true });
    await database.drop();
  });

  const parts = (): Record<string, string> => {
    const url = new URL(database.url);
    return {
      DB_HOST: url.hostname,
      DB_PORT: url.port || '5432',
      DB_USER: decodeURIComponent(url.username),
      DB_NAME: url.pathname.slice(1),
    };
  };
  const withSslMode = (mode: string, extra = ''): string => `${database.url}?sslmode=${mode}${extra}`;

  it.each(['disable', 'allow', 'prefer'])('connects without TLS with DB_SSLMODE=%s, as libpq does', async (mode) => {
    const result = await runCli(['stats', '--json'], { env: { ...parts(), DB_SSLMODE: mode } });
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
  });

  it.each(['disable', 'allow', 'prefer'])('connects without TLS with sslmode=%s in DATABASE_URL', async (mode) => {
    const result = await runCli(['stats', '--json'], { env: { DATABASE_URL: withSslMode(mode) } });
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
  });

  it.each([
    ['require', {}],
    ['verify-full', {}],
    ['verify-ca', { DATABASE_URL: 'sslrootcert' }],
    ['no-verify', { DATABASE_URL: '' }],
  ])('refuses the server without TLS with sslmode %s, in one line naming DB_SSLMODE', async (mode, how) => {
    const env: Record<string, string> =
      'DATABASE_URL' in how
        ? { DATABASE_URL: withSslMode(mode, how.DATABASE_URL === 'sslrootcert' ? `&sslrootcert=${rootCert}` : '') }
        : { ...parts(), DB_SSLMODE: mode };
    const result = await runCli(['stats'], { env });
    expect(result.code).toBe(1);
    expect(oneStderrLine(result)).toMatch(
      /The server does not support SSL connections.*set DB_SSLMODE=disable, or enable ssl on the server/,
    );
  });

  it('gives the scheduling client the same modes on a connection string of its own', async () => {
    const hook = { type: 'http_callback' as const, payload: { url: 'https://example.com/hook', data: { n: 1 } } };
    for (const mode of ['disable', 'allow', 'prefer']) {
      const scheduler = createScheduler(withSslMode(mode));
      try {
        const scheduled = await scheduler.schedule(hook);
        expect({ mode, tag: scheduled._tag }).toEqual({ mode, tag: 'Right' });
      } finally {
        await scheduler.close();
      }
    }
    const strict = createScheduler(withSslMode('require'));
    try {
      const refused = await strict.schedule(hook).then(
        (result) => (result._tag === 'Left' ? result.left.message : 'scheduled'),
        (error: unknown) => String(error),
      );
      expect(refused).toMatch(/The server does not support SSL connections/);
    } finally {
      await strict.close();
    }
  });

  it('refuses at start-up, naming the variable, a mode or a setting that cannot work', async () => {
    const cases: ReadonlyArray<readonly [Record<string, string>, RegExp]> = [
      [{ ...parts(), DB_SSLMODE: 'verify-ca' }, /DB_SSLMODE=verify-ca needs the CA to check the server against/],
      [{ ...parts(), DB_SSLMODE: 'sometimes' }, /DB_SSLMODE must be one of .*\(got "sometimes"\)/],
      [
        { DATABASE_URL: withSslMode('sometimes') },
        /DATABASE_URL: sslmode must be one of disable, allow, prefer, require, verify-ca, verify-full/,
      ],
      [{ DATABASE_URL: withSslMode('verify-ca') }, /DATABASE_URL: sslmode verify-ca needs sslrootcert/],
      [
        { DATABASE_URL: withSslMode('verify-full', `&sslrootcert=${join(directory, 'missing.crt')}`) },
        /DATABASE_URL: sslrootcert .*missing\.crt cannot be read/,
      ],
    ];
    for (const [env, expected] of cases) {
      const result = await runCli(['stats'], { env });
      expect({ env, code: result.code }).toEqual({ env, code: 2 });
      expect(oneStderrLine(result)).toMatch(expected);
    }
  });
});

describe('a worker with sslmode=prefer on a server without TLS', () => {
  const suite = useWorkerSuite();

  it('connects its pool and its LISTEN connection without TLS, and delivers', async () => {
    const worker = suite.start({ DATABASE_URL: `${suite.database.url}?sslmode=prefer`, WORKER_POLLING_INTERVAL: '60' });
    await until(async () => worker.lines.some((line) => line.msg.startsWith('Listening on channel')), 30_000, 'LISTEN in place');
    // Polling every minute: a prompt delivery is the LISTEN connection's doing.
    await suite.db.client.query(
      `INSERT INTO scheduled_tasks (task_type, payload, execute_at)
       VALUES ('http_callback', jsonb_build_object('url', $1::text, 'data', 'prefer'), now())`,
      [suite.receiver.url('/prefer')],
    );
    await until(async () => suite.receiver.to('/prefer').length === 1, 20_000, 'the task delivered');
  }, 60_000);
});
