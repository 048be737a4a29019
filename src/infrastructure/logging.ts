import pino from 'pino';
import type { LogFields, Logger } from '../application/ports.js';
import { secretScrubber } from '../shared/redact.js';

export interface LoggingOptions {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly format: 'json' | 'pretty';
  readonly workerId: string;
  readonly secrets: readonly string[];
  readonly destination?: NodeJS.WritableStream;
}

const LEVELS = { debug: 20, info: 30, warn: 40, error: 50 } as const;

/**
 * The application's Logger over pino (one JSON object per line, `msg` holding the seed's text) or a
 * plain one-line-per-event format for people. Every line carries the worker id, and every string —
 * message or field — is scrubbed of the configured secrets before it is written.
 */
export const createLogger = (options: LoggingOptions): Logger => {
  const scrub = secretScrubber(options.secrets);
  const write = options.format === 'json' ? jsonWriter(options) : prettyWriter(options);
  const at =
    (level: keyof typeof LEVELS) =>
    (message: string, fields?: LogFields): void => {
      if (LEVELS[level] < LEVELS[options.level]) return;
      write(level, scrub(message) as string, fields === undefined ? undefined : (scrub(fields) as LogFields));
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
};

type Write = (level: keyof typeof LEVELS, message: string, fields?: LogFields) => void;

const jsonWriter = (options: LoggingOptions): Write => {
  const logger = pino(
    {
      level: options.level,
      base: { worker_id: options.workerId },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
  return (level, message, fields) => logger[level](fields ?? {}, message);
};

const prettyWriter = (options: LoggingOptions): Write => {
  const out = options.destination ?? process.stdout;
  return (level, message, fields) => {
    const extras = Object.entries(fields ?? {})
      .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
      .join(' ');
    const head = `${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} [${options.workerId}]`;
    const line = `${head} ${message}${extras ? `  ${extras}` : ''}`;
    out.write(`${line}\n`);
  };
};
