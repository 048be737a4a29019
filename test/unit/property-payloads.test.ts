import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import * as t from 'io-ts';
import {
  decodeEmailPayload,
  decodeHttpCallbackPayload,
  decodeRabbitMqPayload,
  HttpCallbackPayload,
} from '../../src/domain/payloads/index.js';
import { describeDecodeErrors } from '../../src/shared/decode.js';
import { decodePayloadFor, KNOWN_TASK_TYPES } from '../../src/domain/payloads/by-type.js';

/**
 * A payload is whatever someone managed to put in a jsonb column, and the decoders are the worker's
 * first contact with it: for ANY input they must return a value (never throw), and a refusal must be
 * one line an operator can read in error_message — never a stack, never a line break.
 * (test/unit/payload-*.test.ts already runs fc.jsonValue() through each decoder; here: non-JSON
 * values, hostile keys, deep nesting, and describeDecodeErrors itself.)
 */

// Line breaks of every kind an operator's terminal or log shipper would split on.
const LINE_BREAK = /[\n\r\u0085\u2028\u2029]/;
const isOneLine = (text: string): boolean => !LINE_BREAK.test(text) && text.trim() !== '';

/** Everything fast-check can build, including values JSON has no words for. */
const anything = fc.anything({
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withObjectString: true,
  withSparseArray: true,
  withTypedArray: true,
  withUnicodeString: true,
  key: fc.string({ unit: 'binary' }),
});
/** Strings with control characters, line breaks and astral code points: what header names become. */
const hostileString = fc.string({ unit: 'binary', maxLength: 40 });

/** http_callback payloads that are almost right: odd URLs, hostile header names and values, missing keys. */
const nearMissHttpCallback = fc.record(
  {
    url: fc.oneof(fc.webUrl(), fc.constant('ftp://user:pw@files.example/'), hostileString, fc.jsonValue()),
    data: fc.jsonValue(),
    headers: fc.oneof(fc.dictionary(hostileString, fc.oneof(hostileString, fc.jsonValue()), { maxKeys: 4 }), fc.jsonValue()),
  },
  { requiredKeys: [] },
);

const refusalIsOneLine = (result: E.Either<string, unknown>): boolean => E.isRight(result) || isOneLine(result.left);

const deeplyNested = (depth: number): unknown => {
  let value: unknown = 'bottom';
  for (let level = 0; level < depth; level += 1) value = level % 2 === 0 ? [value] : { inner: value };
  return value;
};

