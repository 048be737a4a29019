import * as E from 'fp-ts/lib/Either.js';
import { parseArgs } from 'node:util';
import { startDashboardServer } from '../adapters/dashboard/server.js';
import { createPostgresDashboardReader } from '../adapters/postgres/dashboard-reader.js';
import { createPostgresOperatorStore } from '../adapters/postgres/operator-store.js';
import { createPostgresScheduleStore } from '../adapters/postgres/schedule-store.js';
import { cronCalendar } from '../adapters/cron/croner-calendar.js';
import { closePool } from '../adapters/postgres/pool.js';
import { errorMessage } from '../shared/error-message.js';
import { decodeConfig, loadEnvironment } from './config/index.js';
import { connectToDatabase } from './database.js';
import { secretScrubber } from '../shared/redact.js';
import { createLogger } from './logging.js';

// The overview's reads run one after another in one transaction, a task page reads two queries at
// once, and two people may look at the same time: three connections, whatever the worker's pool.
const POOL_SIZE = 3;
const DEFAULT_PORT = 8081;
// A page is a glance: a query still running after this (a month-long range, a filter no index
// serves) is stopped rather than left holding a connection and a core the workers share.
const STATEMENT_TIMEOUT_MS = 10_000;

export const DASHBOARD_HELP = `Usage: at-worker dashboard [--port N] [--host ADDRESS]

Serves the operator dashboard: overview (counts, the last hour's throughput and lateness, stuck
tasks, failures by type and error, workers seen), the task list (filters, newest first) and each
task's payload (credentials masked), timeline and verify result; the recurring schedules; and
retention, what it keeps and its latest passes. Reads the same configuration as the worker
(DATABASE_URL or DB_*, WORKER_STUCK_TIMEOUT, TASK_RETENTION, TASK_RETENTION_FAILED). See
docs/dashboard.md.

  --port N          port to listen on (default ${DEFAULT_PORT}; 0 picks a free one and logs it)
  --host ADDRESS    address to listen on (default 127.0.0.1; 0.0.0.0 or :: for every interface)

Read-only unless DASHBOARD_TOKEN is set: then an operator who signs in with it (or a script that
sends "Authorization: Bearer <token>") may retry a failed task, cancel a pending one, or pause and resume a
schedule, recorded as the CLI's retry, cancel, pause and resume are. Stops on SIGTERM / SIGINT.
`;

/**
 * `at-worker dashboard`: its own process with its own small pool, not a part of every worker (see
 * docs/dashboard.md for why). Bad usage or configuration: one line on stderr and exit 2.
 */
export const runDashboard = async (argv: readonly string[]): Promise<number> => {
  let options: { port: number; host: string };
  try {
    const parsed = parseArgs({
      args: [...argv],
      options: { port: { type: 'string' }, host: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    });
    if (parsed.values.help === true) {
      process.stdout.write(DASHBOARD_HELP);
      return 0;
    }
    const port = parsed.values.port === undefined ? DEFAULT_PORT : Number(parsed.values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new Error(`--port must be a port number 0-65535 (got ${JSON.stringify(parsed.values.port)})`);
    options = { port, host: parsed.values.host ?? '127.0.0.1' };
  } catch (cause) {
    process.stderr.write(`at-worker dashboard: ${errorMessage(cause)} (see at-worker dashboard --help)\n`);
    return 2;
  }
  const config = decodeConfig(loadEnvironment());
  if (E.isLeft(config)) {
    process.stderr.write(`${config.left.message}\n`);
    return 2;
  }
  const { database, log, secrets, worker, dashboard, storage } = config.right;
  const logger = createLogger({ ...log, workerId: `${worker.id}/dashboard`, secrets });
  const scrub = secretScrubber(secrets);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    const pool = await connectToDatabase(database.url, POOL_SIZE, logger, {
      patienceMs: database.connectTimeoutMs,
      abort: stop.signal,
      statementTimeoutMs: STATEMENT_TIMEOUT_MS,
    });
    try {
      const server = await startDashboardServer({
        port: options.port,
        host: options.host,
        reader: createPostgresDashboardReader(pool),
        store: createPostgresOperatorStore(pool),
        schedules: createPostgresScheduleStore(pool),
        calendarFor: cronCalendar,
        retention: { finishedMs: storage.finishedRetentionMs, failedMs: storage.failedRetentionMs },
        stuckTimeoutMs: worker.stuckTimeoutMs,
        statementTimeoutMs: STATEMENT_TIMEOUT_MS,
        token: dashboard.token,
        scrub: (text) => scrub(text) as string,
        logger,
      });
      await new Promise((resolve) => stop.signal.addEventListener('abort', resolve, { once: true }));
      await server.close();
    } finally {
      await closePool(pool);
    }
    logger.info('Dashboard stopped');
    return 0;
  } catch (cause) {
    if (stop.signal.aborted) return 0;
    logger.error(errorMessage(cause));
    return 1;
  }
};
