import type { Cleaner } from '../application/cleaner.js';
import type { HistoryMaintenance, StorageHealth } from '../application/history-maintenance.js';
import { autovacuumWarning } from '../adapters/postgres/storage-health.js';
import type { Logger } from '../application/ports.js';
import type { Worker } from '../application/worker.js';
import type { ScheduleStore } from '../application/schedules/ports.js';
import type { Scheduler } from '../application/schedules/scheduler.js';
import { applySchedulesFile } from './schedules-file.js';
import { closePool } from '../adapters/postgres/pool.js';
import { checkSchema, migrate } from '../adapters/postgres/migrate.js';
import { errorMessage } from '../shared/error-message.js';
import type { Config } from './config/index.js';
import { buildContainer } from './container.js';
import { connectToDatabase, openProvenPool } from './database.js';
import { createExecutors } from './executors.js';
import { firstTaskHint } from './first-task-hint.js';
import { createLogger } from './logging.js';
import { startObservability } from './observability.js';
import { TOKENS } from './tokens.js';
import { startTracing } from './tracing.js';
import { startWakeUps } from './wake-ups.js';

type Closer = () => Promise<void>;

/**
 * The worker's whole life: connect, migrate, start the loop and the cleaner, then on SIGTERM/SIGINT/SIGHUP
 * stop claiming, let in-flight tasks finish up to SHUTDOWN_TIMEOUT, release the rest, and close
 * everything in reverse order. A second signal exits at once; the cleaner of another worker (or of
 * this one, next start) recovers whatever was left in processing.
 *
 * The signals are listened for from the first step: a signal during start-up stops the start-up
 * (a connection still being retried gives up at once) and nothing is claimed; the exit code is 0.
 */
export const runWorker = async (config: Config, options: { embedded: boolean }): Promise<number> => {
  const logger = createLogger({ ...config.log, workerId: config.worker.id, secrets: config.secrets });
  const closers: Closer[] = [];
  const signals = listenForSignals(logger);
  try {
    const databaseUrl = options.embedded ? await startEmbedded(logger, closers, config.database.url) : config.database.url;
    const pool = await connectToDatabase(databaseUrl, config.database.poolSize, logger, {
      patienceMs: config.database.connectTimeoutMs,
      abort: signals.received,
    });
    closers.push(() => closePool(pool));
    // Limits with a rate call the database every few ms while tasks start: on a connection of their
    // own, those calls neither wait behind claims and attempt ends for a free one nor take one from them.
    const limitsPool = config.destinationLimits.length === 0 ? undefined : await openProvenPool(databaseUrl, 1);
    if (limitsPool !== undefined) closers.push(() => closePool(limitsPool));
    const schemaOptions = { logger, signal: signals.received, connectTimeoutMs: config.database.connectTimeoutMs };
    if (config.database.migrate) await migrate(databaseUrl, schemaOptions);
    else await checkSchema(databaseUrl, schemaOptions);

    // First to open, last to close: the spans of the final attempt ends are still exported.
    const tracing = await startTracing(config, logger);
    closers.push(tracing.close);
    const executors = await createExecutors(config, logger);
    closers.push(executors.close);
    if (executors.cannotRun.length > 0) {
      logger.info(`Not claiming ${executors.cannotRun.join(', ')} tasks: not configured here; they wait for a worker that is`, {
        cannotRun: executors.cannotRun,
      });
    }
    const wakeUps = startWakeUps(databaseUrl, config, logger, pool);
    closers.push(wakeUps.close);
    const observability = await startObservability(config, logger, pool, () => signals.received.aborted, wakeUps.probes);
    closers.push(observability.close);

    const container = buildContainer({
      config,
      logger,
      pool,
      ...(limitsPool === undefined ? {} : { limitsPool }),
      executors: executors.byType,
      cannotRun: executors.cannotRun,
      metrics: observability.metrics,
      scheduleMetrics: observability.scheduleMetrics,
      wakeUps: wakeUps.sources,
      tracer: tracing.tracer,
    });
    await warnIfAutovacuumOff(container.get<() => Promise<StorageHealth>>(TOKENS.StorageHealth), logger);
    const worker = container.get<Worker>(TOKENS.Worker);
    const cleaner = container.get<Cleaner>(TOKENS.Cleaner);
    const maintenance = container.get<HistoryMaintenance>(TOKENS.HistoryMaintenance);
    const scheduler = container.get<Scheduler>(TOKENS.Scheduler);
    if (config.schedules.file !== null) {
      await applySchedulesFile(config.schedules.file, container.get<ScheduleStore>(TOKENS.ScheduleStore), logger);
    }
    if (!signals.received.aborted) {
      worker.start();
      cleaner.start();
      scheduler.start();
      maintenance.start();
      // Plain text, to be copied: on stdout between the readable log lines, or on stderr when
      // stdout carries JSON for a collector.
      if (options.embedded) (config.log.format === 'pretty' ? process.stdout : process.stderr).write(firstTaskHint(databaseUrl));
    }

    await signals.first;
    // Together: the worker stops claiming at once, even while a cleaner sweep is still waiting on
    // the database, and SHUTDOWN_TIMEOUT runs from the signal.
    await Promise.all([cleaner.stop(), scheduler.stop(), maintenance.stop(), worker.stop(config.worker.shutdownTimeoutMs)]);
    await closeAll(closers, logger);
    logger.info('Shutdown complete');
    return 0;
  } catch (cause) {
    const stoppedStartUp = signals.received.aborted && cause === signals.received.reason;
    if (!stoppedStartUp) logger.error(errorMessage(cause));
    await closeAll(closers, logger);
    if (stoppedStartUp) logger.info('Shutdown complete');
    return stoppedStartUp ? 0 : 1;
  }
};

