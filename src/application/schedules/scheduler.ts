import { errorMessage } from '../../shared/error-message.js';
import type { Logger } from '../ports.js';
import { WakeSignal } from '../wake-signal.js';
import type { SchedulePassReport } from './pass.js';

export interface SchedulerOptions {
  /** The longest wait between passes (SCHEDULES_INTERVAL): how soon a new or resumed schedule is seen. */
  readonly intervalMs: number;
}

// A schedule still due right after a pass is held by another worker's pass: look again this soon
// rather than spinning on the database.
const CONTENDED_RETRY_MS = 50;

/**
 * Runs the schedule pass whenever the store says it has work (an 'allow' schedule half a look-ahead
 * before its next occurrence, a 'skip' one at its instant), asking at least every `intervalMs` (a
 * schedule added or resumed meanwhile is seen then). One pass at a time.
 */
export class Scheduler {
  private readonly stopSignal = new WakeSignal();
  private stopped = false;
  private loop: Promise<void> | null = null;

  constructor(
    private readonly options: SchedulerOptions,
    private readonly pass: () => Promise<SchedulePassReport>,
    private readonly msUntilNextPass: () => Promise<number | null>,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (this.loop !== null) return;
    this.logger.info(`[Schedules] Started, passes at least every ${this.options.intervalMs / 1000} s`);
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopSignal.wake();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let waitMs = this.options.intervalMs;
      try {
        // One cheap question while nothing is near, so an idle worker costs one statement per
        // interval; the pass's transaction only when some schedule has work.
        let until = await this.msUntilNextPass();
        if (until !== null && until <= 0) {
          const report = await this.pass();
          if (report.created > 0) this.logger.debug(`[Schedules] Pass made ${report.created} task(s) for ${report.schedules} schedule(s)`);
          until = await this.msUntilNextPass();
        }
        if (until !== null) waitMs = Math.min(waitMs, Math.max(until, CONTENDED_RETRY_MS));
      } catch (cause) {
        this.logger.error(`[Schedules] Pass failed: ${errorMessage(cause)}`);
      }
      if (this.stopped) return;
      await this.stopSignal.wait(waitMs);
    }
  }
}
