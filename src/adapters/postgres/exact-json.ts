/**
 * JSON text (a jsonb column read as text) parsed so that serialising it again gives back every
 * number exactly as stored. A number JavaScript cannot hold as written (9007199254740993, 1e400,
 * 0.10000000000000000001) or would print differently (1.0, -0) stays its source text, as a raw JSON
 * value that JSON.stringify writes verbatim; every other value is the plain JSON.parse result.
 *
 * pg's own jsonb parser goes through JavaScript numbers, so a callback's `data` lost digits
 * (9007199254740993 arrived as ...992) and 1e400 arrived as null. No payload field the worker reads
 * itself is a number, so the decoders see what they saw before.
 */
// JSON.rawJSON is in Node since 21 (V8's JSON.parse source text access); TypeScript's lib lacks it.
const { rawJSON } = JSON as unknown as { readonly rawJSON: (text: string) => unknown };

export const parseExactJson = (text: string): unknown => {
  // Most payloads hold no such number, and the plain parse with the scan before it costs a fraction
  // of a parse that calls a reviver for every value (docs/performance.md).
  if (everyNumberExact(text)) return JSON.parse(text);
  try {
    return JSON.parse(text, keepNumberText);
  } catch {
    // A reviver recurses once per level: a payload nested thousands deep overflows the stack there
    // but not in the plain parse. Such a payload fails its own decoding later, naming the field;
    // throwing here would lose the whole claimed batch instead.
    return JSON.parse(text);
  }
};

function keepNumberText(this: unknown, _key: string, value: unknown, context?: { readonly source?: string }): unknown {
  if (typeof value !== 'number' || context?.source === undefined) return value;
  return JSON.stringify(value) === context.source ? value : rawJSON(context.source);
}

const [QUOTE, BACKSLASH, MINUS, PLUS, DOT, ZERO, NINE, LOWER_E, UPPER_E] = [0x22, 0x5c, 0x2d, 0x2b, 0x2e, 0x30, 0x39, 0x65, 0x45];

/**
 * Whether every number literal outside the strings of JSON text `text` prints back as written once
 * parsed: an integer of at most 15 digits does (no leading zero in JSON, and -0 is not one of them),
 * anything else is compared with its parsed value's printing. A scan of the text, without parsing.
 */
const everyNumberExact = (text: string): boolean => {
  const length = text.length;
  for (let i = 0; i < length; i += 1) {
    const char = text.charCodeAt(i);
    if (char === QUOTE) {
      for (i += 1; i < length; i += 1) {
        const inside = text.charCodeAt(i);
        if (inside === BACKSLASH) i += 1;
        else if (inside === QUOTE) break;
      }
    } else if (char === MINUS || (char >= ZERO && char <= NINE)) {
      const start = i;
      let digits = 0;
      let integer = true;
      for (i = char === MINUS ? i + 1 : i; i < length; i += 1) {
        const part = text.charCodeAt(i);
        if (part >= ZERO && part <= NINE) digits += 1;
        else if (part === DOT || part === LOWER_E || part === UPPER_E || part === PLUS || part === MINUS) integer = false;
        else break;
      }
      const literal = text.slice(start, i);
      i -= 1;
      if (integer && digits <= 15 && literal !== '-0') continue;
      if (String(Number(literal)) !== literal) return false;
    }
  }
  return true;
};
