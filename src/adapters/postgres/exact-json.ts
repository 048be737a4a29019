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
