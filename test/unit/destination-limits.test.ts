import * as E from 'fp-ts/lib/Either.js';
import { destinationOf, limitFor } from '../../src/domain/index.js';
import { parseDestinationLimits } from '../../src/infrastructure/config/destination-limits-env.js';

const rules = (raw: string) => {
  const parsed = parseDestinationLimits(raw);
  if (E.isLeft(parsed)) throw new Error(parsed.left);
  return parsed.right;
};

describe('destinations and their limits', () => {
  it('names a destination by HTTP origin, AMQP exchange or the SMTP relay', () => {
    expect(destinationOf('http_callback', { url: 'https://API.example.com:443/hook?x=1' })).toBe('https://api.example.com');
    expect(destinationOf('http_callback', { url: 'http://example.com:8080/a' })).toBe('http://example.com:8080');
    expect(destinationOf('rabbitmq', { exchange: 'orders', routing_key: 'k' })).toBe('amqp:orders');
    expect(destinationOf('rabbitmq', { queue: 'jobs' })).toBe('amqp:');
    expect(destinationOf('email', { to: 'a@example.com' })).toBe('smtp');
    expect(destinationOf('http_callback', { url: 'ftp://example.com' })).toBeNull();
    expect(destinationOf('fax', {})).toBeNull();
  });

  it('matches the exact origin first, then the longest host suffix (whose hosts share one limit), then the default', () => {
    const limits = rules('https://api.example.com in_flight=20 rate=10; .example.com rate=5; .eu.example.com in_flight=2; * in_flight=50');
    expect(limitFor(limits, 'https://api.example.com')).toEqual({ key: 'https://api.example.com', maxInFlight: 20, startsPerSecond: 10 });
    expect(limitFor(limits, 'https://hooks.example.com')).toEqual({ key: 'suffix:example.com', maxInFlight: null, startsPerSecond: 5 });
    expect(limitFor(limits, 'http://example.com:8080')).toEqual({ key: 'suffix:example.com', maxInFlight: null, startsPerSecond: 5 });
    expect(limitFor(limits, 'https://a.eu.example.com')).toEqual({ key: 'suffix:eu.example.com', maxInFlight: 2, startsPerSecond: null });
    expect(limitFor(limits, 'https://notexample.com')).toEqual({ key: 'https://notexample.com', maxInFlight: 50, startsPerSecond: null });
    expect(limitFor(limits, 'amqp:orders')).toEqual({ key: 'amqp:orders', maxInFlight: 50, startsPerSecond: null });
    expect(limitFor(rules('smtp rate=1'), 'https://api.example.com')).toBeNull();
  });

  it('refuses a bad rule with one line naming DESTINATION_LIMITS and the rule', () => {
    const refusal = (raw: string) => E.getOrElse((error: string) => error)(E.map(() => 'accepted')(parseDestinationLimits(raw)));
    expect(refusal('https://api.example.com/hooks rate=1')).toMatch(
      /^DESTINATION_LIMITS: "https:\/\/api.example.com\/hooks" is not an origin/,
    );
    expect(refusal('https://api.example.com')).toBe(
      'DESTINATION_LIMITS: the rule for https://api.example.com sets no limit (in_flight=<n> and/or rate=<starts per second>)',
    );
    expect(refusal('* in_flight=0')).toMatch(/^DESTINATION_LIMITS: "in_flight=0" in the rule for \* must be/);
    expect(refusal('* rate=fast')).toMatch(/^DESTINATION_LIMITS: "rate=fast"/);
    expect(refusal('* rate=1; * in_flight=2')).toBe('DESTINATION_LIMITS: * has two rules');
    expect(refusal('smtp rate=0.5; amqp: in_flight=1')).toBe('accepted');
  });
});
