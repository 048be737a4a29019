import * as t from 'io-ts';

/** The top-level field names a payload codec reads: the props of its objects, through intersections and unions. */
export const fieldsOf = (codec: t.Decoder<unknown, unknown>): readonly string[] => {
  if (codec instanceof t.InterfaceType || codec instanceof t.PartialType) return Object.keys(codec.props as object);
  if (codec instanceof t.IntersectionType || codec instanceof t.UnionType) {
    return [...new Set((codec.types as t.Decoder<unknown, unknown>[]).flatMap(fieldsOf))];
  }
  if (codec instanceof t.RefinementType || codec instanceof t.ExactType || codec instanceof t.ReadonlyType) {
    return fieldsOf(codec.type as t.Decoder<unknown, unknown>);
  }
  return [];
};

/**
 * One line naming the keys of `payload` that `known` does not hold, each with the closest known one
 * when it is a likely typo (`payload has an unknown key "header" (did you mean "headers"?)`), or null when there are none.
 */
export const describeUnknownFields = (taskType: string, known: readonly string[], payload: unknown): string | null => {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return null;
  const unknown = Object.keys(payload).filter((key) => !known.includes(key));
  if (unknown.length === 0) return null;
  const named = unknown.map((key) => {
    const closest = closestField(key, known);
    return `${JSON.stringify(key)}${closest === null ? '' : ` (did you mean ${JSON.stringify(closest)}?)`}`;
  });
  const keys = unknown.length === 1 ? 'an unknown key' : 'unknown keys';
  return `payload has ${keys} ${named.join(', ')}; ${taskType} takes ${known.join(', ')}`;
};

/** The known field within two edits (a swap of neighbours is one), or null. Ties go to the first listed. */
const closestField = (key: string, known: readonly string[]): string | null => {
  let best: { field: string; distance: number } | null = null;
  for (const field of known) {
    const distance = editDistance(key.toLowerCase(), field);
    if (distance <= Math.min(2, Math.floor(field.length / 2)) && (best === null || distance < best.distance)) best = { field, distance };
  }
  return best?.field ?? null;
};

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of adjacent characters. */
const editDistance = (a: string, b: string): number => {
  const rows = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number): number => rows[i]?.[j] ?? Number.POSITIVE_INFINITY;
  for (let i = 1; i <= a.length; i += 1) {
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let distance = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) distance = Math.min(distance, at(i - 2, j - 2) + 1);
      (rows[i] as number[])[j] = distance;
    }
  }
  return at(a.length, b.length);
};
