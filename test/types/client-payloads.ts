/**
 * Compile-time checks of the client's request types, checked by `tsc` in every build (`npm run
 * build`, which `npm test` runs first): each `@ts-expect-error` line must be a type error, or the
 * build fails with "Unused '@ts-expect-error' directive". Nothing here runs.
 */
import type { ScheduleRequest, Scheduler } from '../../src/client/index.js';

export const checks = (scheduler: Scheduler): Promise<unknown>[] => [
  // Right shapes compile.
  scheduler.schedule({
    type: 'http_callback',
    payload: { url: 'https://example.com/hook', data: { order: 42 } },
    in: '5m',
    key: 'order-42',
  }),
  scheduler.schedule({ type: 'rabbitmq', payload: { exchange: 'events', routing_key: 'order.paid', message: {} }, at: new Date() }),
  scheduler.schedule({ type: 'rabbitmq', payload: { queue: 'orders', message: 'hi', persistent: true }, maxAttempts: 5 }),
  scheduler.schedule({ type: 'email', payload: { to: ['a@example.com'], subject: 'Hi', html: '<p>Hi</p>' } }),
  scheduler.scheduleMany([{ type: 'email', payload: { to: 'a@example.com', subject: 'Hi', text: 'Hi' }, in: 60_000 }]),

  // @ts-expect-error an http_callback needs a url
  scheduler.schedule({ type: 'http_callback', payload: { data: {} } }),
  // @ts-expect-error an http_callback's url is a string
  scheduler.schedule({ type: 'http_callback', payload: { url: 42, data: {} } }),
  // @ts-expect-error header values are strings
  scheduler.schedule({ type: 'http_callback', payload: { url: 'https://example.com', data: {}, headers: { 'X-Count': 1 } } }),
  // @ts-expect-error a payload of another type: rabbitmq has no url
  scheduler.schedule({ type: 'rabbitmq', payload: { url: 'https://example.com', data: {} } }),
  // @ts-expect-error an email needs a subject
  scheduler.schedule({ type: 'email', payload: { to: 'a@example.com', text: 'Hi' } }),
  // @ts-expect-error an email needs text or html
  scheduler.schedule({ type: 'email', payload: { to: 'a@example.com', subject: 'Hi' } }),
  // @ts-expect-error an unknown task type
  scheduler.schedule({ type: 'sms', payload: { to: '+100' } }),
  // @ts-expect-error at or in, not both
  scheduler.schedule({ type: 'rabbitmq', payload: { queue: 'q', message: 1 }, at: new Date(), in: '5m' }),
  // @ts-expect-error a delay is milliseconds or 90s / 5m / 2h / 1d
  scheduler.schedule({ type: 'rabbitmq', payload: { queue: 'q', message: 1 }, in: '5 minutes' }),
  // @ts-expect-error at is a Date
  scheduler.schedule({ type: 'rabbitmq', payload: { queue: 'q', message: 1 }, at: '2030-01-01' }),
];

// @ts-expect-error the type decides the payload in a list as well
export const wrongInList: ScheduleRequest[] = [{ type: 'email', payload: { queue: 'q', message: 1 } }];
