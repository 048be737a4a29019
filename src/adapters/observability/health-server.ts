import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '../../application/ports.js';
import { errorMessage } from '../../shared/error-message.js';

export interface Readiness {
  readonly ok: boolean;
  /** Why not: "database unreachable: ...", "shutting down". Shown in the /readyz body. */
  readonly reason?: string;
}

export interface HealthServerOptions {
  /**
   * The TCP port. 0 binds an ephemeral port (tests read it back from `HealthServer.port`); the
   * caller decides that HTTP_PORT=0 means "no listener" and does not start the server at all.
   */
  readonly port: number;
  /** Default: every interface (`::`, or 0.0.0.0 without IPv6), so a Prometheus in another container can scrape. */
  readonly host?: string;
  /** Database reachable and not shutting down; asked on every /readyz. */
  readonly ready: () => Promise<Readiness>;
  readonly registry: Registry;
  readonly logger: Logger;
  /** A readiness check slower than this counts as not ready; default 2 s (under the HEALTHCHECK's 3 s timeout). */
  readonly readyTimeoutMs?: number;
}

export interface HealthServer {
  /** The port actually bound (differs from the option when that was 0). */
  readonly port: number;
  /** Stops listening and drops open (keep-alive) connections. */
  close(): Promise<void>;
}

/**
 * GET /healthz  → 200 while the process serves HTTP at all (liveness: restart me if this fails).
 * GET /readyz   → 200 when `ready()` says so, else 503 with `{ "status": "not ready", "reason": ... }`.
 * GET /metrics  → the registry in Prometheus text format.
 * Plain node:http: three routes do not need a framework, and the image stays small.
 */
export const startHealthServer = async (options: HealthServerOptions): Promise<HealthServer> => {
  const server = createServer((request, response) => {
    void route(options, request, response).catch((cause: unknown) => {
      options.logger.warn(`[Health] ${request.method} ${request.url} failed: ${errorMessage(cause)}`);
      if (!response.headersSent) sendJson(response, 500, { status: 'error', reason: errorMessage(cause) });
      else response.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (cause: Error) => reject(new Error(`Health server could not listen on port ${options.port}: ${cause.message}`));
    server.once('error', onError);
    server.listen({ port: options.port, ...(options.host === undefined ? {} : { host: options.host }) }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (cause) => options.logger.error(`[Health] Server error: ${cause.message}`));
  const port = (server.address() as AddressInfo).port;
  options.logger.info(`[Health] Listening on port ${port} (/healthz, /readyz, /metrics)`, { port });
  return {
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((cause) => (cause === undefined ? resolve() : reject(cause)));
        // A scraper's keep-alive connection would otherwise hold close() open until it times out.
        server.closeAllConnections();
      }),
  };
};

const route = async (options: HealthServerOptions, request: IncomingMessage, response: ServerResponse): Promise<void> => {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.setHeader('Allow', 'GET, HEAD');
    sendJson(response, 405, { status: 'error', reason: 'method not allowed' });
    return;
  }
  const path = new URL(request.url ?? '/', 'http://localhost').pathname;
  switch (path) {
    case '/healthz':
      sendJson(response, 200, { status: 'ok' });
      return;
    case '/readyz': {
      const readiness = await checkReadiness(options);
      sendJson(
        response,
        readiness.ok ? 200 : 503,
        readiness.ok ? { status: 'ready' } : { status: 'not ready', reason: readiness.reason ?? 'not ready' },
      );
      return;
    }
    case '/metrics': {
      const body = await options.registry.metrics();
      response.writeHead(200, { 'Content-Type': options.registry.contentType, 'Cache-Control': 'no-store' });
      response.end(request.method === 'HEAD' ? undefined : body);
      return;
    }
    default:
      sendJson(response, 404, { status: 'error', reason: `no route ${path}; try /healthz, /readyz or /metrics` });
  }
};

/** A readiness callback that throws or hangs means "not ready", never a crash or a hung probe. */
const checkReadiness = async (options: HealthServerOptions): Promise<Readiness> => {
  const timeoutMs = options.readyTimeoutMs ?? 2_000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Readiness>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, reason: `readiness check timed out after ${timeoutMs} ms` }), timeoutMs);
  });
  try {
    return await Promise.race([options.ready().catch((cause: unknown) => ({ ok: false, reason: errorMessage(cause) })), timeout]);
  } finally {
    clearTimeout(timer);
  }
};

const sendJson = (response: ServerResponse, status: number, body: Record<string, unknown>): void => {
  response.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  response.end(JSON.stringify(body));
};
