import { createCoalescer } from '../../src/adapters/postgres/coalescer.js';

/** A fake statement: records each batch it is given, answers per item. */
const recordingRun = (fail: (items: readonly number[]) => boolean = () => false) => {
  const batches: number[][] = [];
  const run = async (items: readonly number[]): Promise<readonly string[]> => {
    batches.push([...items]);
    await new Promise((resolve) => setTimeout(resolve, 1));
    if (fail(items)) throw new Error(`batch ${items.join(',')} failed`);
    return items.map((item) => `done ${item}`);
  };
  return { batches, run };
};

describe('coalescer (group commit of attempt ends)', () => {
  it('puts calls made within the window into one batch and answers each caller', async () => {
    const { batches, run } = recordingRun();
    const call = createCoalescer<number, string>({ windowMs: 5, maxBatch: 100 }, run);
    const results = await Promise.all([1, 2, 3, 4].map(call));
    expect(results).toEqual(['done 1', 'done 2', 'done 3', 'done 4']);
    expect(batches).toEqual([[1, 2, 3, 4]]);
  });

  it('flushes at once when the batch is full', async () => {
    const { batches, run } = recordingRun();
    const call = createCoalescer<number, string>({ windowMs: 10_000, maxBatch: 3 }, run);
    const started = Date.now();
    await Promise.all([1, 2, 3].map(call));
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(batches).toEqual([[1, 2, 3]]);
  });

  it('starts a new batch for calls after the window closed', async () => {
    const { batches, run } = recordingRun();
    const call = createCoalescer<number, string>({ windowMs: 0, maxBatch: 100 }, run);
    const first = Promise.all([call(1), call(2)]);
    await first;
    await call(3);
    expect(batches).toEqual([[1, 2], [3]]);
  });

  it('isolates a bad item: the batch is retried one by one, only its caller fails', async () => {
    const { batches, run } = recordingRun((items) => items.includes(2));
    const call = createCoalescer<number, string>({ windowMs: 1, maxBatch: 100 }, run);
    const results = await Promise.allSettled([1, 2, 3].map(call));
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(batches).toEqual([[1, 2, 3], [1], [2], [3]]);
  });

  it('does not retry item by item an error no item caused (a database that stayed unreachable)', async () => {
    const { batches, run } = recordingRun(() => true);
    const call = createCoalescer<number, string>({ windowMs: 5, maxBatch: 100, splitOnFailure: () => false }, run);
    const results = await Promise.allSettled([1, 2, 3].map(call));
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(batches).toEqual([[1, 2, 3]]);
  });
});
