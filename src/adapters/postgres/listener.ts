import pg from 'pg';
import type { Clock, Logger } from '../../application/ports.js';
import { doublingDelay } from '../../shared/backoff.js';
import { errorMessage } from '../../shared/error-message.js';

/** The channel the INSERT trigger (sql/migrations) notifies, with the earliest new execute_at (epoch ms). */
export const TASKS_CHANNEL = 'at_worker_tasks';

export interface TaskListenerOptions {
  readonly url: string;
  readonly logger: Logger;
  readonly clock: Clock;
  /**
   * A pending task is due at this time (now or later). Also called with "now" after the connection
   * is restored, since notifications sent while it was down are lost.
   */
  readonly onDue: (at: Date) => void;
  /** What polling falls back to, for the readiness message. */
  readonly pollIntervalMs: number;
  /** Reconnect back-off: first delay, doubled per failed try up to `maxBackoffMs`. Default 100 ms / 5 s. */
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /**
   * How long connecting and the LISTEN itself may take before the try counts as failed
   * (DB_CONNECT_TIMEOUT). node-postgres waits forever by default, and a server or proxy that takes
   * the connection but never answers would then end the reconnecting for good. Default 30 s.
   */
  readonly connectTimeoutMs?: number;
  /**
   * How often a listening connection is asked `SELECT 1`. A connection that stopped answering
   * without closing (its peer gone behind a NAT, a firewall or a failover: a half-open socket)
   * brings no error and no end, and TCP keepalive notices it only after about 11 minutes, during
   * which no wake-up arrives and readiness still says up. A check not answered within
   * `connectTimeoutMs` counts as the connection lost. Default 30 s.
   */
  readonly checkIntervalMs?: number;
}

export interface TaskListener {
  /** Up while LISTEN is in place; down (with why and since when) while reconnecting. */
  readiness(): { readonly ok: boolean; readonly reason?: string };
  close(): Promise<void>;
}

/**
 * LISTEN on a dedicated connection (not from the pool: a pooled connection is handed to other
 * queries, and a LISTEN must stay on one session for as long as we want notifications).
 *
 * The connection is watched: on an error or an end it is replaced, with back-off, for as long as the
 * worker runs. While it is down nothing is missed for long — the loop keeps polling every
 * WORKER_POLLING_INTERVAL and the due timer keeps its look-ahead — and when it is back the loop is
 * woken once, for whatever was inserted meanwhile. The first connection is made in the background
 * too: a worker whose listener cannot connect still starts and polls.
 */
