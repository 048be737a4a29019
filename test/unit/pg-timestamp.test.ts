import { LATEST_DATE_MS, readPgTimestamp } from '../../src/adapters/postgres/pg-timestamp.js';

describe('timestamptz text as a Date', () => {
  it('reads every form PostgreSQL writes, in a row (text) and inside jsonb (to_json)', () => {
    const cases: ReadonlyArray<readonly [string, number]> = [
      ['infinity', LATEST_DATE_MS],
      ['-infinity', -LATEST_DATE_MS],
      ['2026-01-01 12:00:00.123456+05:30', Date.UTC(2026, 0, 1, 6, 30, 0, 123)],
      ['2026-01-01T12:00:00.123456+05:30', Date.UTC(2026, 0, 1, 6, 30, 0, 123)],
      ['2026-01-01T06:30:00.123Z', Date.UTC(2026, 0, 1, 6, 30, 0, 123)],
      // 44 BC is the astronomical year -43.
      ['0044-03-15 00:00:00+00 BC', Date.UTC(-43, 2, 15)],
      ['0044-03-15T00:00:00+00:00 BC', Date.UTC(-43, 2, 15)],
      ['12345-01-01T00:00:00+00:00', Date.UTC(12345, 0, 1)],
      ['294276-12-31T23:59:59.999999+00:00', LATEST_DATE_MS - 1],
      ['275760-09-13 00:00:00.001+00', LATEST_DATE_MS - 1],
    ];
    for (const [text, ms] of cases) expect({ text, ms: readPgTimestamp(text)?.getTime() }).toEqual({ text, ms });
  });

  it('reads nothing else', () => {
    for (const text of ['', 'soon', 'infinityx']) expect(readPgTimestamp(text)).toBeUndefined();
  });
});
