import * as E from 'fp-ts/lib/Either.js';
import { checkKey, describeKeyConflict, describeRejection } from '../../../application/operator/describe-refusal.js';
import { scheduleTask, type ScheduleRefusal } from '../../../application/operator/schedule-task.js';
import type { DueTime, KeyConflict } from '../../../application/operator/ports.js';
import { checkPayloadFor, KNOWN_TASK_TYPES } from '../../../domain/payloads/by-type.js';
import type { ParsedArgs } from '../args.js';
import { expectPositionals, fail, input, usage, type ArgumentError, type CliCommand } from '../command.js';
import { decodeDelay, decodeInstant, decodePositiveInteger, parseJson, payloadSource } from '../inputs.js';
import { jsonbRefuses } from '../../../shared/jsonb-text.js';
import { EXIT, type CliIo } from '../io.js';
import { errorMessage } from '../../../shared/error-message.js';
import { checkTraceparent } from '../../../shared/traceparent.js';

// The column default, so a task scheduled here and one inserted with plain SQL behave alike.
const DEFAULT_MAX_ATTEMPTS = 3;

const HELP = `Usage: at-worker schedule --type <type> --payload <json | @file | -> [--at <time> | --in <delay>]
                          [--max-attempts <n>] [--key <key>] [--traceparent <traceparent>]

Stores a task for the workers. The payload is checked with the same decoder its executor uses: a
payload the executor would refuse is refused here, with the field and the reason, and nothing is
stored (exit 2). So is a key the executor does not read, named with the closest field it does
("header": did you mean "headers"?). Prints the new task's id.

With --key, at most one existing task has that key: scheduling it again prints the existing task's
id and stores nothing, so a retried script cannot schedule twice. The same key with another type,
payload, --max-attempts or --at is refused (exit 1), naming the existing task. A key is free again
once its task's row is deleted.

With --traceparent (the W3C trace context of the request that schedules the task), a worker with
tracing on makes each attempt's span its child and sends the context on to the receiver.

  --type <type>         ${KNOWN_TASK_TYPES.join(', ')}
  --payload <json>      the payload as JSON; @path reads it from a file, - from standard input
  --at <time>           due at this time: ISO-8601 with a UTC offset, e.g. 2026-03-01T09:30:00Z
  --in <delay>          due this long from now (by the database's clock): 90s, 5m, 2h, 1d;
                        at most 36500d
                        (neither --at nor --in: due now; an --at in the past is due now too)
  --max-attempts <n>    attempts before it fails for good (default ${DEFAULT_MAX_ATTEMPTS})
  --key <key>           idempotency key, 1 to 255 characters, e.g. order-42-confirmation
  --traceparent <tp>    W3C traceparent, e.g. 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01

Examples:
  at-worker schedule --type http_callback --payload '{"url": "https://example.com/hook", "data": {"order": 42}}' --in 5m
  at-worker schedule --type email --payload @welcome.json --at 2026-03-01T09:00:00+01:00
  echo '{"queue": "orders", "message": {"id": 7}}' | at-worker schedule --type rabbitmq --payload -
`;

export const readPayload = async (raw: string, io: CliIo): Promise<E.Either<string, string>> => {
  const source = payloadSource(raw);
  try {
    if (source._tag === 'Inline') return E.right(source.text);
    if (source._tag === 'Stdin') return E.right(await io.readStdin());
    return E.right(await io.readFile(source.path));
  } catch (cause) {
    const where = source._tag === 'File' ? `file ${source.path}` : 'standard input';
    return E.left(`--payload: cannot read ${where}: ${errorMessage(cause)}`);
  }
};

