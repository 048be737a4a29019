/**
 * Group commit for calls that each want one row written: calls arriving within `windowMs` of the
 * first queued one (or until `maxBatch` are queued) go to `run` together, and each caller gets its own
 * result back. `windowMs` 0 means "whatever arrived in the same turn of the event loop".
 *
 * If a batch fails as a whole, its items are retried one by one, so a single bad item (say, a
 * history conflict) fails only its own caller and not the others that shared its statement; unless
 * `splitOnFailure` says the error is not one an item could have caused (a lost database, already
 * retried), and then every caller gets the error.
 */
export interface CoalescerOptions {
  readonly windowMs: number;
  readonly maxBatch: number;
  /** Whether a failed batch is worth retrying item by item. Default: always. */
  readonly splitOnFailure?: (error: unknown) => boolean;
}

export const createCoalescer = <I, O>(
  options: CoalescerOptions,
  run: (items: readonly I[]) => Promise<readonly O[]>,
): ((item: I) => Promise<O>) => {
  interface Waiting {
    readonly item: I;
    readonly resolve: (value: O) => void;
    readonly reject: (error: unknown) => void;
  }
  let queue: Waiting[] = [];
  let timer: NodeJS.Timeout | NodeJS.Immediate | undefined;

  const settle = async (batch: readonly Waiting[]): Promise<void> => {
    try {
      const results = await run(batch.map((waiting) => waiting.item));
      batch.forEach((waiting, index) => {
        const result = results[index];
        if (result === undefined) waiting.reject(new Error('coalesced call returned no result for this item'));
        else waiting.resolve(result);
      });
    } catch (error) {
      if (batch.length === 1 || options.splitOnFailure?.(error) === false) batch.forEach((waiting) => waiting.reject(error));
      else await Promise.all(batch.map((waiting) => settle([waiting])));
    }
  };

  const flush = (): void => {
    if (timer !== undefined) {
      if (options.windowMs <= 0) clearImmediate(timer as NodeJS.Immediate);
      else clearTimeout(timer as NodeJS.Timeout);
      timer = undefined;
    }
    const batch = queue;
    queue = [];
    if (batch.length > 0) void settle(batch);
  };

  return (item) =>
    new Promise<O>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      if (queue.length >= options.maxBatch) flush();
      else if (timer === undefined) timer = options.windowMs <= 0 ? setImmediate(flush) : setTimeout(flush, options.windowMs);
    });
};
