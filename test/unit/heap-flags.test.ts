import { missingHeapFlags, WORKER_HEAP_FLAGS } from '../../src/infrastructure/heap-flags.js';

describe('the heap flags start re-executes with', () => {
  it('adds every flag when the operator set none', () => {
    expect(missingHeapFlags([], undefined)).toEqual([...WORKER_HEAP_FLAGS]);
    expect(missingHeapFlags(['--enable-source-maps'], '--max-old-space-size=512')).toEqual([...WORKER_HEAP_FLAGS]);
  });

  it('adds nothing once they are on the command line, so the re-exec happens once', () => {
    expect(missingHeapFlags([...WORKER_HEAP_FLAGS], undefined)).toEqual([]);
  });

  it("keeps the operator's value from the command line or NODE_OPTIONS, with either spelling", () => {
    expect(missingHeapFlags(['--max-semi-space-size=64'], undefined)).toEqual(['--heap-growing-percent=50']);
    expect(missingHeapFlags([], ' --heap_growing_percent=20  --max-semi-space-size=8')).toEqual([]);
    expect(missingHeapFlags(['--heap-growing-percent=0'], undefined)).toEqual(['--max-semi-space-size=16']);
  });
});
