import { missingHeapFlags, reexecWithHeapFlags, WORKER_HEAP_FLAGS } from '../../src/infrastructure/heap-flags.js';

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

describe('the re-exec itself', () => {
  // Saved to be put back as they were, not called.
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const execve = process.execve;
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const write = process.stderr.write;
  afterEach(() => {
    process.execve = execve;
    process.stderr.write = write;
  });

  it('execs the same node, flags first, then the script and its arguments as they were', () => {
    const calls: unknown[][] = [];
    process.execve = ((...args: unknown[]) => void calls.push(args)) as typeof process.execve;
    reexecWithHeapFlags();
    expect(calls).toEqual([
      [
        process.execPath,
        [
          process.execPath,
          ...missingHeapFlags(process.execArgv, process.env['NODE_OPTIONS']),
          ...process.execArgv,
          ...process.argv.slice(1),
        ],
        process.env,
      ],
    ]);
  });

  it('runs on without the flags, saying so in one line, when the exec fails', () => {
    const written: string[] = [];
    process.stderr.write = (text: string) => written.push(text) > 0;
    const missing = missingHeapFlags(process.execArgv, process.env['NODE_OPTIONS']);
    process.execve = () => {
      throw new Error('ENOENT: no such file or directory');
    };
    expect(() => reexecWithHeapFlags()).not.toThrow();
    expect(written).toEqual([
      `at-worker: running without ${missing.join(' ')}: could not re-execute node (ENOENT: no such file or directory)\n`,
    ]);
  });
});
