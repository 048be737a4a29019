import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

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
