/**
 * A resettable "something changed" flag that a loop can wait on with a timeout. A wake-up that
 * arrives while the loop is busy is remembered, so the next wait returns at once instead of sleeping
 * through work that has just become due.
 */
export class WakeSignal {
  private pending = false;
  private waiter: (() => void) | null = null;

  wake(): void {
    this.pending = true;
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.();
  }

  /** Resolves on wake(), or after `timeoutMs`, whichever comes first. */
  wait(timeoutMs: number): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        resolve();
      }, timeoutMs);
      this.waiter = () => {
        clearTimeout(timer);
        this.pending = false;
        resolve();
      };
    });
  }
}
