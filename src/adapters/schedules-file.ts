import * as E from 'fp-ts/lib/Either.js';
import { parse } from 'yaml';
import { errorMessage } from '../shared/error-message.js';
import { decodeScheduleEntry, type ScheduleDefinition } from '../domain/schedules/index.js';

/**
 * SCHEDULES_FILE's text: YAML (of which JSON is a subset, so one parser reads both), either a list
 * of schedules or `{ schedules: [...] }`. One line naming the entry and field on any error.
 */
export const parseScheduleFile = (text: string): E.Either<string, ScheduleDefinition[]> => {
  let document: unknown;
  try {
    document = parse(text);
  } catch (cause) {
    return E.left(`not valid YAML or JSON: ${errorMessage(cause)}`);
  }
  const list =
    document === null || document === undefined
      ? []
      : Array.isArray(document)
        ? document
        : typeof document === 'object' && Array.isArray((document as Record<string, unknown>)['schedules'])
          ? ((document as Record<string, unknown>)['schedules'] as unknown[])
          : null;
  if (list === null) return E.left('expected a list of schedules, or an object with a "schedules" list');
  const definitions: ScheduleDefinition[] = [];
  const names = new Set<string>();
  for (const [index, entry] of list.entries()) {
    const decoded = decodeScheduleEntry(entry);
    const label = typeof (entry as { name?: unknown })?.name === 'string' ? `${(entry as { name: string }).name}` : `#${index + 1}`;
    if (E.isLeft(decoded)) return E.left(`schedule ${label}: ${decoded.left}`);
    if (names.has(decoded.right.name)) return E.left(`schedule ${label}: the name is listed twice`);
    names.add(decoded.right.name);
    definitions.push(decoded.right);
  }
  return E.right(definitions);
};