const decodeDue = (args: ParsedArgs): E.Either<ArgumentError, DueTime> => {
  const at = args.values['at'];
  const delay = args.values['in'];
  if (at !== undefined && delay !== undefined) return E.left(usage('give --at or --in, not both'));
  if (at !== undefined) return E.bimap(input, (instant: Date): DueTime => ({ _tag: 'At', at: instant }))(decodeInstant('--at', at));
  if (delay !== undefined) return E.bimap(input, (delayMs: number): DueTime => ({ _tag: 'After', delayMs }))(decodeDelay('--in', delay));
  return E.right({ _tag: 'Now' });
};

const refused = (out: CliIo, refusal: ScheduleRefusal | KeyConflict): number =>
  refusal._tag === 'KeyConflict'
    ? fail(out, 'schedule', describeKeyConflict(refusal), EXIT.no)
    : fail(out, 'schedule', describeRejection(refusal), EXIT.usage);

export const scheduleCommand: CliCommand = {
  name: 'schedule',
  summary: 'store a new task, refused unless its executor would accept the payload',
  help: HELP,
  options: { type: true, payload: true, at: true, in: true, 'max-attempts': true, key: true, traceparent: true },
  prepare: async (args, io) => {
    const positional = expectPositionals(args, []);
    if (E.isLeft(positional)) return positional;
    const taskType = args.values['type'];
    if (taskType === undefined) return E.left(usage('missing --type'));
    const rawPayload = args.values['payload'];
    if (rawPayload === undefined) return E.left(usage('missing --payload'));
    const due = decodeDue(args);
    if (E.isLeft(due)) return due;
    const maxAttemptsRaw = args.values['max-attempts'];
    const maxAttempts =
      maxAttemptsRaw === undefined
        ? E.right(DEFAULT_MAX_ATTEMPTS)
        : E.mapLeft(input)(decodePositiveInteger('--max-attempts', maxAttemptsRaw));
    if (E.isLeft(maxAttempts)) return maxAttempts;
    const rawKey = args.values['key'];
    const keyProblem = rawKey === undefined ? undefined : checkKey('--key', rawKey);
    if (keyProblem !== undefined) return E.left(input(keyProblem));
    const rawTraceparent = args.values['traceparent'];
    const traceparent = rawTraceparent === undefined ? undefined : checkTraceparent(rawTraceparent);
    if (traceparent !== undefined && E.isLeft(traceparent)) return E.left(input(`--traceparent: ${traceparent.left}`));
    const payloadJson = await readPayload(rawPayload, io);
    if (E.isLeft(payloadJson)) return E.left(input(payloadJson.left));
    const payload = parseJson('--payload', payloadJson.right);
    if (E.isLeft(payload)) return E.left(input(payload.left));
    if (jsonbRefuses(payload.right)) {
      return E.left(input('--payload: holds a \\u0000 (NUL) or half of a surrogate pair, which PostgreSQL cannot store'));
    }
    // Checked before connecting, so a bad payload is exit 2 even with the database down; the use
    // case checks again, for every other caller.
    const accepted = checkPayloadFor(taskType, payload.right);
    if (E.isLeft(accepted)) return E.left(input(describeRejection(accepted.left)));
    const request = {
      taskType,
      payload: payload.right,
      payloadJson: payloadJson.right,
      due: due.right,
      maxAttempts: maxAttempts.right,
      ...(rawKey === undefined ? {} : { key: rawKey }),
      ...(rawTraceparent === undefined ? {} : { traceparent: rawTraceparent }),
    };
    return E.right(async (session, out) => {
      const scheduled = await scheduleTask(session.store)(request);
      if (E.isLeft(scheduled)) return refused(out, scheduled.left);
      out.stdout(`${scheduled.right.id}\n`);
      // Accepted (a late producer's task still has to run), but not in silence: a past --at is often
      // a wrong date or offset, and the task is about to run now.
      if (request.due._tag === 'At' && request.due.at.getTime() < Date.now()) {
        out.stderr(`at-worker schedule: --at ${args.values['at']} is in the past, so the task is due now and runs at once\n`);
      }
      return EXIT.ok;
    });
  },
};
