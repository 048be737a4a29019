import { doublingDelay } from '../../src/shared/backoff.js';
import { causeChain, findCause } from '../../src/shared/error-cause.js';
import { redactSecrets, secretScrubber } from '../../src/shared/redact.js';

describe('redactSecrets', () => {
  it('blanks the longest secret first, so one that contains another leaves no tail', () => {
    expect(redactSecrets('token abc-123 and abc', ['abc', 'abc-123'])).toBe('token *** and ***');
  });

  it('ignores an empty secret instead of blanking between every character', () => {
    expect(redactSecrets('plain', [''])).toBe('plain');
  });
});

describe('secretScrubber', () => {
  it('blanks secrets in every string of a log line, keeping its shape, dates and numbers', () => {
    const at = new Date(0);
    const scrub = secretScrubber(['hunter2']);
    expect(scrub({ msg: 'pw hunter2', nested: ['x hunter2'], at, n: 1 })).toEqual({ msg: 'pw ***', nested: ['x ***'], at, n: 1 });
  });
});

describe('causeChain', () => {
  it("walks an error's causes, outermost first, and stops at a cycle's fifth step", () => {
    const inner = new Error('inner');
    const outer = new Error('outer', { cause: inner });
    expect([...causeChain(outer)]).toEqual([outer, inner]);
    const looped: { cause?: unknown } = {};
    looped.cause = looped;
    expect([...causeChain(looped)]).toHaveLength(5);
    expect(findCause(outer, (cause) => (cause as Error).message === 'inner')).toBe(inner);
    expect(findCause('a string', () => true)).toBeUndefined();
  });
});

describe('doublingDelay', () => {
  it('starts at the first pause and doubles up to the cap', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => doublingDelay(100, 1_000, n))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    expect(doublingDelay(10, Infinity, 10_000)).toBe(10 * 2 ** 52);
  });
});
