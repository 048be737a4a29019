import * as t from 'io-ts';

/**
 * Codecs for environment variables: each decodes the raw string (or undefined, for an unset variable)
 * to a typed value, applying the default. Their `name` is the "expected ..." part of the one-line
 * start-up error, so it is written for an operator.
 */
const fromEnv = <A>(name: string, parse: (raw: string) => A | undefined, fallback: A | undefined) =>
  new t.Type<A, string, unknown>(
    name,
    (value): value is A => value !== undefined,
    (value, context) => {
      if (value === undefined || value === '') {
        return fallback === undefined ? t.failure(value, context, 'is required') : t.success(fallback);
      }
      if (typeof value !== 'string') return t.failure(value, context);
      const parsed = parse(value.trim());
      return parsed === undefined ? t.failure(value, context) : t.success(parsed);
    },
    String,
  );

const finite = (raw: string): number | undefined => {
  if (!/^[+-]?(\d+\.?\d*|\.\d+)$/.test(raw)) return undefined;
  const value = Number(raw);
  return Number.isFinite(value) ? value : undefined;
};

const integerIn =
  (min: number, max: number) =>
  (raw: string): number | undefined => {
    const value = finite(raw);
    return value !== undefined && Number.isInteger(value) && value >= min && value <= max ? value : undefined;
  };
const positive = integerIn(1, Infinity);

export const positiveInteger = (fallback?: number) => fromEnv('a positive integer', positive, fallback);

export const nonNegativeInteger = (fallback?: number) => fromEnv('a non-negative integer', integerIn(0, Infinity), fallback);

/** A share such as 0.5: more than 0, at most 1. */
export const fraction = (fallback: number) =>
  fromEnv(
    'a number more than 0 and at most 1 (a share, such as 0.5)',
    (raw) => {
      const value = finite(raw);
      return value !== undefined && value > 0 && value <= 1 ? value : undefined;
    },
    fallback,
  );

export const port = (fallback?: number) => fromEnv('a port number (0-65535)', integerIn(0, 65535), fallback);

// Node runs a timer longer than this (2^31 - 1 ms, about 24.8 days) after 1 ms instead: a
// TASK_TIMEOUT set huge "to turn it off" would time out every task at once.
const LONGEST_TIMER_MS = 2_147_483_647;

/**
 * A duration given in `unit`s (fractions allowed: 0.05 min, 0.2 s), decoded to milliseconds: at
 * least 1 ms once rounded, and no longer than a Node timer can wait.
 */
export const duration = (unit: 'seconds' | 'minutes', fallbackInUnits: number) => {
  const factor = unit === 'seconds' ? 1000 : 60_000;
  const most = Math.floor(LONGEST_TIMER_MS / factor);
  return fromEnv(
    `a positive number of ${unit}, at most ${most} (about 24 days)`,
    (raw) => {
      const value = finite(raw);
      if (value === undefined) return undefined;
      const ms = Math.round(value * factor);
      return ms >= 1 && ms <= LONGEST_TIMER_MS ? ms : undefined;
    },
    fallbackInUnits * factor,
  );
};

const RETENTION_UNITS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * How long to keep something: a whole number with a unit (`30d`, `12h`, `15m`, `90s`), or `forever`
 * (decoded to null). Unlike the timers above it is never waited on, so it may be years long.
 */
export const retention = (fallback: string) =>
  fromEnv<number | null>(
    "a duration with a unit (30d, 12h, 15m, 90s) or 'forever'",
    (raw) => {
      if (raw.toLowerCase() === 'forever') return null;
      const match = /^(\d{1,6})([smhd])$/.exec(raw);
      return match === null ? undefined : Number(match[1]) * (RETENTION_UNITS[match[2] as string] as number);
    },
    fallback === 'forever' ? null : Number(fallback.slice(0, -1)) * (RETENTION_UNITS[fallback.slice(-1)] as number),
  );

export const boolean = (fallback: boolean) =>
  fromEnv(
    'true or false',
    (raw) => {
      const value = raw.toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(value)) return true;
      if (['false', '0', 'no', 'off'].includes(value)) return false;
      return undefined;
    },
    fallback,
  );

export const oneOf = <const V extends string>(values: readonly V[], fallback: V) =>
  fromEnv(`one of ${values.join(', ')}`, (raw) => values.find((value) => value === raw.toLowerCase()), fallback);

export const text = (fallback?: string) => fromEnv('a non-empty string', (raw) => (raw === '' ? undefined : raw), fallback);

export const optionalText = fromEnv<string | null>('a string', (raw) => raw, null);

/** Space- or comma-separated words. */
export const list = fromEnv<readonly string[]>('a space- or comma-separated list', (raw) => raw.split(/[\s,]+/).filter(Boolean), []);

export const url = (protocols: readonly string[], fallback: string | null) =>
  fromEnv<string | null>(
    `a ${protocols.join(' or ')} URL`,
    (raw) => {
      try {
        return protocols.includes(new URL(raw).protocol.replace(/:$/, '')) ? raw : undefined;
      } catch {
        return undefined;
      }
    },
    fallback,
  );

export const optionalPositiveInteger = fromEnv<number | null>('a positive integer', positive, null);

export const optionalPort = fromEnv<number | null>('a port number (1-65535)', integerIn(1, 65535), null);

/** A URL with a default when unset; set to the empty string it means "off" (null). */
export const urlOrOff = (protocols: readonly string[], fallback: string) => {
  const parse = url(protocols, fallback);
  return new t.Type<string | null, string, unknown>(
    parse.name,
    (value): value is string | null => value === null || typeof value === 'string',
    (value, context) => (value === '' ? t.success(null) : parse.validate(value, context)),
    String,
  );
};
