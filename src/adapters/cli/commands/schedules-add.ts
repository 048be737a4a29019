import * as E from 'fp-ts/lib/Either.js';
import { checkDefinition } from '../../../application/schedules/check-definition.js';
import {
  DEFAULT_MAX_ATTEMPTS,
  decodeMisfire,
  decodeOverlap,
  decodeScheduleName,
  type ScheduleDefinition,
} from '../../../domain/schedules/index.js';
import { jsonbRefuses } from '../../../shared/jsonb-text.js';
import type { ParsedArgs } from '../args.js';
import { expectPositionals, fail, input, usage, type ArgumentError, type CommandPorts, type Runnable } from '../command.js';
import { decodePositiveInteger, parseJson } from '../inputs.js';
import { EXIT, type CliIo } from '../io.js';
import { formatTime } from '../table.js';
import { readPayload } from './schedule.js';

const withOption = (option: string) => (message: string) => input(message.replace(/^[a-z_]+:/, `${option}:`));

/**
 * `schedules add`: every check before connecting (name, policies, payload against its executor,
 * the expression and zone against the calendar), so a bad one is exit 2 and nothing is stored.
 */
export const prepareAdd = async (args: ParsedArgs, io: CliIo, ports: CommandPorts): Promise<E.Either<ArgumentError, Runnable>> => {
  const positional = expectPositionals(args, ['add']);
  if (E.isLeft(positional)) return positional;
  const { values } = args;
  for (const required of ['name', 'cron', 'type', 'payload'] as const) {
    if (values[required] === undefined) return E.left(usage(`missing --${required}`));
  }
  const name = decodeScheduleName(values['name']);
  if (E.isLeft(name)) return E.left(withOption('--name')(name.left));
  const misfire = decodeMisfire(values['misfire'], values['misfire-limit']);
  if (E.isLeft(misfire)) {
    return E.left(input(misfire.left.replace(/^misfire_limit:/, '--misfire-limit:').replace(/^misfire:/, '--misfire:')));
  }
  const overlap = decodeOverlap(values['overlap']);
  if (E.isLeft(overlap)) return E.left(withOption('--overlap')(overlap.left));
  const rawAttempts = values['max-attempts'];
  const maxAttempts = rawAttempts === undefined ? E.right(DEFAULT_MAX_ATTEMPTS) : decodePositiveInteger('--max-attempts', rawAttempts);
  if (E.isLeft(maxAttempts)) return E.left(input(maxAttempts.left));
  const payloadText = await readPayload(values['payload'] as string, io);
  if (E.isLeft(payloadText)) return E.left(input(payloadText.left));
  const payload = parseJson('--payload', payloadText.right);
  if (E.isLeft(payload)) return E.left(input(payload.left));
  if (jsonbRefuses(payload.right)) {
    return E.left(input('--payload: holds a \\u0000 (NUL) or half of a surrogate pair, which PostgreSQL cannot store'));
  }
  const definition: ScheduleDefinition = {
    name: name.right,
    cron: (values['cron'] as string).trim(),
    timeZone: values['tz'] ?? 'UTC',
    taskType: values['type'] as string,
    payload: payload.right,
    maxAttempts: maxAttempts.right,
    misfire: misfire.right,
    overlap: overlap.right,
  };
  const calendar = checkDefinition(definition, ports.calendarFor);
  if (E.isLeft(calendar)) {
    const option = calendar.left
      .replace(/^cron:/, '--cron:')
      .replace(/^time zone:/, '--tz:')
      .replace(/^task_type:/, '--type:');
    return E.left(input(option.replace(/^payload:/, '--payload:')));
  }
  return E.right(async (session, out) => {
    const result = await session.schedules.put({ definition, calendar: calendar.right, origin: 'cli', actor: 'cli' }, false);
    if (result === 'exists') return fail(out, 'schedules add', `a schedule named ${definition.name} exists already`, EXIT.no);
    await session.schedulePass();
    const stored = await session.schedules.find(definition.name);
    out.stdout(`Schedule ${definition.name} created; next occurrence ${formatTime(stored?.nextAt ?? null)}\n`);
    return EXIT.ok;
  });
};
