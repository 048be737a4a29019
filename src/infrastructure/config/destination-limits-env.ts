import * as E from 'fp-ts/lib/Either.js';
import type { LimitMatch, LimitRule } from '../../domain/index.js';

/**
 * DESTINATION_LIMITS: rules separated by `;`, each a destination pattern and its limits:
 *
 *   https://api.example.com in_flight=20 rate=10; .example.org rate=5; * in_flight=50
 *
 * The pattern is an HTTP origin, `amqp:<exchange>`, `smtp`, a host suffix starting with `.`, or `*`
 * (the default, for every destination no other rule matches). `in_flight`: at most that many of its
 * tasks running at once; `rate`: at most that many starts per second. Both across all workers.
 */
export const parseDestinationLimits = (raw: string): E.Either<string, readonly LimitRule[]> => {
  const rules: LimitRule[] = [];
  for (const text of raw
    .split(';')
    .map((part) => part.trim())
    .filter(Boolean)) {
    const [pattern, ...settings] = text.split(/\s+/);
    const match = parseMatch(pattern!);
    if (E.isLeft(match)) return E.left(`DESTINATION_LIMITS: ${match.left}`);
    let maxInFlight: number | null = null;
    let startsPerSecond: number | null = null;
    for (const setting of settings) {
      const [key, value = ''] = setting.split('=', 2);
      const number = /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
      if (key === 'in_flight' && Number.isInteger(number) && number >= 1) maxInFlight = number;
      else if (key === 'rate' && number > 0) startsPerSecond = number;
      else
        return E.left(
          `DESTINATION_LIMITS: "${setting}" in the rule for ${pattern} must be in_flight=<positive integer> or rate=<starts per second>`,
        );
    }
    if (maxInFlight === null && startsPerSecond === null) {
      return E.left(`DESTINATION_LIMITS: the rule for ${pattern} sets no limit (in_flight=<n> and/or rate=<starts per second>)`);
    }
    if (rules.some((rule) => JSON.stringify(rule.match) === JSON.stringify(match.right))) {
      return E.left(`DESTINATION_LIMITS: ${pattern} has two rules`);
    }
    rules.push({ match: match.right, maxInFlight, startsPerSecond });
  }
  return E.right(rules);
};

const parseMatch = (pattern: string): E.Either<string, LimitMatch> => {
  if (pattern === '*') return E.right({ kind: 'default' });
  if (pattern === 'smtp' || /^amqp:[^\s;]*$/.test(pattern)) return E.right({ kind: 'exact', destination: pattern });
  if (pattern.startsWith('.')) {
    const suffix = pattern.slice(1).toLowerCase();
    return /^[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(suffix)
      ? E.right({ kind: 'suffix', suffix })
      : E.left(`"${pattern}" is not a host suffix such as .example.com`);
  }
  const url = URL.parse(pattern);
  if (url !== null && (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === pattern.replace(/\/$/, '')) {
    return E.right({ kind: 'exact', destination: url.origin });
  }
  return E.left(`"${pattern}" is not an origin (https://host[:port]), amqp:<exchange>, smtp, a host suffix (.example.com) or *`);
};
