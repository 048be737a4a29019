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

describe('parseExactJson on a payload nested thousands deep', () => {
  it('parses it (plainly) instead of throwing, so the claimed batch is not lost', () => {
    const deep = `${'['.repeat(5000)}1${']'.repeat(5000)}`;
    expect(() => parseExactJson(deep)).not.toThrow();
  });
});
