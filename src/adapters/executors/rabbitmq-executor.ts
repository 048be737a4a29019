import * as E from 'fp-ts/lib/Either.js';
import { deliveryId, type ClaimedTask, type Logger, type TaskExecutor, type TraceHeaders } from '../../application/ports.js';
import { permanentFailure, retryableFailure, succeeded, type ExecutionOutcome } from '../../domain/execution.js';
import { decodeRabbitMqPayload, rabbitMqMessageId, type RabbitMqPublication } from '../../domain/payloads/rabbitmq.js';
import { errorMessage } from '../../shared/error-message.js';
import { secretRedactor } from '../../shared/redact.js';
import { openLink, type Link } from './rabbitmq-link.js';
import { waitAtMost } from './rabbitmq-wait.js';
import { safeDecode } from './message-text.js';

export interface RabbitMqExecutorOptions {
  /** AMQP_URL, e.g. amqp://user:password@host:5672/vhost. Never shown with its password. */
  readonly url: string;
  /** AMQP_CONFIRM_TIMEOUT in ms: how long a publish may wait for the broker's confirm. */
  readonly confirmTimeoutMs: number;
  /** Connecting (TCP + AMQP handshake + channel). Default: confirmTimeoutMs. */
  readonly connectTimeoutMs?: number;
  /** client_properties.connection_name, as operators see it in rabbitmqctl. Default "at-worker". */
  readonly connectionName?: string;
  readonly logger?: Logger;
}

export interface RabbitMqExecutor extends TaskExecutor {
  /** Closes the connection; publishes still waiting for a confirm end as retryable failures. */
  close(): Promise<void>;
}

/**
 * The rabbitmq task type. One connection and one confirm channel per process, opened by the first
 * task that needs them (so a worker with no rabbitmq tasks never needs a broker) and opened again
 * by the next task after the broker closes them. A publish succeeds only once the broker confirms
 * it; `mandatory` makes an unroutable message come back instead of vanishing.
 */
export const createRabbitMqExecutor = (options: RabbitMqExecutorOptions): RabbitMqExecutor => {
  const { shownUrl, secrets } = urlSecrets(options.url);
  const redact = secretRedactor(secrets);
  const scrub = (text: string): string => redact(replaceAll(text, options.url, shownUrl));
  const connectTimeoutMs = options.connectTimeoutMs ?? options.confirmTimeoutMs;
  let current: Promise<Link> | null = null;
  // The link once open, so close() need not wait for a connect that may hang until its timeout.
  let live: Link | null = null;
  let closed = false;
  const refusals = brokerRefusals();

  const link = (): Promise<Link> => {
    if (closed) return Promise.reject(new Error('the rabbitmq executor has been closed'));
    if (current !== null) return current;
    const opening: Promise<Link> = openLink({
      url: options.url,
      connectTimeoutMs,
      connectionName: options.connectionName ?? 'at-worker',
      shownUrl,
      scrub,
      logger: options.logger,
      onGone: () => {
        if (current === opening) current = null;
        live = null;
      },
    });
    current = opening;
    opening.then(
      (opened) => {
        if (closed) void opened.close();
        else if (current === opening) live = opened;
      },
      // A failed attempt is forgotten at once, so the next task tries again rather than reusing it.
      () => {
        if (current === opening) current = null;
      },
    );
    return opening;
  };

  const execute = async (task: ClaimedTask, signal: AbortSignal, trace?: TraceHeaders): Promise<ExecutionOutcome> => {
    const decoded = decodeRabbitMqPayload(task.payload);
    if (E.isLeft(decoded)) return permanentFailure(decoded.left);
    const publication = decoded.right;
    const messageId = rabbitMqMessageId(deliveryId(task));
    const details = { exchange: publication.exchange, routing_key: publication.routingKey, message_id: messageId };
    const body = Buffer.from(publication.body, 'utf8');
    const refused = refusals.before(publication.exchange, body.length);
    if (refused !== undefined) return permanentFailure(refused, details);
    const started = Date.now();

    const connected = await waitAtMost(link(), connectTimeoutMs, signal);
    switch (connected._tag) {
      case 'Aborted':
        return retryableFailure(`aborted while connecting to RabbitMQ: ${connected.reason}`, details);
      case 'TimedOut':
        return retryableFailure(`RabbitMQ did not accept a connection within ${connectTimeoutMs} ms (${shownUrl})`, details);
      case 'Failed':
        return retryableFailure(`could not connect to RabbitMQ (${shownUrl}): ${scrub(errorMessage(connected.error))}`, details);
      case 'Done':
        break;
    }
    const channel = connected.value;

    if (publication.exchange !== '') {
      const checked = await waitAtMost(channel.checkExchange(publication.exchange), options.confirmTimeoutMs, signal);
      if (checked._tag === 'Aborted') return retryableFailure(`aborted before publishing: ${checked.reason}`, details);
      if (checked._tag === 'TimedOut') {
        // As after a missed confirm: a link that stopped answering is not handed to the next task.
        channel.discard(`no answer to an exchange check within ${options.confirmTimeoutMs} ms`);
        return retryableFailure(`RabbitMQ did not answer within ${options.confirmTimeoutMs} ms`, details);
      }
      if (checked._tag === 'Failed') return retryableFailure(`RabbitMQ connection failed: ${scrub(errorMessage(checked.error))}`, details);
      // A missing exchange is an address that does not exist, like an HTTP 404: waiting will not
      // create it, so the task fails at once and the operator reads why.
      if (checked.value._tag === 'Missing')
        return permanentFailure(`exchange "${publication.exchange}" does not exist: ${checked.value.reason}`, details);
      if (checked.value._tag === 'Refused')
        return permanentFailure(`access to exchange "${publication.exchange}" refused: ${checked.value.reason}`, details);
    }

    const published = await waitAtMost(
      channel.publish(publication.exchange, publication.routingKey, body, publishOptions(publication, messageId, trace)),
      options.confirmTimeoutMs,
      signal,
    );
    const confirmMs = Date.now() - started;
    switch (published._tag) {
      case 'Aborted':
        return retryableFailure(`aborted while waiting for the publisher confirm: ${published.reason}`, details);
      case 'TimedOut':
        // A link that missed a confirm is not trusted again: the next task gets a fresh one.
        channel.discard(`no publisher confirm within ${options.confirmTimeoutMs} ms`);
        return retryableFailure(
          `no publisher confirm from RabbitMQ within ${options.confirmTimeoutMs} ms; it may still be delivered (message_id ${messageId})`,
          details,
        );
      case 'Failed':
        return retryableFailure(`publish failed: ${scrub(errorMessage(published.error))}`, details);
      case 'Done':
        break;
    }
    const result = published.value;
    switch (result._tag) {
      case 'Confirmed':
        return succeeded({ ...details, confirm_ms: confirmMs, bytes: body.length });
      case 'Returned':
        // Retryable: the usual cause is a consumer that has not declared its queue yet (deploy
        // order, an auto-delete queue between restarts), which the backoff gives time to fix.
        return retryableFailure(
          `unroutable: RabbitMQ returned the message (${result.replyCode} ${result.replyText}): ${noRoute(publication)}`,
          details,
        );
      case 'Nacked':
        return retryableFailure(`RabbitMQ refused the message (nack) for ${target(publication)}`, details);
      case 'ChannelClosed': {
        const own = refusals.after(result.reason, publication.exchange, body.length);
        if (own !== undefined) return permanentFailure(own, details);
        return retryableFailure(`the RabbitMQ channel closed before the confirm: ${result.reason}`, details);
      }
      case 'Unencodable':
        return permanentFailure(`the message cannot be encoded for AMQP: ${result.reason}`, details);
    }
  };

  const close = async (): Promise<void> => {
    closed = true;
    current = null;
    const opened = live;
    live = null;
    await opened?.close();
  };

  return { execute, close };
};

