/**
 * Where a task's side effect lands, as the key that fair slots, circuit breaking and destination
 * limits count by: an HTTP callback's origin (`https://api.example.com`, with a port when it is not
 * the scheme's default), a RabbitMQ publish's exchange (`amqp:orders`; `amqp:` is the default
 * exchange, which `{"queue": ...}` publishes through) and, for email, the one configured relay
 * (`smtp`). A payload too broken to name one has none: its executor refuses it anyway.
 *
 * Cheap on purpose (no full payload decode, and a URL seen lately is not parsed again): it runs
 * for every task, more than once.
 */
export type Destination = string;

export const SMTP_DESTINATION: Destination = 'smtp';

export const destinationOf = (taskType: string, payload: unknown): Destination | null => {
  if (typeof payload !== 'object' || payload === null) return null;
  const fields = payload as Readonly<Record<string, unknown>>;
  switch (taskType) {
    case 'http_callback':
      return typeof fields['url'] === 'string' ? httpOrigin(fields['url']) : null;
    case 'rabbitmq':
      if (typeof fields['queue'] === 'string') return 'amqp:';
      return typeof fields['exchange'] === 'string' ? `amqp:${fields['exchange']}` : null;
    case 'email':
      return SMTP_DESTINATION;
    default:
      return null;
  }
};

const ORIGINS_KEPT = 1_000;
const origins = new Map<string, Destination | null>();

/**
 * The origin of `url` when it is an absolute http(s) URL, else null. The answers for the last
 * ORIGINS_KEPT URLs are kept: a task's URL is read by its payload's check, fair slots and the
 * destination guard, and a burst often goes to one URL, while a parse costs about a microsecond.
 */
export const httpOrigin = (url: string): Destination | null => {
  let origin = origins.get(url);
  if (origin === undefined) {
    const parsed = URL.parse(url);
    origin = parsed === null || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') ? null : parsed.origin;
    if (origins.size >= ORIGINS_KEPT) origins.clear();
    origins.set(url, origin);
  }
  return origin;
};

/** The host of an HTTP destination (for host-suffix matching); null for AMQP and SMTP. */
export const hostOf = (destination: Destination): string | null =>
  destination.startsWith('http') ? (URL.parse(destination)?.hostname ?? null) : null;
