import * as E from 'fp-ts/lib/Either.js';
import { EXIT, type OpenSession } from '../adapters/cli/io.js';
import { createSchemaMigrator } from '../adapters/postgres/migrate.js';
import { createFinishedHistories } from '../adapters/postgres/history-export.js';
import { createPostgresOperatorStore } from '../adapters/postgres/operator-store.js';
import { createPostgresScheduleStore } from '../adapters/postgres/schedule-store.js';
import { cronCalendar } from '../adapters/cron/croner-calendar.js';
import { runSchedulePass } from '../application/schedules/pass.js';
import { noScheduleMetrics } from '../application/schedules/ports.js';

// The pass's skips are recorded in schedule_events; a CLI command prints its own result only.
const silentLogger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
import { closePool, type DatabasePool } from '../adapters/postgres/pool.js';
import { secretScrubber } from '../shared/redact.js';
import { decodeConfig, loadEnvironment } from './config/index.js';
import { classifyConnectFailure, describeConnectFailure } from './connect-failure.js';
import { describeTarget, openProvenPool } from './database.js';

// `history` reads the row and its events side by side; nothing here needs more.
const POOL_SIZE = 2;

/**
 * The operator commands' session: the worker's configuration sources (environment, ./.env,
 * /app/.env), one small pool proven with a query, and the Postgres implementations of the operator
 * ports. `useSecrets` receives the configured secrets as soon as they are known, so that every later
 * line on stderr can be scrubbed of them (a connection error may quote the URL).
 */
export const openCliSession =
  (useSecrets: (scrub: (text: string) => string) => void): OpenSession =>
  async () => {
    const config = decodeConfig(loadEnvironment());
    if (E.isLeft(config)) return E.left({ exitCode: EXIT.usage, message: config.left.message });
    const scrub = secretScrubber(config.right.secrets);
    useSecrets((text) => scrub(text) as string);
    const target = describeTarget(config.right.database.url);
    let opened: DatabasePool;
    try {
      opened = await openProvenPool(config.right.database.url, POOL_SIZE);
    } catch (cause) {
      const failure = classifyConnectFailure(cause, config.right.database.url);
      return E.left({ exitCode: EXIT.no, message: `Failed to connect to database ${target}: ${describeConnectFailure(failure)}` });
    }
    return E.right({
      session: {
        store: createPostgresOperatorStore(opened),
        histories: createFinishedHistories(opened),
        schedules: createPostgresScheduleStore(opened),
        schedulePass: async () => {
          const { lookAheadMs, misfireGraceMs } = config.right.schedules;
          await runSchedulePass(
            { workerId: 'cli', lookAheadMs, misfireGraceMs },
            { store: createPostgresScheduleStore(opened), calendarFor: cronCalendar, metrics: noScheduleMetrics, logger: silentLogger },
          )();
        },
        migrator: createSchemaMigrator(config.right.database.url, { connectTimeoutMs: config.right.database.connectTimeoutMs }),
        stuckTimeoutMs: config.right.worker.stuckTimeoutMs,
        retention: { finishedMs: config.right.storage.finishedRetentionMs, failedMs: config.right.storage.failedRetentionMs },
        target,
      },
      close: () => closePool(opened),
    });
  };
