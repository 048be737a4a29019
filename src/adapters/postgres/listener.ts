import pg from 'pg';
import type { Clock, Logger } from '../../application/ports.js';
import { doublingDelay } from '../../shared/backoff.js';
import { errorMessage } from '../../shared/error-message.js';
import { isNoTlsOnServer, readDatabaseTls } from './tls.js';

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

/** Since when LISTEN has been down, the last reason, and the failed tries that set the back-off. */
interface Outage {
  readonly since: number;
  readonly lastError: string;
  readonly failedTries: number;
}

/**
 * Where the LISTEN connection stands:
 *
 *   connecting ──LISTEN in place──▶ listening ──error, end or failed check──▶ retrying ──back-off──▶ connecting
 *   connecting ──fails──▶ retrying;  any ──close()──▶ closed
 */
type ListenerState =
  | { readonly _tag: 'Connecting'; readonly client: pg.Client; readonly outage: Outage }
  | { readonly _tag: 'Listening'; readonly client: pg.Client; readonly check: NodeJS.Timeout }
  | { readonly _tag: 'Retrying'; readonly timer: NodeJS.Timeout; readonly outage: Outage }
  | { readonly _tag: 'Closed' };

/**
 * Whether the first connection has been made yet, and whether its failing has been logged: a start
 * whose first tries fail says so once, and a later success then reads as "restored".
 */
type FirstConnection = 'pending' | 'warned' | 'made';

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
  const fallback = `${options.pollIntervalMs / 1000}s`;
  const now = (): number => options.clock.now().getTime();
  // Replaced at once by the first connect below.
  let state: ListenerState = { _tag: 'Closed' };
  let firstConnection: FirstConnection = 'pending';

  /** Whether `current` is still the connection in use (an old one's late events are ignored). */
  const holds = (current: pg.Client): boolean => (state._tag === 'Connecting' || state._tag === 'Listening') && state.client === current;

  const onNotification = (message: pg.Notification): void => {
    if (message.channel !== TASKS_CHANNEL) return;
    const at = Number(message.payload);
    // A payload we cannot read still says "something was inserted": look now rather than miss it.
    options.onDue(Number.isFinite(at) ? new Date(at) : options.clock.now());
  };

  /** One `SELECT 1` at a time on `current`; no answer within the client's query timeout is a loss. */
  const startChecking = (current: pg.Client): NodeJS.Timeout => {
    let asking = false;
    const check = setInterval(() => {
      if (asking || !holds(current)) return;
      asking = true;
      current.query('SELECT 1').then(
        () => void (asking = false),
        (error: unknown) => lost(current, `liveness check failed: ${describe(error)}`),
      );
    }, checkIntervalMs);
    check.unref();
    return check;
  };

  const lost = (current: pg.Client, reason: string): void => {
    if (state._tag !== 'Connecting' && state._tag !== 'Listening') return;
    if (state.client !== current) return; // an old connection's late 'end' after we already moved on
    const previous = state;
    current.removeAllListeners('notification');
    void endClient(current);
    let outage: Outage;
    if (previous._tag === 'Listening') {
      clearInterval(previous.check);
      outage = { since: now(), lastError: reason, failedTries: 0 };
      options.logger.warn(`LISTEN connection lost: ${reason}; reconnecting, polling every ${fallback} meanwhile`);
    } else {
      if (firstConnection === 'pending') {
        firstConnection = 'warned';
        options.logger.warn(`LISTEN connection failed: ${reason}; retrying, polling every ${fallback} meanwhile`);
      }
      outage = { ...previous.outage, lastError: reason };
    }
    retryLater(outage);
  };

  const retryLater = (outage: Outage): void => {
    const next = { ...outage, failedTries: outage.failedTries + 1 };
    const timer = setTimeout(
      () => {
        if (state._tag === 'Retrying' && state.timer === timer) void connect(next);
      },
      doublingDelay(minBackoffMs, maxBackoffMs, next.failedTries),
    );
    timer.unref();
    state = { _tag: 'Retrying', timer, outage: next };
  };

  // sslmode as libpq reads it (tls.ts): allow and prefer switch to the other kind of connection
  // when the server refuses the first, and keep the one that worked.
  const tls = readDatabaseTls(options.url);
  let ssl = tls.mode === 'disable' || tls.mode === 'allow' ? false : tls.options;
  const fallBack = (error: unknown): boolean => {
    if (tls.mode === 'prefer' && ssl !== false && isNoTlsOnServer(error)) ssl = false;
    else if (tls.mode === 'allow' && ssl === false && (error as { code?: unknown }).code === '28000') ssl = tls.options;
    else return false;
    return true;
  };

  const connect = async (outage: Outage): Promise<void> => {
    const current = new pg.Client({
      connectionString: tls.url,
      ssl,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      connectionTimeoutMillis: connectTimeoutMs,
      query_timeout: connectTimeoutMs,
    });
    state = { _tag: 'Connecting', client: current, outage };
    // Registered before connecting: an error emitted with no listener would crash the process.
    current.on('error', (error) => lost(current, describe(error)));
    current.on('end', () => lost(current, 'connection closed'));
    current.on('notification', onNotification);
    try {
      await current.connect();
      await current.query(`LISTEN ${TASKS_CHANNEL}`);
    } catch (error) {
      // The other kind of connection is tried at once: this was no failure of the server.
      if (fallBack(error) && holds(current)) {
        current.removeAllListeners('end');
        await endClient(current);
        if (holds(current)) void connect(outage);
        return;
      }
      options.logger.debug(`LISTEN connection attempt failed: ${describe(error)}`);
      lost(current, describe(error));
      return;
    }
    if (!holds(current)) {
      await endClient(current);
      return;
    }
    state = { _tag: 'Listening', client: current, check: startChecking(current) };
    const downMs = now() - outage.since;
    if (firstConnection !== 'pending') options.logger.info(`LISTEN connection restored after ${(downMs / 1000).toFixed(1)}s`);
    else options.logger.debug(`Listening on channel ${TASKS_CHANNEL} for new tasks`);
    firstConnection = 'made';
    // Whatever was inserted while we could not hear it may be due now.
    options.onDue(options.clock.now());
  };

  void connect({ since: now(), lastError: 'not connected yet', failedTries: 0 });

  return {
    readiness: () => {
      if (state._tag === 'Listening') return { ok: true };
      if (state._tag === 'Closed') return { ok: false, reason: 'LISTEN connection closed' };
      const since = ((now() - state.outage.since) / 1000).toFixed(1);
      const reason = `LISTEN connection down for ${since}s (${state.outage.lastError}); polling every ${fallback} meanwhile`;
      return { ok: false, reason };
    },
    close: async () => {
      const previous = state;
      state = { _tag: 'Closed' };
      if (previous._tag === 'Retrying') clearTimeout(previous.timer);
      if (previous._tag === 'Listening') clearInterval(previous.check);
      if (previous._tag === 'Connecting' || previous._tag === 'Listening') {
        previous.client.removeAllListeners('notification');
        await endClient(previous.client);
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
