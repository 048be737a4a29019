import { doublingDelay } from '../shared/backoff.js';
import { errorMessage } from '../shared/error-message.js';
import type { Clock, Logger, WakeUpSource } from './ports.js';

export interface DueTimerOptions {
  readonly clock: Clock;
  readonly logger: Logger;
  /**
   * The earliest execute_at of a pending task before `horizon` (TaskQueue.nextDueAt): asked each time
   * the loop goes idle, so the timer also learns of tasks no notification announced (retries, tasks
   * inserted while the listener was down or before this worker started).
   */
  readonly nextDueAt: (horizon: Date) => Promise<Date | null>;
  /**
   * How far ahead the look-ahead searches. Twice the polling interval: the loop looks again at least
   * once per interval, so every task comes into view at least one interval before it is due.
   */
  readonly horizonMs: number;
}

// setTimeout takes at most 2^31-1 ms; anything further out is re-learned by a later look-ahead.
const MAX_TIMER_MS = 2 ** 31 - 1;
// When the look-ahead keeps answering "already due" while the claim finds nothing (a row locked by a
// claim still committing in another worker, or the database clock behind ours), back off instead of
// spinning: 1, 2, 4 ... ms, capped at a quarter of the horizon (half a polling interval).
const FIRST_BACKOFF_MS = 1;

/**
 * One timer for the earliest upcoming execute_at this worker knows of, so a task due in 7.3 s starts
 * 7.3 s from now rather than at the next poll. Fed by notifications (`dueAt`) and by a look-ahead
 * query whenever the loop finds nothing more to claim (`idle`). Wakes the loop at once for a time
 * that has already come. Only ever early or on time: polling stays the safety net.
 */
export class DueTimer implements WakeUpSource {
  private readonly listeners: (() => void)[] = [];
  private timer: NodeJS.Timeout | null = null;
  private armedFor: number | null = null;
  private lookingAhead = false;
  private lookAgain = false;
  private pastDueStreak = 0;
  private closed = false;

  constructor(private readonly options: DueTimerOptions) {}

  onWakeUp(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** A pending task is (or becomes) due at `at`: wake now if that has come, else arm for it. */
  dueAt(at: Date): void {
    if (this.closed) return;
    const delay = at.getTime() - this.options.clock.now().getTime();
    if (delay <= 0) {
      this.wake();
      return;
    }
    this.armAt(at.getTime(), delay);
  }

  /** The loop found fewer due tasks than it asked for: find out when the next one comes due. */
  idle(): void {
    if (this.closed) return;
    // One look-ahead at a time; a request during one repeats it once it answers (the answer may be stale).
    if (this.lookingAhead) {
      this.lookAgain = true;
      return;
    }
    this.lookingAhead = true;
    void this.lookAhead();
  }

  close(): void {
    this.closed = true;
    this.disarm();
  }

  private async lookAhead(): Promise<void> {
    try {
      do {
        this.lookAgain = false;
        const now = this.options.clock.now().getTime();
        const next = await this.options.nextDueAt(new Date(now + this.options.horizonMs));
        if (this.closed) return;
        this.onLookAhead(next);
      } while (this.lookAgain);
    } catch (cause) {
      // Not fatal: the poll interval still bounds the wait. Said at debug level, since a database
      // outage is already reported loudly by the claim that failed before it.
      this.options.logger.debug(`[DueTimer] Look-ahead failed: ${errorMessage(cause)}`);
    } finally {
      this.lookingAhead = false;
    }
  }

  private onLookAhead(next: Date | null): void {
    if (next === null) {
      this.pastDueStreak = 0;
      return;
    }
    const now = this.options.clock.now().getTime();
    const delay = next.getTime() - now;
    if (delay > 0) {
      this.pastDueStreak = 0;
      this.armAt(next.getTime(), delay);
      return;
    }
    // Due already, yet the claim that just ran did not get it. Once is a race worth waking for at
    // once (inserted in between); repeatedly means we cannot have it yet, so wait a little longer.
    this.pastDueStreak += 1;
    if (this.pastDueStreak === 1) {
      this.wake();
      return;
    }
    const backoff = doublingDelay(FIRST_BACKOFF_MS, Math.max(1, this.options.horizonMs / 4), this.pastDueStreak - 1);
    this.armAt(now + backoff, backoff);
  }

  private armAt(at: number, delay: number): void {
    if (this.armedFor !== null && this.armedFor <= at) return; // already waking no later than that
    this.disarm();
    if (delay > MAX_TIMER_MS) return;
    this.armedFor = at;
    // Whole milliseconds, rounded up: a timer that fires early finds nothing due and costs a claim.
    this.timer = setTimeout(() => {
      this.timer = null;
      this.armedFor = null;
      // Node measures timers from the event loop's cached time, which can lag the clock by a
      // millisecond, so a timer may fire just before `at`: wait out the rest rather than wake early.
      const rest = at - this.options.clock.now().getTime();
      if (rest > 0) this.armAt(at, rest);
      else this.wake();
    }, Math.ceil(delay));
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.armedFor = null;
  }

  private wake(): void {
    for (const listener of this.listeners) listener();
  }
}
