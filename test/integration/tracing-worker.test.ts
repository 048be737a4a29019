import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { until } from '../support/worker-process.js';
import { useWorkerSuite } from '../support/worker-suite.js';
import { runCli } from './cli-run.js';

const PRODUCER_TRACE = '0af7651916cd43dd8448eb211c80319c';
const PRODUCER = `00-${PRODUCER_TRACE}-b7ad6b7169203331-01`;

// Loaded into the worker with --import: names on stderr every @opentelemetry package, and our
// adapter, as the process resolves them (by import or require: module.registerHooks sees both), with
// the importing file. Imports inside @opentelemetry itself are left out.
const MODULE_WATCH = `
import { registerHooks } from 'node:module';
import { writeSync } from 'node:fs';
registerHooks({
  resolve(specifier, context, next) {
    const resolved = next(specifier, context);
    const watched = resolved.url.includes('/@opentelemetry/') || resolved.url.endsWith('/otel-tracer.js');
    if (watched && !(context.parentURL ?? '').includes('/@opentelemetry/')) {
      writeSync(2, '[module-load] ' + resolved.url + ' from ' + context.parentURL + '\\n');
    }
    return resolved;
  },
});
`;
const loaded = (stderr: string): string[] => [...stderr.matchAll(/^\[module-load\] (.*)$/gm)].map((match) => match[1]!);

/** An OTLP/HTTP endpoint on loopback that keeps every export's protobuf body. */
const startCollector = async () => {
  const exports: Buffer[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.url === '/v1/traces') exports.push(Buffer.concat(chunks));
      // An empty ExportTraceServiceResponse: everything accepted.
      response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    exports,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
};

describe('tracing in a running worker', () => {
  const suite = useWorkerSuite();
  let collector: Awaited<ReturnType<typeof startCollector>>;
  let watchDir: string;
  let watchOption: string;

  beforeAll(async () => {
    collector = await startCollector();
    watchDir = mkdtempSync(join(tmpdir(), 'atw-module-watch-'));
    writeFileSync(join(watchDir, 'watch.mjs'), MODULE_WATCH);
    watchOption = `--import=${join(watchDir, 'watch.mjs')}`;
  });

  afterAll(async () => {
    await collector?.close();
    rmSync(watchDir, { recursive: true, force: true });
  });

  const completed = (id: string) => until(async () => (await suite.db.task(id)).status === 'completed', 20_000, `task ${id} completed`);

  it("on: a task scheduled with --traceparent reaches the receiver in the producer's trace, the spans reach the collector", async () => {
    const worker = suite.start({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, NODE_OPTIONS: watchOption });
    await worker.waitForLog(/Started with polling interval/);
    const payload = JSON.stringify({ url: suite.receiver.url('/traced-by-worker'), data: { n: 1 } });
    const scheduled = await runCli(['schedule', '--type', 'http_callback', '--payload', payload, '--traceparent', PRODUCER], {
      env: { DATABASE_URL: suite.database.url },
    });
    expect(scheduled).toMatchObject({ code: 0, stdout: expect.stringMatching(/^\d+\n$/) });
    await completed(scheduled.stdout.trim());

    const [request] = suite.receiver.to('/traced-by-worker');
    expect(request?.headers['traceparent']).toMatch(new RegExp(`^00-${PRODUCER_TRACE}-[0-9a-f]{16}-01$`));
    expect(request?.headers['traceparent']).not.toBe(PRODUCER);
    // Shutdown exports what the batch still holds.
    expect(await worker.stop('SIGTERM')).toBe(0);
    expect(collector.exports.some((body) => body.includes(Buffer.from(PRODUCER_TRACE, 'hex')))).toBe(true);
    // The watch works: with tracing on it sees the SDK load.
    expect(worker.stderr()).toMatch(/\[module-load\] .*\/@opentelemetry\/sdk-trace-base\//);
  });

  it('off by default: no OpenTelemetry SDK, exporter or tracing adapter is loaded, and a stored traceparent is not sent', async () => {
    const exportsBefore = collector.exports.length;
    // The endpoint alone does not turn tracing on (it is said in a warning).
    const worker = suite.start({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, NODE_OPTIONS: watchOption });
    await worker.waitForLog(/Started with polling interval/);
    const id = await suite.db.insertTask('http_callback', { url: suite.receiver.url('/untraced'), data: {} });
    await completed(id);
    expect(suite.receiver.to('/untraced')[0]?.headers['traceparent']).toBeUndefined();
    expect(await worker.stop('SIGTERM')).toBe(0);
    // slonik and prom-client import the OpenTelemetry API themselves (a no-op while no SDK is
    // registered), with or without this worker's tracing; nothing of this worker's loads any of it.
    const modules = loaded(worker.stderr());
    const theirs = /\/node_modules\/@opentelemetry\/api\/.* from .*\/node_modules\/(slonik|prom-client)\//;
    expect(modules.filter((line) => !theirs.test(line))).toEqual([]);
    expect(worker.raw.join('\n')).toMatch(/OTEL_EXPORTER_OTLP_ENDPOINT is set but tracing is off/);
    expect(collector.exports.length).toBe(exportsBefore);
  });
});
