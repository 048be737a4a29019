import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import { createHttpCallbackExecutor, type HttpCallbackExecutor } from '../../src/adapters/executors/http-callback-executor.js';
import type { ExecutionOutcome } from '../../src/domain/execution.js';
import { callbackTask, neverAborted, startReceiver, type Receiver } from './http-receiver.js';

// Endpoints that hang, flood or drip must cost one task a bounded amount of time and memory.
const TIMEOUT_MS = 500;
let executor: HttpCallbackExecutor;
const servers: Array<Receiver | Server | TcpServer> = [];
beforeEach(() => {
  executor = createHttpCallbackExecutor({ allowPrivateNetworks: true, requestTimeoutMs: TIMEOUT_MS });
});
afterEach(async () => {
  await executor.close();
  for (const server of servers.splice(0)) {
    if ('requests' in server) await server.close();
    else {
      if ('closeAllConnections' in server) server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  }
});

const listen = async <S extends Server | TcpServer>(server: S): Promise<string> => {
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
};

const timed = async (run: () => Promise<ExecutionOutcome>) => {
  const started = performance.now();
  const outcome = await run();
  return { outcome, elapsedMs: performance.now() - started };
};

describe('http_callback executor against hostile endpoints', () => {
  it('aborts a server that never answers at HTTP_TIMEOUT, as a retryable failure', async () => {
    const hanging = await startReceiver(() => undefined);
    servers.push(hanging);
    const { outcome, elapsedMs } = await timed(() => executor.execute(callbackTask({ url: hanging.url, data: {} }), neverAborted));
    expect(outcome).toEqual({ _tag: 'Failed', retryable: true, error: `timed out after ${TIMEOUT_MS} ms`, details: {} });
    expect(elapsedMs).toBeGreaterThanOrEqual(TIMEOUT_MS - 20);
    expect(elapsedMs).toBeLessThan(TIMEOUT_MS + 1_000);
  });

  it('reads only the start of a 100 MB answer and drops the connection', async () => {
    let written = 0;
    const flood = createHttpServer((req, res) => void answerWithFlood(req, res));
    const answerWithFlood = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
      req.resume();
      res.writeHead(500, { 'content-length': String(100 * 1024 * 1024) });
      const chunk = Buffer.alloc(64 * 1024, 'a');
      let wake = () => undefined as void;
      res.on('close', () => wake());
      for (let sent = 0; sent < 100 * 1024 * 1024 && !res.destroyed; sent += chunk.length) {
        // Honour backpressure, so `written` counts what the client actually let through.
        if (!res.write(chunk)) await new Promise<void>((resolve) => ((wake = resolve), res.once('drain', resolve)));
        written += chunk.length;
      }
      res.end();
    };
    const url = await listen(flood);
    const slow = createHttpCallbackExecutor({ allowPrivateNetworks: true, requestTimeoutMs: 30_000 });
    const { outcome, elapsedMs } = await timed(() => slow.execute(callbackTask({ url, data: {} }), neverAborted));
    await slow.close();
    expect(outcome).toEqual({
      _tag: 'Failed',
      retryable: true,
      error: `HTTP 500: ${'a'.repeat(200)}…`,
      details: { http_status: 500 },
    });
    expect(elapsedMs).toBeLessThan(5_000);
    // Socket buffers on loopback hold a few MB at most; reading it all would be 100 MB.
    expect(written).toBeLessThan(16 * 1024 * 1024);
  });

  it('holds the total timeout against an error body dripped a byte at a time', async () => {
    const url = await listen(drippingBody(503));
    const { outcome, elapsedMs } = await timed(() => executor.execute(callbackTask({ url, data: {} }), neverAborted));
    expect(outcome).toMatchObject({ _tag: 'Failed', retryable: true, details: { http_status: 503 } });
    expect(outcome._tag === 'Failed' && outcome.error).toMatch(/^HTTP 503: x+ \(body cut short: timed out after 500 ms\)$/);
    expect(elapsedMs).toBeLessThan(TIMEOUT_MS + 1_000);
  });

  it('still counts a dripped 2xx as delivered, within the timeout', async () => {
    const url = await listen(drippingBody(200));
    const { outcome, elapsedMs } = await timed(() => executor.execute(callbackTask({ url, data: {} }), neverAborted));
    expect(outcome).toEqual({ _tag: 'Succeeded', details: { http_status: 200 } });
    expect(elapsedMs).toBeLessThan(TIMEOUT_MS + 1_000);
  });

  it('holds the timeout against a status line dripped a byte at a time', async () => {
    const drip = createTcpServer((socket) => {
      const line = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n');
      let index = 0;
      const timer = setInterval(() => {
        if (socket.destroyed) return clearInterval(timer);
        socket.write(line.subarray(index % line.length, (index % line.length) + 1));
        index += 1;
      }, 20);
      socket.on('close', () => clearInterval(timer));
      socket.on('error', () => clearInterval(timer));
    });
    const url = await listen(drip);
    const { outcome, elapsedMs } = await timed(() => executor.execute(callbackTask({ url, data: {} }), neverAborted));
    expect(outcome).toMatchObject({ _tag: 'Failed', retryable: true, error: `timed out after ${TIMEOUT_MS} ms` });
    expect(elapsedMs).toBeLessThan(TIMEOUT_MS + 1_000);
  });

  it('retries when the connection is refused', async () => {
    const gone = createHttpServer();
    const url = await listen(gone);
    servers.pop();
    await new Promise((resolve) => gone.close(resolve));
    const outcome = await executor.execute(callbackTask({ url, data: {} }), neverAborted);
    expect(outcome).toMatchObject({ _tag: 'Failed', retryable: true });
    expect(outcome._tag === 'Failed' && outcome.error).toBe(`network error: connect ECONNREFUSED ${new URL(url).host}`);
  });

  it("stops when the caller's signal aborts, reporting its reason rather than a success", async () => {
    const hanging = await startReceiver(() => undefined);
    servers.push(hanging);
    const task = new AbortController();
    setTimeout(() => task.abort({ _tag: 'Shutdown' }), 100);
    const { outcome, elapsedMs } = await timed(() => executor.execute(callbackTask({ url: hanging.url, data: {} }), task.signal));
    expect(outcome).toMatchObject({ _tag: 'Failed', error: 'aborted: Shutdown' });
    expect(elapsedMs).toBeLessThan(TIMEOUT_MS);
  });
});

/** Sends the status at once, then one byte of body every 20 ms, forever. */
const drippingBody = (status: number) =>
  createHttpServer((req, res) => {
    req.resume();
    res.writeHead(status, { 'content-type': 'text/plain' });
    const timer = setInterval(() => res.write('x'), 20);
    res.on('close', () => clearInterval(timer));
  });
