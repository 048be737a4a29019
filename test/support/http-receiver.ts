import { spawn } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';

export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly at: number;
}

export type Responder = (request: ReceivedRequest, response: ServerResponse, count: number) => void;

const ok: Responder = (_request, response) => {
  response.writeHead(200).end('ok');
};

/**
 * A real HTTP endpoint on loopback that records every request. Per-path responders script the
 * endpoint's behaviour (fail twice then succeed, hang, 404 ...); `count` is how many requests that
 * path has seen, this one included.
 */
export const startReceiver = async (responders: Record<string, Responder> = {}) => {
  const requests: ReceivedRequest[] = [];
  const perPath = new Map<string, number>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = req.url ?? '/';
      const request = { method: req.method ?? '', path, headers: req.headers, body: Buffer.concat(chunks), at: Date.now() };
      requests.push(request);
      const count = (perPath.get(path) ?? 0) + 1;
      perPath.set(path, count);
      (responders[path] ?? ok)(request, res, count);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (path: string) => `http://127.0.0.1:${port}${path}`,
    requests,
    to: (path: string) => requests.filter((request) => request.path === path),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
};
export type Receiver = Awaited<ReturnType<typeof startReceiver>>;

// The receiver of startArrivalClock: it answers 200 at once and prints each request's path and the
// moment its headers arrived, one JSON line each, after a first line with its port.
const ARRIVAL_CLOCK = `
const server = require('node:http').createServer((request, response) => {
  const at = Date.now();
  process.stdout.write(JSON.stringify({ path: request.url, at }) + '\\n');
  request.resume();
  request.on('end', () => response.end('ok'));
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: server.address().port }) + '\\n'));
`;

/**
 * An endpoint in a small process of its own that records when each request arrived. A test that
 * judges the timing of arrivals (a rate limit) uses it: the test process's own pauses (its large
 * heap's garbage collection on a busy machine) would hold requests in the socket's queue and
 * stamp a steady stream as one burst.
 */
export const startArrivalClock = async () => {
  const child = spawn(process.execPath, ['--input-type=commonjs', '-e', ARRIVAL_CLOCK], { stdio: ['ignore', 'pipe', 'inherit'] });
  const arrivals: { readonly path: string; readonly at: number }[] = [];
  const lines = createInterface({ input: child.stdout });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the arrival clock exited with ${code}`)));
    lines.on('line', (line) => {
      const parsed = JSON.parse(line) as { port?: number; path?: string; at?: number };
      if (parsed.port !== undefined) resolve(parsed.port);
      else arrivals.push({ path: parsed.path ?? '/', at: parsed.at ?? 0 });
    });
  });
  return {
    url: (path: string) => `http://127.0.0.1:${port}${path}`,
    at: (path: string) => arrivals.filter((arrival) => arrival.path === path).map((arrival) => arrival.at),
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill();
      }),
  };
};
