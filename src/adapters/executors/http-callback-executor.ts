import * as E from 'fp-ts/lib/Either.js';
import { Agent, buildConnector } from 'undici';
import { deliveryId, type ClaimedTask, type TaskExecutor, type TraceHeaders } from '../../application/ports.js';
import { permanentFailure, retryableFailure, succeeded, type ExecutionOutcome } from '../../domain/execution.js';
import { decodeHttpCallbackPayload, redactUrl } from '../../domain/payloads/http-callback.js';
import { buildCallbackRequest, type CallbackRequest } from './http-callback-request.js';
import { startExchange, type Exchange } from './http-exchange.js';
import { findCause } from '../../shared/error-cause.js';
import { bodySnippet, parseRetryAfter, redactRequestSecrets } from './http-response.js';
import { oneLine } from './message-text.js';
import { AddressRefusedError, createAddressPolicy, guardedConnector, type ResolveHost } from './ssrf-guard.js';
import { decodeWebhookSecrets } from './webhook-signature.js';

export interface HttpCallbackExecutorOptions {
  /**
   * HTTP_TIMEOUT in ms: one request, from the host name lookup to the end of the body. Default
   * 30 000 (the seed's 30 s).
   */
  readonly requestTimeoutMs?: number;
  /** Keep-alive connections per origin; pass WORKER_CONCURRENCY, the most that can be in flight. */
  readonly connectionsPerOrigin?: number;
  /** HTTP_ALLOW_PRIVATE_NETWORKS: let loopback/private/link-local/CGNAT/ULA through. Default false. */
  readonly allowPrivateNetworks?: boolean;
  /** HTTP_ALLOWED_HOSTS: host names, IPs or CIDR ranges always let through (even metadata ranges). */
  readonly allowedHosts?: readonly string[];
  /** WEBHOOK_SECRET, split on whitespace: `whsec_<base64>` each. Empty: requests are not signed. */
  readonly webhookSecrets?: readonly string[];
  /** How much of a response body is read before the connection is dropped. Default 64 KiB. */
  readonly maxResponseBytes?: number;
  readonly userAgent?: string;
  /** Host name resolution for the SSRF guard; dns.lookup unless a test pins it. */
  readonly resolveHost?: ResolveHost;
  /** Wall clock for webhook-timestamp and HTTP-date Retry-After. */
  readonly now?: () => Date;
}

