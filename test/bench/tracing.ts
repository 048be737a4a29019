import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Sink, WorkerSettings } from './harness.js';
import { runBurst, type BurstResult } from './throughput.js';

/**
 * `tracing`: the burst with tracing off, with tracing on (OTLP/HTTP to a collector on loopback that
 * accepts and drops every export), and, when BENCH_BEFORE_BUILD names another checkout's root
 * (built, with node_modules), with that build: the code before tracing existed, in the same run.
 * The three alternate `rounds` times, so a machine whose load drifts weighs on each alike.
 */
export const runTracingBench = async (
  sink: Sink,
  settings: WorkerSettings,
  rounds: number,
  print: (line: Record<string, unknown>) => void,
): Promise<void> => {
  const collector = await startDroppingCollector();
  const before = await beforeBuild();
  const all: { name: string; env?: Record<string, string>; build?: Awaited<ReturnType<typeof beforeBuild>>; optIn?: true }[] = [
    ...(before === undefined ? [] : [{ name: 'before', build: before }]),
    { name: 'off' },
    { name: 'on', env: { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: collector.url } },
    // Tracing off and fair slots too (every slot may serve the burst's one destination, as before them).
    { name: 'unshared', env: { DESTINATION_MAX_SHARE: '1' }, optIn: true },
  ];
  // BENCH_TRACING_VARIANTS=before,off leaves the others out (comparing builds with tracing off only);
  // `unshared` runs only when named there.
  const only = process.env['BENCH_TRACING_VARIANTS']?.split(',').map((name) => name.trim());
  const variants =
    only === undefined ? all.filter((variant) => variant.optIn !== true) : all.filter((variant) => only.includes(variant.name));
  if (variants.length === 0) throw new Error(`BENCH_TRACING_VARIANTS=${only?.join(',')}: none of ${all.map((v) => v.name).join(', ')}`);
  const rates = new Map<string, number[]>(variants.map((variant) => [variant.name, []]));
  try {
    for (let round = 1; round <= rounds; round += 1) {
      for (const variant of variants) {
        const [exportsBefore, bytesBefore] = [collector.exports(), collector.bytes()];
        const burst: BurstResult = await runBurst(sink, settings, {
          tasks: 10_000,
          workers: 1,
          ...(variant.env === undefined ? {} : { env: variant.env }),
          ...(variant.build === undefined ? {} : { build: variant.build }),
        });
        rates.get(variant.name)?.push(burst.sink_per_sec ?? 0);
        print({
          scenario: 'tracing',
          variant: variant.name,
          round,
          sink_per_sec: burst.sink_per_sec,
          worker_cpu_us_per_task: burst.cpu_us_per_task.worker,
          events_ok: burst.events_ok,
          ...(variant.name === 'on'
            ? { otlp_exports: collector.exports() - exportsBefore, otlp_bytes: collector.bytes() - bytesBefore }
            : {}),
        });
      }
    }
    const medians = Object.fromEntries([...rates].map(([name, values]) => [name, median(values)]));
    const ratio = (name: string) => (medians[name] && medians['off'] ? Math.round((medians[name] / medians['off']) * 100) / 100 : null);
    print({ scenario: 'tracing-summary', rounds, median_sink_per_sec: medians, on_vs_off: ratio('on'), before_vs_off: ratio('before') });
  } finally {
    await collector.close();
  }
};

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

const beforeBuild = async () => {
  const root = process.env['BENCH_BEFORE_BUILD'];
  if (root === undefined || root === '') return undefined;
  const main = join(root, 'dist', 'src', 'infrastructure', 'main.js');
  const migrate = join(root, 'dist', 'src', 'adapters', 'postgres', 'migrate.js');
  if (!existsSync(main) || !existsSync(migrate)) throw new Error(`BENCH_BEFORE_BUILD=${root}: no built dist/ there (run npx tsc -b in it)`);
  const { applySchema } = (await import(pathToFileURL(migrate).href)) as { applySchema: (url: string) => Promise<void> };
  return { main, applySchema };
};

/** An OTLP/HTTP endpoint that answers every export with an empty success, counting what it got. */
const startDroppingCollector = async () => {
  let exports = 0;
  let bytes = 0;
  const server = createServer((request, response) => {
    request.on('data', (chunk: Buffer) => (bytes += chunk.length));
    request.on('end', () => {
      exports += 1;
      response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    exports: () => exports,
    bytes: () => bytes,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
};
