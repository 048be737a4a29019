import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAIN } from '../support/worker-process.js';

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * `at-worker <args>` as an operator runs it: the compiled entry point in its own process, in an
 * empty directory (so no developer's ./.env leaks in, and removed when the command exits), configured
 * only by `env`.
 */
export const runCli = (
  args: readonly string[],
  options: { readonly env?: Record<string, string>; readonly stdin?: string; readonly cwd?: string } = {},
): Promise<CliResult> => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first (npm test does)`);
  const ownDirectory = options.cwd === undefined ? mkdtempSync(join(tmpdir(), 'atw-cli-')) : undefined;
  const child = spawn(process.execPath, [MAIN, ...args], {
    cwd: options.cwd ?? ownDirectory,
    env: { PATH: process.env['PATH'] ?? '', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  child.stdin.end(options.stdin ?? '');
  return new Promise((resolve, reject) => {
    const removeDirectory = () => {
      if (ownDirectory !== undefined) rmSync(ownDirectory, { recursive: true, force: true });
    };
    child.on('error', (error) => {
      removeDirectory();
      reject(error);
    });
    child.on('close', (code) => {
      removeDirectory();
      resolve({ code, stdout, stderr });
    });
  });
};

/** The error contract: exactly one line on stderr. */
export const oneStderrLine = (result: CliResult): string => {
  const lines = result.stderr.split('\n').filter((line) => line !== '');
  if (lines.length !== 1) throw new Error(`expected one line on stderr, got ${lines.length}: ${JSON.stringify(result.stderr)}`);
  return lines[0] as string;
};