/** One warning line at start-up when autovacuum is off for the server or the tables; never fatal. */
const warnIfAutovacuumOff = async (readStorageHealth: () => Promise<StorageHealth>, logger: Logger): Promise<void> => {
  try {
    const warning = autovacuumWarning(await readStorageHealth());
    if (warning !== null) logger.warn(warning);
  } catch (cause) {
    logger.warn(`Could not read the autovacuum settings: ${errorMessage(cause)}`);
  }
};

// SIGHUP too: a worker started from a terminal gets it when the session ends, and Node's default
// for it is to die on the spot with no log line, leaving its tasks to the stuck timeout. A hang-up
// means nobody is watching this process any more, so it stops as on SIGTERM (no reload is offered:
// the configuration is read once, at start).
const STOP_SIGNALS = { SIGTERM: 'terminated', SIGINT: 'interrupt', SIGHUP: 'hangup' } as const;
type StopSignal = keyof typeof STOP_SIGNALS;

/**
 * Listens for SIGTERM, SIGINT and SIGHUP at once. Node has no handler until one is added, and the
 * default ends the process on the spot: listening only after the worker started left a moment in
 * which a signal killed a worker that had begun claiming, skipping the graceful shutdown. The first
 * signal aborts `received` and resolves `first`; a second one exits at once.
 */
const listenForSignals = (logger: Logger): { readonly first: Promise<NodeJS.Signals>; readonly received: AbortSignal } => {
  const controller = new AbortController();
  const names = Object.keys(STOP_SIGNALS) as StopSignal[];
  const first = new Promise<NodeJS.Signals>((resolve) => {
    const handlers = new Map(names.map((signal) => [signal, () => onFirst(signal)] as const));
    const onFirst = (signal: StopSignal) => {
      handlers.forEach((handler, name) => process.removeListener(name, handler));
      logger.info(`Received signal ${STOP_SIGNALS[signal]}, initiating graceful shutdown...`);
      names.forEach((name) => process.once(name, () => exitNow(logger)));
      controller.abort(new Error(`stopped by ${signal} during start-up`));
      resolve(signal);
    };
    handlers.forEach((handler, name) => process.once(name, handler));
  });
  return { first, received: controller.signal };
};

const exitNow = (logger: Logger): void => {
  logger.warn('Received a second signal, exiting immediately; unfinished tasks stay in processing until the cleaner recovers them');
  process.exit(1);
};

const closeAll = async (closers: Closer[], logger: Logger): Promise<void> => {
  for (const close of closers.reverse()) {
    try {
      await close();
    } catch (cause) {
      logger.warn(`Error while closing: ${errorMessage(cause)}`);
    }
  }
  closers.length = 0;
};

/** Runs, on 127.0.0.1, the database that DB_* / DATABASE_URL describe, so the CLI finds it unchanged. */
const startEmbedded = async (logger: Logger, closers: Closer[], url: string): Promise<string> => {
  const { startEmbeddedPostgres, embeddedTarget } = await import('./embedded-postgres.js');
  const embedded = await startEmbeddedPostgres({ dataDir: './.data', logger, ...embeddedTarget(url) });
  closers.push(() => embedded.stop());
  return embedded.url;
};