describe('payload decoders, for any input', () => {
  const decoders = [
    ['http_callback', decodeHttpCallbackPayload],
    ['rabbitmq', decodeRabbitMqPayload],
    ['email', decodeEmailPayload],
  ] as const;

  it.each(decoders)('%s: returns a value for anything, and a refusal is one line', (_type, decode) => {
    fc.assert(
      fc.property(anything, (value) => refusalIsOneLine(decode(value))),
      { numRuns: 1500 },
    );
  });

  it('http_callback: near-miss objects with hostile header names and values are refused in one line', () => {
    fc.assert(
      fc.property(nearMissHttpCallback, (value) => refusalIsOneLine(decodeHttpCallbackPayload(value))),
      { numRuns: 2000 },
    );
  });

  it("http_callback: the codec's `is` accepts exactly what its `decode` accepts (checkWith returns a valid payload as it is)", () => {
    const headerObjects = fc.dictionary(
      fc.constantFrom('X-Key', 'content-type', 'Host', 'bad name', 'x\r\n'),
      fc.oneof(fc.string(), hostileString, fc.jsonValue()),
      { maxKeys: 3 },
    );
    const payloads = fc.oneof(
      nearMissHttpCallback,
      fc.record({ url: fc.webUrl(), data: fc.jsonValue(), headers: headerObjects }, { requiredKeys: ['url'] }),
      anything,
    );
    fc.assert(
      fc.property(payloads, (value) => HttpCallbackPayload.is(value) === E.isRight(HttpCallbackPayload.decode(value))),
      { numRuns: 3000 },
    );
  });

  it('rabbitmq: refused header names with line breaks in them are reported in one line', () => {
    // Over 255 bytes, so every one of these names is refused and shows up in the message.
    const longHostileName = hostileString.map((name) => `${name}\n${'h'.repeat(256)}`);
    fc.assert(
      fc.property(fc.dictionary(longHostileName, fc.jsonValue(), { minKeys: 1, maxKeys: 4 }), (headers) => {
        const result = decodeRabbitMqPayload({ queue: 'q', message: 1, headers });
        return E.isLeft(result) && isOneLine(result.left);
      }),
      { numRuns: 500 },
    );
  });

  it('a payload whose fields throw when read is refused in one line by every decoder, not thrown', () => {
    const throwing = Object.defineProperty({ data: 1, message: 1 }, 'url', {
      enumerable: true,
      get() {
        throw new Error('a getter that throws');
      },
    });
    for (const [, decode] of decoders) {
      const result = decode(throwing);
      expect(E.isLeft(result) && isOneLine(result.left)).toBe(true);
    }
  });

  it('every decoder survives data nested deeper than JSON.stringify can go', () => {
    const deep = deeplyNested(20_000);
    for (const [, decode] of decoders) {
      expect(() => decode({ url: 'https://a.example/', data: deep, queue: 'q', message: deep, to: deep, subject: deep })).not.toThrow();
      expect(() => decode(deep)).not.toThrow();
    }
    // A message that cannot be serialised is a refusal that names the field, not an exception.
    const refused = decodeRabbitMqPayload({ queue: 'q', message: deep });
    expect(E.isLeft(refused) && refused.left).toMatch(/^payload\.message: /);
  });

  it('decodePayloadFor: any task_type and any payload give a value; unknown types are named', () => {
    fc.assert(
      fc.property(fc.oneof(fc.constantFrom(...KNOWN_TASK_TYPES), hostileString), anything, (taskType, payload) => {
        const result = decodePayloadFor(taskType, payload);
        if (E.isRight(result)) return KNOWN_TASK_TYPES.includes(taskType);
        return result.left._tag === 'UnknownTaskType' ? !KNOWN_TASK_TYPES.includes(taskType) : isOneLine(result.left.reason);
      }),
      { numRuns: 1500 },
    );
  });
});

describe('describeDecodeErrors, for any errors', () => {
  // Codecs of every shape the payload codecs are built from, so the errors have every context shape.
  const codecs: ReadonlyArray<t.Decoder<unknown, unknown>> = [
    t.string,
    t.number,
    t.type({ a: t.string, b: t.array(t.number) }),
    t.partial({ a: t.boolean }),
    t.union([t.string, t.type({ x: t.number })]),
    t.intersection([t.type({ a: t.string }), t.partial({ b: t.record(t.string, t.string) })]),
    t.record(t.string, t.number),
    t.array(t.type({ k: t.literal('v') })),
    HttpCallbackPayload,
  ];

  it('never throws and always gives one non-empty line, whatever the offending values are', () => {
    fc.assert(
      // The root is the caller's word ('payload', 'row', a variable name), never the payload's.
      fc.property(fc.constantFrom(...codecs), anything, fc.constantFrom('payload', 'row'), (codec, value, root) => {
        const result = codec.decode(value);
        if (E.isRight(result)) return true;
        const text = describeDecodeErrors(root, result.left);
        return typeof text === 'string' && isOneLine(text);
      }),
      { numRuns: 3000 },
    );
  });

  it('keeps a line break in a field name out of the message', () => {
    const result = t.record(t.string, t.number).decode({ 'evil\nkey': 'x', 'line\u2028sep': 'y' });
    if (E.isRight(result)) throw new Error('expected a refusal');
    const text = describeDecodeErrors('payload', result.left);
    expect(isOneLine(text)).toBe(true);
    expect(text).toContain('evil\\nkey');
  });

  it('shows values JSON cannot print (bigint, cycles, null prototypes) instead of throwing', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    const bare = Object.create(null) as Record<string, unknown>;
    for (const value of [10n, cyclic, bare, Symbol('s'), () => 1]) {
      const result = t.string.decode(value);
      if (E.isRight(result)) throw new Error('expected a refusal');
      expect(() => describeDecodeErrors('payload', result.left)).not.toThrow();
      expect(describeDecodeErrors('payload', result.left)).toMatch(/^payload: expected string, got .+/);
    }
  });
});
