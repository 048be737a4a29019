import { randomBytes } from 'node:crypto';
import { DEFAULT_TEST_DATABASE_URL } from '../support/database.js';
import { freePort } from '../support/net.js';
import { spawnWorker } from '../support/worker-process.js';
import { oneStderrLine, runCli } from './cli-run.js';

const server = new URL(process.env['TEST_DATABASE_URL'] ?? DEFAULT_TEST_DATABASE_URL);
const urlWith = (change: (url: URL) => void): string => {
  const url = new URL(server.toString());
  change(url);
  return url.toString();
};
const missingDatabase = () => urlWith((url) => (url.pathname = `/atw_missing_${randomBytes(4).toString('hex')}`));
const missingRole = () => urlWith((url) => (url.username = `atw_nobody_${randomBytes(4).toString('hex')}`));

// Long enough that a worker which retried a lasting failure would still be retrying when the test gives up.
const PATIENT = { DB_CONNECT_TIMEOUT: '300', LOG_LEVEL: 'info' };

/**
 * A connection that waiting cannot fix ends start-up at once, with what to do; one that may pass
 * (nothing listening yet, the server starting) is retried for DB_CONNECT_TIMEOUT, as before.
 */
describe('connecting to the database', () => {
  it.each([
    [
      'a database that does not exist',
      missingDatabase,
      /does not exist; create it \(createdb -h .+ -p \d+ -U \w+ atw_missing_\w+\) or set DB_NAME/,
    ],
    ['a role that does not exist', missingRole, /role "atw_nobody_\w+" does not exist; check DB_USER/],
  ])('stops the worker at once for %s, saying what to do', async (_name, url, expected) => {
    const worker = spawnWorker({ ...PATIENT, DATABASE_URL: url() });
    expect(await worker.exited).toBe(1);
    const failures = worker.lines.filter((line) => line.msg.startsWith('Failed to connect to database'));
    expect(failures.map((line) => line['attempt'])).toEqual([1, undefined]); // the attempt, then the reason it stopped
    expect(failures.at(-1)?.msg).toMatch(expected);
  });

  it('keeps retrying a server that refuses connections, until DB_CONNECT_TIMEOUT', async () => {
    const port = await freePort();
    const worker = spawnWorker({ DB_CONNECT_TIMEOUT: '2', DATABASE_URL: urlWith((url) => (url.port = String(port))) });
    expect(await worker.exited).toBe(1);
    const attempts = worker.lines.filter((line) => line.msg.startsWith('Failed to connect to database') && line['attempt'] !== undefined);
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    expect(attempts[0]?.msg).toContain('ECONNREFUSED');
  });

  it('gives an operator command the same hint, in one line', async () => {
    const result = await runCli(['stats'], { env: { DATABASE_URL: missingDatabase() } });
    expect(result.code).toBe(1);
    expect(oneStderrLine(result)).toMatch(/^at-worker stats: Failed to connect to database .+ does not exist; create it \(createdb /);
  });
});
