import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { hostname } from 'node:os';
import { parseAllowedHosts } from '../../adapters/executors/ssrf-guard.js';
import { decodeWebhookSecrets } from '../../adapters/executors/webhook-signature.js';
import type { CircuitPolicy, LimitRule, RetryPolicy } from '../../domain/index.js';
import { parseDestinationLimits } from './destination-limits-env.js';
import { decodeEmailAddress } from '../../domain/payloads/email.js';
import {
  boolean,
  duration,
  fraction,
  list,
  nonNegativeInteger,
  oneOf,
  optionalPort,
  optionalPositiveInteger,
  optionalText,
  port,
  positiveInteger,
  retention,
  text,
  url,
  urlOrOff,
} from './env-codecs.js';
import { urlHost, withQueryCredentials } from './database-url.js';
import { redactCredentials } from './redact.js';
import { readDatabaseTls } from '../../adapters/postgres/tls.js';

/**
 * Every variable the service reads, with its default. The seed's table (DB_*, WORKER_*) keeps its
 * names, units and defaults; the rest are ours. docs/configuration.md's table and .env.example list
 * the same set — keep the three in step.
 */
export const EnvSchema = t.type({
  DATABASE_URL: url(['postgres', 'postgresql'], null),
  DB_HOST: text('localhost'),
  DB_PORT: port(5432),
  DB_USER: text('postgres'),
  DB_PASSWORD: text('postgres'),
  DB_NAME: text('at_scheduler'),
  DB_SSLMODE: oneOf(['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'], 'disable'),
  DB_POOL_SIZE: optionalPositiveInteger,
  DB_MIGRATE: boolean(true),
  DB_CONNECT_TIMEOUT: duration('seconds', 30),
  WORKER_ID: optionalText,
  WORKER_POLLING_INTERVAL: duration('seconds', 5),
  WORKER_BATCH_SIZE: positiveInteger(10),
  WORKER_CONCURRENCY: positiveInteger(10),
  WORKER_PREFETCH: nonNegativeInteger(0),
  DESTINATION_MAX_SHARE: fraction(0.5),
  DESTINATION_LIMITS: optionalText,
  CIRCUIT_FAILURE_THRESHOLD: nonNegativeInteger(5),
  CIRCUIT_COOL_OFF: duration('seconds', 30),
  CIRCUIT_MAX_COOL_OFF: duration('seconds', 600),
  WORKER_CLEANER_INTERVAL: duration('minutes', 5),
  WORKER_STUCK_TIMEOUT: duration('minutes', 5),
  RETRY_BASE_DELAY: duration('seconds', 10),
  RETRY_MAX_DELAY: duration('seconds', 3600),
  HTTP_TIMEOUT: duration('seconds', 30),
  TASK_TIMEOUT: duration('seconds', 300),
  SHUTDOWN_TIMEOUT: duration('seconds', 30),
  HTTP_ALLOW_PRIVATE_NETWORKS: boolean(false),
  HTTP_ALLOWED_HOSTS: list,
  WEBHOOK_SECRET: list,
  AMQP_URL: urlOrOff(['amqp', 'amqps'], 'amqp://guest:guest@localhost:5672'),
  AMQP_CONFIRM_TIMEOUT: duration('seconds', 10),
  SMTP_HOST: optionalText,
  SMTP_PORT: optionalPort,
  SMTP_SECURE: boolean(false),
  SMTP_USER: optionalText,
  SMTP_PASSWORD: optionalText,
  SMTP_TIMEOUT: duration('seconds', 30),
  EMAIL_FROM: optionalText,
  HTTP_PORT: port(8080),
  TASK_RETENTION: retention('30d'),
  TASK_RETENTION_FAILED: retention('90d'),
  TASK_HISTORY_PARTITION_SIZE: positiveInteger(1_000_000),
  MAINTENANCE_INTERVAL: duration('seconds', 60),
  SCHEDULES_FILE: optionalText,
  SCHEDULES_LOOKAHEAD: duration('seconds', 60),
  SCHEDULES_INTERVAL: duration('seconds', 30),
  SCHEDULES_MISFIRE_GRACE: duration('seconds', 30),
  DASHBOARD_TOKEN: optionalText,
  LOG_LEVEL: oneOf(['debug', 'info', 'warn', 'error'], 'info'),
  LOG_FORMAT: oneOf(['json', 'pretty'], 'json'),
  // OpenTelemetry's own names (docs/tracing.md). Tracing is on only with OTEL_TRACES_EXPORTER=otlp.
  OTEL_TRACES_EXPORTER: oneOf(['none', 'otlp'], 'none'),
  OTEL_SDK_DISABLED: boolean(false),
  OTEL_EXPORTER_OTLP_ENDPOINT: url(['http', 'https'], null),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: url(['http', 'https'], null),
  OTEL_EXPORTER_OTLP_PROTOCOL: oneOf(['http/protobuf'], 'http/protobuf'),
  OTEL_SERVICE_NAME: text('at-worker'),
});
export type Env = t.TypeOf<typeof EnvSchema>;

