import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DashboardReader } from '../../application/dashboard/ports.js';
import type { OperatorStore } from '../../application/operator/ports.js';
import type { CalendarFor, ScheduleStore } from '../../application/schedules/ports.js';
import type { RetentionPolicy } from '../../application/history-maintenance.js';
import type { Logger } from '../../application/ports.js';
import { errorMessage } from '../../shared/error-message.js';
import { createAccess } from './access.js';
import { loadAssets } from './assets.js';
import { createRoutes, type Reply } from './routes.js';

export interface DashboardOptions {
  readonly port: number;
  readonly host?: string;
  readonly reader: DashboardReader;
  readonly store: OperatorStore;
  readonly schedules: ScheduleStore;
  readonly calendarFor: CalendarFor;
  /** TASK_RETENTION and TASK_RETENTION_FAILED, shown as the retention in force. */
  readonly retention: RetentionPolicy;
  readonly stuckTimeoutMs: number;
  /** The pool's statement_timeout, named in the answer to a query it stopped. */
  readonly statementTimeoutMs: number;
  /** DASHBOARD_TOKEN; null: read-only, every action is refused with 403. */
  readonly token: string | null;
  /** Removes configured secrets from any text; applied to every page before it is sent. */
  readonly scrub: (text: string) => string;
  readonly logger: Logger;
}

export interface DashboardServer {
  readonly port: number;
  close(): Promise<void>;
}

// Pages are built from the database's words (task types, errors, payloads): nothing may load from
// elsewhere, run inline, or frame the page; JSON data blocks are not scripts and need no exception.
const SECURITY_HEADERS = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  // same-origin, not no-referrer: with no-referrer, Chromium sends `Origin: null` on this
  // dashboard's own form posts, and the Origin check (access.ts) could not tell them from a forgery.
  'Referrer-Policy': 'same-origin',
  'X-Frame-Options': 'DENY',
};

/** The operator dashboard on plain node:http: server-rendered pages, a little JavaScript for charts. */
export const startDashboardServer = async (options: DashboardOptions): Promise<DashboardServer> => {
  const assets = await loadAssets();
  const access = createAccess(options.token);
  const routes = createRoutes({ ...options, access, assets });
  const server = createServer((request, response) => {
    void routes(request)
      .then((reply) => send(response, reply, options.scrub))
      .catch((cause: unknown) => {
        options.logger.warn(
          `[Dashboard] ${request.method} ${new URL(request.url ?? '/', 'http://x').pathname} failed: ${errorMessage(cause)}`,
        );
        const timedOut = /statement_timeout|statement timeout/i.test(errorMessage(cause));
        const body = timedOut
          ? `error: the query ran longer than the dashboard's ${options.statementTimeoutMs / 1000} s limit and was stopped; ` +
            'narrow the filter (a shorter time range, a status or type)\n'
          : `error: ${errorMessage(cause)}\n`;
        if (!response.headersSent) send(response, { status: timedOut ? 503 : 500, type: 'text/plain; charset=utf-8', body }, options.scrub);
        else response.destroy();
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (cause) => reject(new Error(`Dashboard could not listen on port ${options.port}: ${cause.message}`)));
    server.listen({ port: options.port, ...(options.host === undefined ? {} : { host: options.host }) }, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  options.logger.info(`[Dashboard] Listening on port ${port} (${access.actionsEnabled ? 'actions need DASHBOARD_TOKEN' : 'read-only'})`, {
    port,
  });
  return {
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((cause) => (cause === undefined ? resolve() : reject(cause)));
        server.closeAllConnections();
      }),
  };
};

const send = (response: ServerResponse, reply: Reply, scrub: (text: string) => string): void => {
  const body = typeof reply.body === 'string' ? Buffer.from(scrub(reply.body)) : reply.body;
  response.writeHead(reply.status, {
    ...SECURITY_HEADERS,
    'Content-Type': reply.type,
    'Content-Length': body.length,
    'Cache-Control': reply.cache ?? 'no-store',
    ...(reply.headers ?? {}),
  });
  response.end(body);
};
