import { connect, type ChannelModel, type ConfirmChannel, type Message, type Options } from 'amqplib';
import type { Logger } from '../../application/ports.js';
import { errorMessage } from '../../shared/error-message.js';
import { waitAtMost } from './rabbitmq-wait.js';

/** How one publish ended, as far as the broker told us. */
export type PublishResult =
  | { readonly _tag: 'Confirmed' }
  /** Confirmed, but the broker handed it back first: `mandatory` and nothing to route it to. */
  | { readonly _tag: 'Returned'; readonly replyCode: number; readonly replyText: string }
  | { readonly _tag: 'Nacked' }
  | { readonly _tag: 'ChannelClosed'; readonly reason: string }
  /** amqplib could not encode it (e.g. headers beyond the 64 KiB frame buffer): the task's fault. */
  | { readonly _tag: 'Unencodable'; readonly reason: string };

export type ExchangeCheck =
  | { readonly _tag: 'Exists' }
  | { readonly _tag: 'Missing'; readonly reason: string }
  | { readonly _tag: 'Refused'; readonly reason: string };

/**
 * One connection and its confirm channel. Once either closes the link is gone for good; the next
 * task opens a new one. Rebuilding both is simpler than mending one and happens rarely: channel
 * errors from bad exchange names are headed off by `checkExchange`, which uses its own channel.
 */
export interface Link {
  publish(exchange: string, routingKey: string, content: Buffer, options: PublishOptions): Promise<PublishResult>;
  checkExchange(name: string): Promise<ExchangeCheck>;
  /** Stops using this link (e.g. after a missed confirm) and closes it in the background. */
  discard(reason: string): void;
  close(): Promise<void>;
}

export type PublishOptions = Options.Publish & { readonly messageId: string };

export interface LinkOptions {
  readonly url: string;
  /** Bounds the handshake, opening the confirm channel, and closing: a broker that stops answering cannot hold any of them. */
  readonly connectTimeoutMs: number;
  readonly connectionName: string;
  /** The URL as it may be logged. */
  readonly shownUrl: string;
  readonly scrub: (text: string) => string;
  readonly logger: Logger | undefined;
  /** Called once when the link stops being usable, whatever the cause. */
  readonly onGone: () => void;
}

const ignore = (): void => undefined;
const notAborted = new AbortController().signal;

/**
 * Ends the connection's socket without the AMQP close handshake. For when the broker does not
 * answer: amqplib's close() settles only on the broker's Close-Ok, and its channel opening waits
 * for Open-Ok, both with no time limit of their own.
 */
const dropSocket = (model: ChannelModel): void => {
  // With an error: amqplib cleans up (heartbeat timers, the 'close' event) on the stream's 'error' or 'end', not on 'close'.
  const stream = (model as unknown as { connection?: { stream?: { destroy?: (error: Error) => void } } }).connection?.stream;
  stream?.destroy?.(new Error('RabbitMQ stopped answering; the connection was dropped'));
};

/** model.close(), but no longer than `timeoutMs`; after that the socket is dropped. */
const closeWithin = async (model: ChannelModel, timeoutMs: number): Promise<void> => {
  const closed = await waitAtMost(model.close(), timeoutMs, notAborted);
  if (closed._tag !== 'Done') dropSocket(model);
};