export interface Config {
  readonly database: { readonly url: string; readonly poolSize: number; readonly migrate: boolean; readonly connectTimeoutMs: number };
  readonly worker: {
    readonly id: string;
    readonly pollIntervalMs: number;
    readonly batchSize: number;
    readonly concurrency: number;
    readonly prefetch: number;
    /** The share of `concurrency` one destination may hold (fair slots). */
    readonly destinationShare: number;
    readonly cleanerIntervalMs: number;
    readonly stuckTimeoutMs: number;
    readonly taskTimeoutMs: number;
    readonly shutdownTimeoutMs: number;
    readonly retry: RetryPolicy;
  };
  readonly http: {
    readonly timeoutMs: number;
    readonly allowPrivateNetworks: boolean;
    readonly allowedHosts: readonly string[];
    readonly webhookSecrets: readonly string[];
  };
  /** Per-destination limits (DESTINATION_LIMITS); empty when none is set. */
  readonly destinationLimits: readonly LimitRule[];
  /** Circuit breaking per destination; null when CIRCUIT_FAILURE_THRESHOLD is 0. */
  readonly circuit: CircuitPolicy | null;
  readonly amqp: { readonly url: string | null; readonly confirmTimeoutMs: number };
  readonly smtp: {
    readonly host: string | null;
    readonly port: number;
    readonly secure: boolean;
    readonly user: string | null;
    readonly password: string | null;
    readonly timeoutMs: number;
    readonly from: string | null;
  };
  /** Retention and history partitions (docs/storage.md). Retention in ms; null keeps for ever. */
  readonly storage: {
    readonly finishedRetentionMs: number | null;
    readonly failedRetentionMs: number | null;
    readonly partitionSize: number;
    readonly maintenanceIntervalMs: number;
  };
  readonly healthPort: number;
  readonly schedules: {
    /** SCHEDULES_FILE: applied at start-up; null for none. */
    readonly file: string | null;
    readonly lookAheadMs: number;
    readonly intervalMs: number;
    readonly misfireGraceMs: number;
  };
  /** `at-worker dashboard`: actions (retry, cancel) need this token; null keeps it read-only. */
  readonly dashboard: { readonly token: string | null };
  /** OpenTelemetry tracing; the exporter reads its endpoint, headers and timeout from OTEL_* itself. */
  readonly tracing: { readonly enabled: boolean; readonly serviceName: string; readonly endpointSet: boolean };
  readonly log: { readonly level: 'debug' | 'info' | 'warn' | 'error'; readonly format: 'json' | 'pretty' };
  /** Values that must never appear in a log line, event or error message. */
  readonly secrets: readonly string[];
}

export type ConfigError = { readonly _tag: 'ConfigError'; readonly message: string };

export const decodeConfig = (env: Readonly<Record<string, string | undefined>>): E.Either<ConfigError, Config> => {
  const decoded = EnvSchema.decode(env);
  if (E.isLeft(decoded)) return E.left({ _tag: 'ConfigError', message: describeEnvErrors(decoded.left) });
  const cross = crossCheck(decoded.right);
  return cross === null ? E.right(toConfig(decoded.right)) : E.left({ _tag: 'ConfigError', message: `Invalid configuration: ${cross}` });
};

