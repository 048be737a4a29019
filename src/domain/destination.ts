/**
 * Where a task's side effect lands, as the key that fair slots, circuit breaking and destination
 * limits count by: an HTTP callback's origin (`https://api.example.com`, with a port when it is not
 * the scheme's default), a RabbitMQ publish's exchange (`amqp:orders`; `amqp:` is the default
 * exchange, which `{"queue": ...}` publishes through) and, for email, the one configured relay
 * (`smtp`). A payload too broken to name one has none: its executor refuses it anyway.
 *
 * Cheap on purpose (one URL parse at most, no full payload decode): it runs for every task.
 */
export type Destination = string;

export const SMTP_DESTINATION: Destination = 'smtp';

export const destinationOf = (taskType: string, payload: unknown): Destination | null => {
  if (typeof payload !== 'object' || payload === null) return null;
  const fields = payload as Readonly<Record<string, unknown>>;
  switch (taskType) {
    case 'http_callback': {
      if (typeof fields['url'] !== 'string') return null;
      const url = URL.parse(fields['url']);
      return url === null || (url.protocol !== 'http:' && url.protocol !== 'https:') ? null : url.origin;
    }
    case 'rabbitmq':
      if (typeof fields['queue'] === 'string') return 'amqp:';
      return typeof fields['exchange'] === 'string' ? `amqp:${fields['exchange']}` : null;
    case 'email':
      return SMTP_DESTINATION;
    default:
      return null;
  }
};

/** The host of an HTTP destination (for host-suffix matching); null for AMQP and SMTP. */
export const hostOf = (destination: Destination): string | null =>
  destination.startsWith('http') ? (URL.parse(destination)?.hostname ?? null) : null;