export const openLink = async (options: LinkOptions): Promise<Link> => {
  const { logger, scrub } = options;
  const model: ChannelModel = await connect(options.url, {
    timeout: options.connectTimeoutMs,
    // Shown by `rabbitmqctl list_connections` and the management UI, so operators can tell us apart.
    clientProperties: { connection_name: options.connectionName },
  });
  let gone = false;
  let lastError: string | undefined;
  const goneNow = (why: string): void => {
    if (gone) return;
    gone = true;
    options.onGone();
    logger?.warn('RabbitMQ connection closed; the next task reconnects', { reason: why, url: options.shownUrl });
  };
  // Without 'error' listeners an emitted error would be thrown out of amqplib's frame handler.
  model.on('error', (error: Error) => (lastError = scrub(error.message)));
  model.on('close', (error?: Error) => goneNow(error === undefined ? (lastError ?? 'closed') : scrub(error.message)));
  model.on('blocked', (reason: string) => logger?.warn('RabbitMQ blocked this connection; confirms wait', { reason }));
  model.on('unblocked', () => logger?.info('RabbitMQ unblocked this connection'));

  let channel: ConfirmChannel;
  const opened = await waitAtMost(model.createConfirmChannel(), options.connectTimeoutMs, notAborted);
  if (opened._tag === 'Done') channel = opened.value;
  else {
    // A link half open would be handed to every later task: give up on it now, so the next one reconnects.
    dropSocket(model);
    throw opened._tag === 'Failed' ? opened.error : new Error(`RabbitMQ did not open a channel within ${options.connectTimeoutMs} ms`);
  }
  channel.on('error', (error: Error) => (lastError = scrub(error.message)));
  channel.on('close', () => {
    goneNow(lastError ?? 'channel closed');
    model.close().catch(ignore);
  });

  // Publishes awaiting their confirm, by message_id, so a basic.return (which RabbitMQ sends
  // before the basic.ack of the same message) can be pinned on the right one.
  const awaiting = new Map<string, Array<{ returned?: { replyCode: number; replyText: string } }>>();
  channel.on('return', (message: Message) => {
    const fields = message.fields as unknown as { replyCode?: number; replyText?: string };
    const entry = awaiting.get(String(message.properties.messageId))?.find((candidate) => candidate.returned === undefined);
    if (entry !== undefined) entry.returned = { replyCode: fields.replyCode ?? 312, replyText: fields.replyText ?? 'NO_ROUTE' };
  });
  const knownExchanges = new Set<string>();

  logger?.info('Connected to RabbitMQ', { url: options.shownUrl, connection_name: options.connectionName });

  const publish = (exchange: string, routingKey: string, content: Buffer, publishOptions: PublishOptions) =>
    new Promise<PublishResult>((resolve) => {
      if (gone) return resolve({ _tag: 'ChannelClosed', reason: lastError ?? 'connection closed' });
      const entry: { returned?: { replyCode: number; replyText: string } } = {};
      const entries = awaiting.get(publishOptions.messageId) ?? [];
      entries.push(entry);
      awaiting.set(publishOptions.messageId, entries);
      const settle = (result: PublishResult): void => {
        const remaining = entries.filter((candidate) => candidate !== entry);
        if (remaining.length === 0) awaiting.delete(publishOptions.messageId);
        else awaiting.set(publishOptions.messageId, remaining);
        resolve(result);
      };
      try {
        channel.publish(exchange, routingKey, content, publishOptions, (error: unknown) => {
          if (error === null || error === undefined) {
            settle(entry.returned === undefined ? { _tag: 'Confirmed' } : { _tag: 'Returned', ...entry.returned });
          } else if (error instanceof Error && error.message === 'message nacked') {
            settle({ _tag: 'Nacked' });
          } else {
            settle({ _tag: 'ChannelClosed', reason: lastError ?? scrub(errorMessage(error)) });
          }
        });
      } catch (error) {
        // amqplib throws synchronously for a closed channel (IllegalOperationError) and for
        // content it cannot encode (RangeError, TypeError); only the latter is the task's fault.
        settle(
          gone || (error instanceof Error && error.name === 'IllegalOperationError')
            ? { _tag: 'ChannelClosed', reason: lastError ?? scrub(errorMessage(error)) }
            : { _tag: 'Unencodable', reason: scrub(errorMessage(error)) },
        );
      }
    });

  // A passive declare of a missing exchange closes the channel it runs on; on the shared confirm
  // channel that would fail every publish in flight, so it runs on a throwaway channel instead.
  const checkExchange = async (name: string): Promise<ExchangeCheck> => {
    if (knownExchanges.has(name)) return { _tag: 'Exists' };
    const probe = await model.createChannel();
    probe.on('error', ignore);
    try {
      await probe.checkExchange(name);
      knownExchanges.add(name);
      return { _tag: 'Exists' };
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === 404) return { _tag: 'Missing', reason: scrub(errorMessage(error)) };
      if (code === 403) return { _tag: 'Refused', reason: scrub(errorMessage(error)) };
      throw error;
    } finally {
      probe.close().catch(ignore);
    }
  };

  return {
    publish,
    checkExchange,
    discard: (reason) => {
      lastError = reason;
      goneNow(reason);
      void closeWithin(model, options.connectTimeoutMs);
    },
    close: async () => {
      gone = true;
      await closeWithin(model, options.connectTimeoutMs);
    },
  };
};
