import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const MAIN = join(root, 'dist/src/infrastructure/main.js');

/** Fast settings for tests: poll often, retry soon, talk to loopback receivers. */
export const FAST_ENV: Record<string, string> = {
  WORKER_POLLING_INTERVAL: '0.1',
  WORKER_CLEANER_INTERVAL: '0.01',
  WORKER_STUCK_TIMEOUT: '0.05',
  RETRY_BASE_DELAY: '0.05',
  RETRY_MAX_DELAY: '0.2',
  HTTP_ALLOW_PRIVATE_NETWORKS: 'true',
  HTTP_PORT: '0',
  LOG_LEVEL: 'debug',
};

export interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly [key: string]: unknown;
}

/**
 * The worker as users run it: the compiled entry point in its own process (built by `npm test`'s
 * pretest step), reading configuration from the environment, logging JSON lines we can wait on.
 * It runs in an empty directory so a developer's ./.env cannot leak into the test; the directory is
 * removed when the process exits.
 */
export const spawnWorker = (env: Record<string, string>, args: readonly string[] = ['start']) => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first (npm test does)`);
  const cwd = mkdtempSync(join(tmpdir(), 'atw-worker-'));
  const child: ChildProcess = spawn(process.execPath, [MAIN, ...args], {
    cwd,
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  const raw: string[] = [];
  const watchers = new Set<() => void>();
  let stderr = '';
  let buffered = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const part of parts) {
      raw.push(part);
      try {
        lines.push(JSON.parse(part) as LogLine);
      } catch {
        lines.push({ level: 'raw', msg: part });
      }
    }
    for (const watcher of watchers) watcher();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const exited = new Promise<number | null>((resolveExit) =>
    child.on('exit', (code) => {
      rmSync(cwd, { recursive: true, force: true });
      resolveExit(code);
    }),
  );

  const waitForLog = (pattern: RegExp, timeoutMs = 20_000): Promise<LogLine> =>
    new Promise((resolveLine, reject) => {
      const check = () => {
        const found = lines.find((line) => pattern.test(line.msg));
        if (found === undefined) return false;
        watchers.delete(check);
        clearTimeout(timer);
        resolveLine(found);
        return true;
      };
      const timer = setTimeout(() => {
        watchers.delete(check);
        reject(new Error(`no log line matching ${pattern} within ${timeoutMs} ms; stderr: ${stderr}\nlog:\n${raw.slice(-30).join('\n')}`));
      }, timeoutMs);
      if (!check()) watchers.add(check);
    });

  return {
    child,
    lines,
    raw,
    stderr: () => stderr,
    exited,
    waitForLog,
    /** Sends the signal and resolves with the exit code. */
    stop: async (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
};
export type WorkerProcess = ReturnType<typeof spawnWorker>;

export const until = async (condition: () => Promise<boolean> | boolean, timeoutMs = 30_000, what = 'condition') => {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await new Promise((resolveSleep) => setTimeout(resolveSleep, 50));
  }
};
