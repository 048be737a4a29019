import { errorMessage } from '../shared/error-message.js';
import type { Logger } from './ports.js';
import { WakeSignal } from './wake-signal.js';

/** How long finished tasks are kept, in milliseconds; null keeps them for ever. */
export interface RetentionPolicy {
  /** Completed and cancelled tasks, from their end. */
  readonly finishedMs: number | null;
  /** Failed tasks, from their end. */
  readonly failedMs: number | null;
}

/** What one maintenance pass did. All zero when another worker's pass held the lock. */
export interface MaintenanceReport {
  readonly partitionsCreated: number;
  readonly tasksRemoved: number;
  readonly eventsRemoved: number;
  readonly partitionsDropped: readonly string[];
}

/** What keeps the tables healthy for years: autovacuum, and their sizes. */
export interface StorageHealth {
  /** The server's `autovacuum` setting. */
  readonly autovacuumServer: boolean;
  /** Tables (task_events counted by its partitions) with autovacuum_enabled = false. */
  readonly autovacuumOffTables: readonly string[];
  /** Bytes on disk with indexes and TOAST, and the planner's row estimate, per table. */
  readonly tables: readonly { readonly table: string; readonly bytes: number; readonly rows: number }[];
}

/** The store's side of maintenance: partitions ahead of need, then retention, one worker at a time. */
export interface HistoryMaintenanceStore {
  /** `stopping` is asked between steps: a pass behind a large backlog ends early at shutdown. */
  runPass(workerId: string, policy: RetentionPolicy, stopping?: () => boolean): Promise<MaintenanceReport>;
}

/** `30d`, `12h`, `15m`, `90s` (the largest unit that divides it), or `forever`: as TASK_RETENTION is written. */
export const describeRetention = (ms: number | null): string => {
  if (ms === null) return 'forever';
  const unit = (
    [
      ['d', 86_400_000],
      ['h', 3_600_000],
      ['m', 60_000],
    ] as const
  ).find(([, size]) => ms % size === 0);
  return unit === undefined ? `${ms / 1000}s` : `${ms / unit[1]}${unit[0]}`;
};

export const describePolicy = (policy: RetentionPolicy): string =>
  `completed and cancelled kept ${describeRetention(policy.finishedMs)}, failed ${describeRetention(policy.failedMs)}`;

/**
 * Runs a maintenance pass at start and then every `intervalMs` until stopped, never overlapping. Every
 * worker runs one; the store lets one pass at a time do the work, so N workers cost one pass.
 */
export class HistoryMaintenance {
  private readonly stopSignal = new WakeSignal();
  private stopped = false;
  private loop: Promise<void> | null = null;

  constructor(
    private readonly options: { readonly intervalMs: number; readonly workerId: string; readonly policy: RetentionPolicy },
    private readonly store: HistoryMaintenanceStore,
    private readonly logger: Logger,
    private readonly onPass: (report: MaintenanceReport) => void = () => undefined,
  ) {}

  start(): void {
    if (this.loop !== null) return;
    const { intervalMs, policy } = this.options;
    this.logger.info(`[Maintenance] Started with interval ${intervalMs / 1000} s, retention ${describePolicy(policy)}`);
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopSignal.wake();
    await this.loop;
  }

  /** One pass now; the loop calls it, and so can a test or an operator command. */
  async runOnce(): Promise<MaintenanceReport> {
    const report = await this.store.runPass(this.options.workerId, this.options.policy, () => this.stopped);
    if (report.tasksRemoved > 0 || report.eventsRemoved > 0 || report.partitionsDropped.length > 0) {
      this.logger.info(
        `[Maintenance] Retention removed ${report.tasksRemoved} tasks and ${report.eventsRemoved} events` +
          `${report.partitionsDropped.length > 0 ? `, dropped ${report.partitionsDropped.join(', ')}` : ''}`,
        { ...report, partitionsDropped: report.partitionsDropped.length },
      );
    }
    if (report.partitionsCreated > 0) {
      this.logger.info(`[Maintenance] Created ${report.partitionsCreated} history partition(s) ahead of need`);
    }
    this.onPass(report);
    return report;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.runOnce();
      } catch (cause) {
        this.logger.error(`[Maintenance] Pass failed: ${errorMessage(cause)}`);
      }
      await this.stopSignal.wait(this.options.intervalMs);
    }
  }
}
