import { hostOf, type Destination } from './destination.js';

/**
 * Per-destination limits (DESTINATION_LIMITS): which destinations a rule covers, and its limits.
 * `exact` matches one destination (`https://api.example.com`, `amqp:orders`, `smtp`); `suffix`
 * matches every HTTP destination whose host is the suffix or ends with `.` + it, and its hosts
 * share one limit; `default` covers each destination no other rule matches, each on its own.
 */
export type LimitMatch =
  | { readonly kind: 'exact'; readonly destination: Destination }
  | { readonly kind: 'suffix'; readonly suffix: string }
  | { readonly kind: 'default' };

export interface LimitRule {
  readonly match: LimitMatch;
  readonly maxInFlight: number | null;
  readonly startsPerSecond: number | null;
}

/** The limits one destination is under, and the key its counters are kept by. */
export interface DestinationLimit {
  readonly key: string;
  readonly maxInFlight: number | null;
  readonly startsPerSecond: number | null;
}

const suffixCovers = (suffix: string, host: string): boolean => host === suffix || host.endsWith(`.${suffix}`);

/** Exact destination first, then the longest matching host suffix, then the default; null when none applies. */
export const limitFor = (rules: readonly LimitRule[], destination: Destination): DestinationLimit | null => {
  const exact = rules.find((rule) => rule.match.kind === 'exact' && rule.match.destination === destination);
  if (exact !== undefined) return { key: destination, maxInFlight: exact.maxInFlight, startsPerSecond: exact.startsPerSecond };
  const host = hostOf(destination);
  if (host !== null) {
    let best: { rule: LimitRule; suffix: string } | null = null;
    for (const rule of rules) {
      if (rule.match.kind !== 'suffix' || !suffixCovers(rule.match.suffix, host)) continue;
      if (best === null || rule.match.suffix.length > best.suffix.length) best = { rule, suffix: rule.match.suffix };
    }
    if (best !== null)
      return { key: `suffix:${best.suffix}`, maxInFlight: best.rule.maxInFlight, startsPerSecond: best.rule.startsPerSecond };
  }
  const fallback = rules.find((rule) => rule.match.kind === 'default');
  return fallback === undefined ? null : { key: destination, maxInFlight: fallback.maxInFlight, startsPerSecond: fallback.startsPerSecond };
};
