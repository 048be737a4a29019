/**
 * An error and the errors in its `cause` chain, outermost first, at most `depth` of them (so a cycle
 * or a very deep chain ends). Errors are taken by shape, not `instanceof Error`: Node's, pg's and
 * undici's errors may come from another realm and would fail that check.
 */
export function* causeChain(error: unknown, depth = 5): Generator<object> {
  for (let cause = error, seen = 0; typeof cause === 'object' && cause !== null && seen < depth; seen += 1) {
    yield cause;
    cause = (cause as { readonly cause?: unknown }).cause;
  }
}

/** The first error in the chain (see causeChain) that `predicate` accepts. */
export const findCause = (error: unknown, predicate: (cause: object) => boolean): object | undefined => {
  for (const cause of causeChain(error)) if (predicate(cause)) return cause;
  return undefined;
};
