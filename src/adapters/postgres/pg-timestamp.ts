import pg from 'pg';
import { ExactInstant, normalPgText } from '../../shared/exact-instant.js';

/**
 * Every instant a timestamptz column holds, as a Date. PostgreSQL accepts more than a Date can hold,
 * and writes some of it in forms JavaScript does not read:
 * - 'infinity' and '-infinity' (a task parked for good, or due since always) read as the latest and
 *   earliest instants a Date holds, so every command can still show, verify and cancel such a row;
 * - dates before the common era ('0044-03-15 00:00:00+00 BC') and years past 9999 (no '+' sign) are
 *   read by pg's own parser;
 * - instants after the last a Date holds (+275760-09-13; PostgreSQL goes on to 294276) read as the
 *   millisecond before it: later than any real schedule, and apart from 'infinity'.
 * The infinities, BC dates and instants past a Date's range are ExactInstants: they compute as the
 * Date above, and show (toISOString, JSON) as PostgreSQL's own text, exactly.
 * The row parser (pool.ts) and the event codec (the same instants inside jsonb, where to_json writes
 * them with a 'T') both read through here, so a row and its history agree on every value.
 */
export const LATEST_DATE_MS = 8.64e15;

const parsePgTimestamptz = pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ, 'text') as (value: string) => Date | number | null;

export const readPgTimestamp = (text: string): Date | undefined => {
  if (text === 'infinity') return new ExactInstant(LATEST_DATE_MS, text);
  if (text === '-infinity') return new ExactInstant(-LATEST_DATE_MS, text);
  if (!text.endsWith(' BC')) {
    // ISO-8601 as JavaScript writes it (toISOString), and to_json's form for the years 1-9999.
    const direct = new Date(text);
    if (!Number.isNaN(direct.getTime())) return direct;
  }
  const parsed = parsePgTimestamptz(text.replace('T', ' '));
  if (parsed instanceof Date && !Number.isNaN(parsed.getTime())) {
    return text.endsWith(' BC') ? new ExactInstant(parsed.getTime(), normalPgText(text)) : parsed;
  }
  if (/^\d{6}-\d\d-\d\d[ T]/.test(text)) return new ExactInstant(LATEST_DATE_MS - 1, normalPgText(text));
  return undefined;
};