const crossCheck = (env: Env): string | null => {
  // The executor would refuse these at construction; checked here so start-up fails with exit code 2.
  const secrets = decodeWebhookSecrets(env.WEBHOOK_SECRET);
  if (E.isLeft(secrets)) return secrets.left.replace(/^WEBHOOK_SECRET: expected/, 'WEBHOOK_SECRET must be');
  const allowed = parseAllowedHosts(env.HTTP_ALLOWED_HOSTS);
  if (E.isLeft(allowed)) return allowed.left;
  if (env.EMAIL_FROM !== null) {
    const from = decodeEmailAddress('EMAIL_FROM')(env.EMAIL_FROM);
    if (E.isLeft(from)) return from.left;
  }
  if ((env.SMTP_USER === null) !== (env.SMTP_PASSWORD === null)) return 'SMTP_USER and SMTP_PASSWORD must be set together';
  const limits = parseDestinationLimits(env.DESTINATION_LIMITS ?? '');
  if (E.isLeft(limits)) return limits.left;
  if (env.CIRCUIT_MAX_COOL_OFF < env.CIRCUIT_COOL_OFF) return 'CIRCUIT_MAX_COOL_OFF must not be shorter than CIRCUIT_COOL_OFF';
  // Guessable tokens defeat the point; 16 characters is the floor (`openssl rand -hex 16` gives 32).
  if (env.DASHBOARD_TOKEN !== null && env.DASHBOARD_TOKEN.length < 16) return 'DASHBOARD_TOKEN must be at least 16 characters';
  if (env.RETRY_MAX_DELAY < env.RETRY_BASE_DELAY) return 'RETRY_MAX_DELAY must not be shorter than RETRY_BASE_DELAY';
  // The heartbeat runs every third of the stuck timeout; anything shorter than a second is a typo.
  if (env.TASK_HISTORY_PARTITION_SIZE > 1_000_000_000) return 'TASK_HISTORY_PARTITION_SIZE must be at most 1000000000 task ids';
  if (env.WORKER_STUCK_TIMEOUT < 1000) return 'WORKER_STUCK_TIMEOUT must be at least 1 second (0.0167 min)';
  return checkDatabaseTls(env);
};

/** The TLS settings of the database URL, read as the connection will read them (tls.ts). */
const checkDatabaseTls = (env: Env): string | null => {
  if (env.DATABASE_URL === null) {
    return env.DB_SSLMODE === 'verify-ca'
      ? 'DB_SSLMODE=verify-ca needs the CA to check the server against: use DATABASE_URL with sslrootcert=<file>, or verify-full'
      : null;
  }
  try {
    readDatabaseTls(withQueryCredentials(env.DATABASE_URL));
    return null;
  } catch (cause) {
    return `DATABASE_URL: ${cause instanceof Error ? cause.message : String(cause)}`;
  }
};

const toConfig = (env: Env): Config => {
  const databaseUrl = env.DATABASE_URL === null ? composeDatabaseUrl(env) : withQueryCredentials(env.DATABASE_URL);
  return {
    database: {
      url: databaseUrl,
      // Every in-flight task may end at once, plus the claim loop, heartbeats and the cleaner.
      poolSize: env.DB_POOL_SIZE ?? Math.min(env.WORKER_CONCURRENCY, 20) + 3,
      migrate: env.DB_MIGRATE,
      connectTimeoutMs: env.DB_CONNECT_TIMEOUT,
    },
    worker: {
      id: env.WORKER_ID ?? hostname(),
      pollIntervalMs: env.WORKER_POLLING_INTERVAL,
      batchSize: env.WORKER_BATCH_SIZE,
      concurrency: env.WORKER_CONCURRENCY,
      prefetch: env.WORKER_PREFETCH,
      destinationShare: env.DESTINATION_MAX_SHARE,
      cleanerIntervalMs: env.WORKER_CLEANER_INTERVAL,
      stuckTimeoutMs: env.WORKER_STUCK_TIMEOUT,
      taskTimeoutMs: env.TASK_TIMEOUT,
      shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT,
      retry: { baseDelayMs: env.RETRY_BASE_DELAY, maxDelayMs: env.RETRY_MAX_DELAY },
    },
    http: {
      timeoutMs: env.HTTP_TIMEOUT,
      allowPrivateNetworks: env.HTTP_ALLOW_PRIVATE_NETWORKS,
      allowedHosts: env.HTTP_ALLOWED_HOSTS,
      webhookSecrets: env.WEBHOOK_SECRET,
    },
    destinationLimits: E.getOrElse((): readonly LimitRule[] => [])(parseDestinationLimits(env.DESTINATION_LIMITS ?? '')),
    circuit:
      env.CIRCUIT_FAILURE_THRESHOLD === 0
        ? null
        : {
            failureThreshold: env.CIRCUIT_FAILURE_THRESHOLD,
            coolOffMs: env.CIRCUIT_COOL_OFF,
            maxCoolOffMs: env.CIRCUIT_MAX_COOL_OFF,
            // A probe's attempt ends within TASK_TIMEOUT; one silent for longer lost its worker.
            probeTimeoutMs: env.TASK_TIMEOUT + 10_000,
          },
    amqp: { url: env.AMQP_URL, confirmTimeoutMs: env.AMQP_CONFIRM_TIMEOUT },
    smtp: {
      host: env.SMTP_HOST,
      // 465 is SMTPS (TLS from the first byte); 587 is submission with STARTTLS.
      port: env.SMTP_PORT ?? (env.SMTP_SECURE ? 465 : 587),
      secure: env.SMTP_SECURE,
      user: env.SMTP_USER,
      password: env.SMTP_PASSWORD,
      timeoutMs: env.SMTP_TIMEOUT,
      from: env.EMAIL_FROM,
    },
    storage: {
      finishedRetentionMs: env.TASK_RETENTION,
      failedRetentionMs: env.TASK_RETENTION_FAILED,
      partitionSize: env.TASK_HISTORY_PARTITION_SIZE,
      maintenanceIntervalMs: env.MAINTENANCE_INTERVAL,
    },
    healthPort: env.HTTP_PORT,
    schedules: {
      file: env.SCHEDULES_FILE === '' ? null : env.SCHEDULES_FILE,
      lookAheadMs: env.SCHEDULES_LOOKAHEAD,
      intervalMs: env.SCHEDULES_INTERVAL,
      misfireGraceMs: env.SCHEDULES_MISFIRE_GRACE,
    },
    dashboard: { token: env.DASHBOARD_TOKEN },
    tracing: {
      enabled: env.OTEL_TRACES_EXPORTER === 'otlp' && !env.OTEL_SDK_DISABLED,
      serviceName: env.OTEL_SERVICE_NAME,
      endpointSet: env.OTEL_EXPORTER_OTLP_ENDPOINT !== null || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT !== null,
    },
    log: { level: env.LOG_LEVEL, format: env.LOG_FORMAT },
    secrets: collectSecrets(env, databaseUrl),
  };
};

