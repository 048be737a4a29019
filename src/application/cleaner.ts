import { errorMessage } from '../shared/error-message.js';
import type { Logger } from './ports.js';
import type { RecoveryReport } from './recover-stuck.js';
import { WakeSignal } from './wake-signal.js';

/** Runs RecoverStuck every `intervalMs` until stopped. One sweep at a time, never overlapping. */
export class Cleaner {
  private readonly stopSignal = new WakeSignal();
  private stopped = false;
  private loop: Promise<void> | null = null;

  constructor(
    private readonly options: { readonly intervalMs: number; readonly stuckTimeoutMs: number },
    private readonly sweep: () => Promise<RecoveryReport>,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (this.loop !== null) return;
    this.logger.info(
      `[Cleaner] Started with interval ${this.options.intervalMs / 60_000} min, stuck timeout ${this.options.stuckTimeoutMs / 60_000} min`,
    );
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopSignal.wake();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      await this.stopSignal.wait(this.options.intervalMs);
      if (this.stopped) return;
      try {
        const report = await this.sweep();
        this.logger.debug(`[Cleaner] Sweep done: ${report.requeued} restored, ${report.failed} failed`, { ...report });
      } catch (cause) {
        this.logger.error(`[Cleaner] Sweep failed: ${errorMessage(cause)}`);
      }
    }
  }
}
