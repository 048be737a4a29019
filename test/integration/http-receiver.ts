import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ClaimedTask } from '../../src/application/ports.js';

/** What a receiver saw of one request. */
export interface ReceivedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
}

export interface Receiver {
  readonly url: string;
  readonly port: number;
  readonly requests: ReceivedRequest[];
  /** TCP connections accepted so far. */
  connections: number;
  readonly server: Server;
  close(): Promise<void>;
}

/**
 * A real HTTP server on 127.0.0.1 that records every request (body read whole) and then lets
 * `respond` answer it. Tests for the http_callback executor run against this, not against mocks.
 */
export const startReceiver = async (
  respond: (request: ReceivedRequest, res: ServerResponse) => void = (_request, res) => res.end('ok'),
): Promise<Receiver> => {
  const requests: ReceivedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      requests.push(received);
      respond(received, res);
    });
  });
  const receiver: Receiver = {
    url: '',
    port: 0,
    requests,
    connections: 0,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  server.on('connection', () => {
    receiver.connections += 1;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(receiver, { url: `http://127.0.0.1:${port}`, port });
};

let nextId = 1;

/** A claimed http_callback task, as the worker would hand it to the executor. */
export const callbackTask = (payload: unknown, id = String(nextId++)): ClaimedTask => ({
  id,
  taskType: 'http_callback',
  payload,
  // The form of a task scheduled before task_uuid existed: its id is what receivers see.
  taskUuid: null,
  attempts: 0,
  maxAttempts: 3,
  executeAt: new Date(),
  owner: 'test-worker',
  claimToken: 'token',
  claimedAt: new Date(),
});

export const neverAborted: AbortSignal = new AbortController().signal;