const composeDatabaseUrl = (env: Env): string => {
  const credentials = `${encodeURIComponent(env.DB_USER)}:${encodeURIComponent(env.DB_PASSWORD)}`;
  return `postgres://${credentials}@${urlHost(env.DB_HOST)}:${env.DB_PORT}/${encodeURIComponent(env.DB_NAME)}?sslmode=${env.DB_SSLMODE}`;
};

const PUBLIC_DEFAULTS = new Set(['postgres', 'guest']);

const collectSecrets = (env: Env, databaseUrl: string): string[] => {
  const fromUrl = (raw: string | null): string[] => {
    if (raw === null) return [];
    try {
      const parsed = new URL(raw);
      return [decodeURIComponent(parsed.password), parsed.password];
    } catch {
      return [];
    }
  };
  const secrets = [
    env.DATABASE_URL === null ? env.DB_PASSWORD : null,
    env.SMTP_PASSWORD,
    env.DASHBOARD_TOKEN,
    ...fromUrl(databaseUrl),
    ...fromUrl(env.AMQP_URL),
    ...env.WEBHOOK_SECRET,
  ];
  // Very short values would blank out ordinary words (4 chars is the floor), and the well-known
  // defaults ("postgres", "guest") are no secret but would mask every database or user name in logs.
  return [...new Set(secrets.filter((value): value is string => value !== null && value.length >= 4 && !PUBLIC_DEFAULTS.has(value)))];
};

/** One line naming every bad variable: `WORKER_BATCH_SIZE must be a positive integer (got "abc")`. */
const describeEnvErrors = (errors: t.Errors): string => {
  const seen = new Set<string>();
  const parts: string[] = [];
  for (const error of errors) {
    const variable = error.context[1]?.key ?? '?';
    if (seen.has(variable)) continue;
    seen.add(variable);
    const expected = error.context[error.context.length - 1]?.type.name ?? 'a valid value';
    // A refused URL may still hold a password (an unencoded '#' in it is a common cause of the refusal).
    const shown = typeof error.value === 'string' ? redactCredentials(error.value) : error.value;
    parts.push(
      error.message === 'is required' ? `${variable} is required` : `${variable} must be ${expected} (got ${JSON.stringify(shown)})`,
    );
  }
  return `Invalid configuration: ${parts.join('; ')}`;
};
