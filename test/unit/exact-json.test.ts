import { parseExactJson } from '../../src/adapters/postgres/exact-json.js';

describe('payload JSON read from jsonb text', () => {
  it('serialises back with every number as it was written', () => {
    const text = '{"a": 9007199254740993, "b": 1e400, "c": 1.0, "d": -0, "e": [0.1, 12345678901234567890123], "f": "9007199254740993"}';
    expect(JSON.stringify(parseExactJson(text))).toBe(
      '{"a":9007199254740993,"b":1e400,"c":1.0,"d":-0,"e":[0.1,12345678901234567890123],"f":"9007199254740993"}',
    );
  });

  it('leaves numbers JavaScript holds exactly as plain numbers, and everything else as JSON.parse does', () => {
    expect(parseExactJson('{"n": 42, "x": 0.5, "s": "t", "z": null, "l": [true]}')).toEqual({ n: 42, x: 0.5, s: 't', z: null, l: [true] });
  });
});

describe('which numbers parseExactJson keeps as written', () => {
  // The cheap path (a scan, then the plain parse) must give what the reviver gives for every text.
  const reviverParse = (text: string): unknown =>
    JSON.parse(text, (_key, value: unknown, context?: { source?: string }) =>
      typeof value === 'number' && context?.source !== undefined && JSON.stringify(value) !== context.source
        ? (JSON as unknown as { rawJSON: (text: string) => unknown }).rawJSON(context.source)
        : value,
    );

  it.each([
    ['a number after a string that holds an escaped quote', '{"s": "say \\"1\\"", "n": 1e400}', '{"s":"say \\"1\\"","n":1e400}'],
    [
      'a number after a string that ends in an escaped backslash',
      '{"s": "\\\\", "n": 9007199254740993}',
      '{"s":"\\\\","n":9007199254740993}',
    ],
    ['-0 in an array', '[1, -0, 2]', '[1,-0,2]'],
    ['16 digits', '[1234567890123456]', '[1234567890123456]'],
    ['a trailing zero', '{"price": 1.50}', '{"price":1.50}'],
    ['a small exponent', '[1E2, 2e-7, 0.0000001]', '[1E2,2e-7,0.0000001]'],
    ['numbers as strings', '{"a": "1e400", "b": "-0"}', '{"a":"1e400","b":"-0"}'],
    [
      'plain numbers',
      '{"id": 42, "due": 1796612345678, "x": -12, "p": 19.99, "z": 0, "q": 0.5}',
      '{"id":42,"due":1796612345678,"x":-12,"p":19.99,"z":0,"q":0.5}',
    ],
  ])('%s', (_what, text, serialised) => {
    expect(JSON.stringify(parseExactJson(text))).toBe(serialised);
    expect(JSON.stringify(parseExactJson(text))).toBe(JSON.stringify(reviverParse(text)));
  });

  it('gives plain numbers where every number prints back as written', () => {
    const parsed = parseExactJson('{"id": 42, "p": 19.99, "l": [-7, 0]}') as { id: unknown; p: unknown; l: unknown[] };
    expect([typeof parsed.id, typeof parsed.p, ...parsed.l.map((n) => typeof n)]).toEqual(['number', 'number', 'number', 'number']);
  });
});

describe('parseExactJson on a payload nested thousands deep', () => {
  it('parses it (plainly) instead of throwing, so the claimed batch is not lost', () => {
    const deep = `${'['.repeat(5000)}1${']'.repeat(5000)}`;
    expect(() => parseExactJson(deep)).not.toThrow();
  });
});