export const startTaskListener = (options: TaskListenerOptions): TaskListener => {
  const minBackoffMs = options.minBackoffMs ?? 100;
  const maxBackoffMs = options.maxBackoffMs ?? 5_000;
  const connectTimeoutMs = options.connectTimeoutMs ?? 30_000;
  const checkIntervalMs = options.checkIntervalMs ?? 30_000;
  let client: pg.Client | null = null;
  let check: NodeJS.Timeout | null = null;
  let listening = false;
  let closed = false;
  let downSince: number | null = options.clock.now().getTime();
  let lastError = 'not connected yet';
  let everConnected = false;
  let warnedAtStart = false;
  const fallback = `${options.pollIntervalMs / 1000}s`;
  let retry: NodeJS.Timeout | null = null;
  let failedTries = 0;

  const onNotification = (message: pg.Notification): void => {
    if (message.channel !== TASKS_CHANNEL) return;
    const at = Number(message.payload);
    // A payload we cannot read still says "something was inserted": look now rather than miss it.
    options.onDue(Number.isFinite(at) ? new Date(at) : options.clock.now());
  };

  const stopChecking = (): void => {
    if (check !== null) clearInterval(check);
    check = null;
  };

  /** One `SELECT 1` at a time on `current`; no answer within the client's query timeout is a loss. */
  const startChecking = (current: pg.Client): void => {
    let asking = false;
    check = setInterval(() => {
      if (asking || client !== current) return;
      asking = true;
      current.query('SELECT 1').then(
        () => void (asking = false),
        (error: unknown) => lost(current, `liveness check failed: ${describe(error)}`),
      );
    }, checkIntervalMs);
    check.unref();
  };

  const lost = (current: pg.Client, reason: string): void => {
    if (client !== current) return; // an old connection's late 'end' after we already moved on
    client = null;
    stopChecking();
    current.removeAllListeners('notification');
    void endClient(current);
    if (closed) return;
    if (listening) {
      listening = false;
      downSince = options.clock.now().getTime();
      options.logger.warn(`LISTEN connection lost: ${reason}; reconnecting, polling every ${fallback} meanwhile`);
    } else if (!everConnected && !warnedAtStart) {
      warnedAtStart = true;
      options.logger.warn(`LISTEN connection failed: ${reason}; retrying, polling every ${fallback} meanwhile`);
    }
    lastError = reason;
    schedule();
  };

  const schedule = (): void => {
    if (closed || retry !== null) return;
    failedTries += 1;
    const delay = doublingDelay(minBackoffMs, maxBackoffMs, failedTries);
    retry = setTimeout(() => {
      retry = null;
      void connect();
    }, delay);
    retry.unref();
  };

  const connect = async (): Promise<void> => {
    if (closed) return;
    const current = new pg.Client({
      connectionString: options.url,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      connectionTimeoutMillis: connectTimeoutMs,
      query_timeout: connectTimeoutMs,
    });
    client = current;
    // Registered before connecting: an error emitted with no listener would crash the process.
    current.on('error', (error) => lost(current, describe(error)));
    current.on('end', () => lost(current, 'connection closed'));
    current.on('notification', onNotification);
    try {
      await current.connect();
      await current.query(`LISTEN ${TASKS_CHANNEL}`);
    } catch (error) {
      options.logger.debug(`LISTEN connection attempt failed: ${describe(error)}`);
      lost(current, describe(error));
      return;
    }
    if (client !== current || closed) {
      await endClient(current);
      return;
    }
    listening = true;
    startChecking(current);
    failedTries = 0;
    const downMs = downSince === null ? 0 : options.clock.now().getTime() - downSince;
    if (everConnected || warnedAtStart) options.logger.info(`LISTEN connection restored after ${(downMs / 1000).toFixed(1)}s`);
    else options.logger.debug(`Listening on channel ${TASKS_CHANNEL} for new tasks`);
    everConnected = true;
    downSince = null;
    // Whatever was inserted while we could not hear it may be due now.
    options.onDue(options.clock.now());
  };

  void connect();

  return {
    readiness: () => {
      if (listening) return { ok: true };
      const since = downSince === null ? '' : ` for ${((options.clock.now().getTime() - downSince) / 1000).toFixed(1)}s`;
      return { ok: false, reason: `LISTEN connection down${since} (${lastError}); polling every ${fallback} meanwhile` };
    },
    close: async () => {
      closed = true;
      stopChecking();
      if (retry !== null) clearTimeout(retry);
      retry = null;
      const current = client;
      client = null;
      listening = false;
      if (current !== null) {
        current.removeAllListeners('notification');
        await endClient(current);
      }
    },
  };
};

/** How long ending a connection may wait for the server to close it before the socket is dropped. */
const END_PATIENCE_MS = 1_000;

/**
 * Ends the session; never fails, and never waits long. end() waits for the server to close the
 * socket, which a half-open connection never does: shutdown (or a reconnect) would wait forever.
 */
const endClient = async (current: pg.Client): Promise<void> => {
  const drop = setTimeout(() => current.connection.stream.destroy(), END_PATIENCE_MS);
  try {
    await current.end();
  } catch {
    // Already ended or never connected: nothing to close.
  } finally {
    clearTimeout(drop);
  }
};

const describe = (error: unknown): string => errorMessage(error).replace(/\s+/g, ' ').trim();
