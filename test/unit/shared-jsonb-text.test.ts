import { jsonbRefuses, jsonbText } from '../../src/shared/jsonb-text.js';

describe('jsonb text', () => {
  const halfEmoji = '😀'.slice(0, 1);

  it('finds a NUL or half a surrogate pair anywhere, and only those', () => {
    expect(jsonbRefuses({ a: 'x\u0000y' })).toBe(true);
    expect(jsonbRefuses({ a: [1, { b: halfEmoji }] })).toBe(true);
    expect(jsonbRefuses({ [`key${halfEmoji}`]: 1 })).toBe(true);
    // A whole emoji, and text that merely spells an escape (a backslash, then u0000), are fine.
    expect(jsonbRefuses({ a: '😀', b: '\\u0000', c: 'x\\ud83d', d: '\\\\u0000' })).toBe(false);
    expect(jsonbRefuses({ a: '\\\u0000' })).toBe(true);
  });

  it('writes what jsonb refuses as U+FFFD and leaves everything else as JSON.stringify does', () => {
    expect(jsonbText({ a: `x\u0000${halfEmoji}😀` })).toBe('{"a":"x\ufffd\ufffd😀"}');
    const clean = { a: '😀 \\u0000', n: 1, nested: [null, true] };
    expect(jsonbText(clean)).toBe(JSON.stringify(clean));
  });
});