const INTERNAL_EXCHANGE = /cannot publish to internal exchange '([^']*)'/;
const TOO_LARGE = /message size \d+ is larger than configured max size (\d+)/;

/**
 * What the broker refused, remembered for the life of the process. RabbitMQ answers a publish to
 * an internal exchange (403) or over its max_message_size (406) by closing the channel, which all
 * publishes share: every one then in flight fails with that reason, and the refused message, if
 * retried, would close the channel again on each attempt. So the message the reason names fails
 * permanently, the others are retried, and later messages that would be refused the same way fail
 * before they are sent. (A restart forgets: raising max_message_size needs no more than that.)
 */
const brokerRefusals = () => {
  const internalExchanges = new Map<string, string>();
  let maxMessage: { readonly bytes: number; readonly reason: string } | undefined;
  const refusal = (exchange: string, bytes: number): string | undefined => {
    const internal = internalExchanges.get(exchange);
    if (internal !== undefined) return `RabbitMQ refuses publishing to internal exchange "${exchange}": ${internal}`;
    if (maxMessage !== undefined && bytes > maxMessage.bytes) {
      return `the message is ${bytes} bytes, over RabbitMQ's max_message_size of ${maxMessage.bytes}: ${maxMessage.reason}`;
    }
    return undefined;
  };
  return {
    /** Why this message would be refused, from what the broker said before; undefined to go ahead. */
    before: refusal,
    /** Learns from the reason a channel closed; whether this message was the one refused. */
    after: (reason: string, exchange: string, bytes: number): string | undefined => {
      const internal = INTERNAL_EXCHANGE.exec(reason);
      if (internal !== null) internalExchanges.set(internal[1]!, reason);
      const tooLarge = TOO_LARGE.exec(reason);
      if (tooLarge !== null) maxMessage = { bytes: Number(tooLarge[1]), reason };
      return refusal(exchange, bytes);
    },
  };
};

// The trace context goes in the message headers (traceparent, tracestate), as the OpenTelemetry
// messaging conventions put it; a header of the payload's own with the same name wins.
const publishOptions = (publication: RabbitMqPublication, messageId: string, trace: TraceHeaders | undefined) => ({
  messageId,
  mandatory: true,
  persistent: publication.persistent,
  headers: trace === undefined ? publication.headers : { ...trace, ...publication.headers },
  appId: 'at-worker',
  ...(publication.contentType === undefined ? {} : { contentType: publication.contentType }),
});

const target = (publication: RabbitMqPublication): string =>
  `${publication.exchange === '' ? 'the default exchange' : `exchange "${publication.exchange}"`} ` +
  `with routing key "${publication.routingKey}"`;

const noRoute = (publication: RabbitMqPublication): string =>
  publication.exchange === ''
    ? `there is no queue named "${publication.routingKey}"`
    : `no queue is bound to exchange "${publication.exchange}" for routing key "${publication.routingKey}"`;

const replaceAll = (text: string, search: string, replacement: string): string =>
  search === '' ? text : text.split(search).join(replacement);

/** The URL as it may be shown, and the strings that must never be (the password, raw and decoded). */
const urlSecrets = (url: string): { readonly shownUrl: string; readonly secrets: readonly string[] } => {
  try {
    const parsed = new URL(url);
    const secrets = [parsed.password, safeDecode(parsed.password)].filter((secret) => secret.length > 0);
    if (parsed.password !== '') parsed.password = '***';
    return { shownUrl: parsed.toString(), secrets };
  } catch {
    // Not a URL we can read: show none of it, amqplib's own error will say what is wrong.
    return { shownUrl: '<AMQP_URL>', secrets: [url] };
  }
};