export interface HttpCallbackExecutor extends TaskExecutor {
  /** Waits for requests in flight, then closes the kept-alive connections. */
  close(): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024;
// Matches undici's own default pool size guess when the caller does not say.
const DEFAULT_CONNECTIONS = 10;
// undici's connect timeout is 10 s; a shorter HTTP_TIMEOUT must win so its message is the one shown.
const MAX_CONNECT_TIMEOUT_MS = 10_000;

/**
 * The http_callback task type: one POST of `data` to `url`, classified for the retry policy.
 * Throws at construction on invalid options (a configuration bug, caught at start-up).
 */
export const createHttpCallbackExecutor = (options: HttpCallbackExecutorOptions = {}): HttpCallbackExecutor => {
  const timeoutMs = options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const userAgent = options.userAgent ?? 'at-worker';
  const now = options.now ?? (() => new Date());
  const keys = decodeWebhookSecrets(options.webhookSecrets ?? []);
  if (E.isLeft(keys)) throw new Error(keys.left);
  const policy = createAddressPolicy(
    { allowPrivateNetworks: options.allowPrivateNetworks ?? false, allowedHosts: options.allowedHosts ?? [] },
    options.resolveHost,
  );
  const connectTimeoutMs = Math.min(timeoutMs, MAX_CONNECT_TIMEOUT_MS);
  const agent = new Agent({
    connections: options.connectionsPerOrigin ?? DEFAULT_CONNECTIONS,
    // Our own timeout (below) is the one that should fire; undici's are a backstop.
    headersTimeout: timeoutMs + 1_000,
    bodyTimeout: timeoutMs + 1_000,
    // The lookup's limit is a backstop too: HTTP_TIMEOUT settles the task's request before it.
    connect: guardedConnector(buildConnector({ timeout: connectTimeoutMs }), policy, connectTimeoutMs + 1_000),
  });

  const execute = async (task: ClaimedTask, signal: AbortSignal, trace?: TraceHeaders): Promise<ExecutionOutcome> => {
    const payload = decodeHttpCallbackPayload(task.payload);
    if (E.isLeft(payload)) return permanentFailure(payload.left);
    let request: CallbackRequest;
    try {
      request = buildCallbackRequest(payload.right, {
        // Stable across retries, so a receiver can de-duplicate at-least-once deliveries.
        webhookId: `task_${deliveryId(task)}`,
        timestampSeconds: Math.floor(now().getTime() / 1000),
        signingKeys: keys.right,
        userAgent,
        ...(trace === undefined ? {} : { trace }),
      });
    } catch (error) {
      // jsonb stores nesting far deeper than JSON.stringify can walk (RangeError): the payload's
      // fault, and no retry will change it (found by fault-poison-tasks).
      return permanentFailure(`payload.data: cannot be serialised as JSON (${oneLine(describeError(error))})`);
    }
    // Aborted by HTTP_TIMEOUT or by the task's own signal, forwarded by hand: AbortSignal.any cost
    // ~20 µs of CPU per request, measured against the benchmark sink.
    let timedOut = false;
    const exchange = startExchange(
      agent,
      { origin: request.origin, path: request.path, method: 'POST', headers: request.headers, body: request.body },
      maxResponseBytes,
    );
    const timer = setTimeout(() => {
      timedOut = true;
      exchange.abort(new Error(`timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    const forward = () => exchange.abort(signal.reason);
    if (signal.aborted) forward();
    else signal.addEventListener('abort', forward, { once: true });
    try {
      // The body is read even on success: a small body read to its end lets the connection be
      // reused. A body cut short (too big, too slow, reset) is still evidence; the status decides,
      // the note explains.
      const response = await exchange.response;
      const cutShort = response.body.error !== undefined && timedOut ? ` (body cut short: timed out after ${timeoutMs} ms)` : '';
      return classifyResponse(response, cutShort, request, now());
    } catch (error) {
      return classifyError(error, request, signal, timedOut, timeoutMs);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', forward);
    }
  };

  return { execute, close: () => agent.close() };
};

// A 2xx is a delivery whatever its body did afterwards: the receiver has accepted the callback.
const classifyResponse = (response: Exchange, note: string, request: CallbackRequest, now: Date): ExecutionOutcome => {
  const status = response.statusCode;
  const details = { http_status: status };
  if (status >= 200 && status < 300) return succeeded(details);
  if (status >= 300 && status < 400) {
    const location = headerValue(response.headers['location']);
    const where = location === undefined ? 'without a Location' : `to ${bodySnippet(Buffer.from(redactUrl(location)), request.secrets)}`;
    return permanentFailure(`HTTP ${status}: redirect ${where} not followed`, details);
  }
  const snippet = bodySnippet(response.body.bytes, request.secrets);
  const message = `${snippet === '' ? `HTTP ${status}` : `HTTP ${status}: ${snippet}`}${note}`;
  if (status >= 500 || status === 408 || status === 429) {
    const retryAfterMs = parseRetryAfter(response.headers['retry-after'], now);
    return retryableFailure(message, retryAfterMs === undefined ? details : { ...details, retry_after_ms: retryAfterMs }, retryAfterMs);
  }
  // Other 4xx (and the odd 1xx/unknown): the request itself is wrong; repeating it will not help.
  return permanentFailure(message, details);
};

const classifyError = (
  error: unknown,
  request: CallbackRequest,
  taskSignal: AbortSignal,
  timedOut: boolean,
  timeoutMs: number,
): ExecutionOutcome => {
  const refused = findCause(error, (cause) => cause instanceof AddressRefusedError);
  if (refused instanceof AddressRefusedError) {
    return permanentFailure(refused.message, { refused_address: refused.verdict.address });
  }
  // The caller's reason (TASK_TIMEOUT, shutdown) wins: the caller inspects signal.reason itself.
  if (taskSignal.aborted) return retryableFailure(`aborted: ${describeReason(taskSignal.reason)}`);
  if (timedOut) return retryableFailure(`timed out after ${timeoutMs} ms`);
  const message = oneLine(redactRequestSecrets(describeError(error), request.secrets));
  // undici refuses some requests before sending them (e.g. an invalid header): that will not change.
  if (isCode(error, 'UND_ERR_INVALID_ARG')) return permanentFailure(`invalid request: ${message}`);
  return retryableFailure(`network error: ${message}`);
};

// Errors are inspected by shape, not `instanceof`: Node's own errors and undici's may come from
// another realm (a test VM, a second copy of undici) and would fail an `instanceof Error` check.
interface ErrorLike {
  readonly message?: unknown;
  readonly code?: unknown;
  readonly name?: unknown;
  readonly cause?: unknown;
  readonly errors?: unknown;
  /** Set on an abort reason the caller gave (TASK_TIMEOUT, shutdown). */
  readonly _tag?: unknown;
}
const asErrorLike = (value: unknown): ErrorLike | undefined => (typeof value === 'object' && value !== null ? value : undefined);

const isCode = (error: unknown, code: string): boolean => asErrorLike(error)?.code === code;

const describeError = (error: unknown, depth = 0): string => {
  const like = asErrorLike(error);
  if (like === undefined || depth > 3) return String(error);
  // Happy-eyeballs connects fail with an AggregateError whose own message is empty.
  if (Array.isArray(like.errors) && like.errors.length > 0) {
    return like.errors.map((inner: unknown) => describeError(inner, depth + 1)).join('; ');
  }
  const text = [like.message, like.code, like.name].find((part) => typeof part === 'string' && part !== '');
  const cause = like.cause === undefined ? '' : ` (${describeError(like.cause, depth + 1)})`;
  return `${typeof text === 'string' ? text : String(error)}${cause}`;
};

const describeReason = (reason: unknown): string => {
  const like = asErrorLike(reason);
  if (typeof like?._tag === 'string') return like._tag;
  if (typeof like?.message === 'string') return like.message;
  return String(reason);
};

const headerValue = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value[0] : value);
