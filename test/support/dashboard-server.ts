import type { DatabasePool } from 'slonik';
import { cronCalendar } from '../../src/adapters/cron/croner-calendar.js';
import { startDashboardServer, type DashboardOptions, type DashboardServer } from '../../src/adapters/dashboard/server.js';
import { createPostgresDashboardReader } from '../../src/adapters/postgres/dashboard-reader.js';
import { createPostgresOperatorStore } from '../../src/adapters/postgres/operator-store.js';
import { createPostgresScheduleStore } from '../../src/adapters/postgres/schedule-store.js';
import { RecordingLogger } from './recording-logger.js';

/**
 * The dashboard's server on a free loopback port, reading `pool` through the PostgreSQL adapters the
 * `dashboard` command wires: retention kept forever, no secrets to scrub, a token set, and whatever
 * `options` changes.
 */
export const startPostgresDashboard = (pool: DatabasePool, options: Partial<DashboardOptions> = {}): Promise<DashboardServer> =>
  startDashboardServer({
    port: 0,
    host: '127.0.0.1',
    reader: createPostgresDashboardReader(pool),
    store: createPostgresOperatorStore(pool),
    schedules: createPostgresScheduleStore(pool),
    calendarFor: cronCalendar,
    retention: { finishedMs: null, failedMs: null },
    stuckTimeoutMs: 300_000,
    statementTimeoutMs: 5_000,
    token: 'test-dashboard-token-0123456789',
    scrub: (text) => text,
    logger: new RecordingLogger(),
    ...options,
  });
