import type { ExecutorsByType, Logger, TaskExecutor } from '../application/ports.js';
import { createHttpCallbackExecutor } from '../adapters/executors/http-callback-executor.js';
import { notConfiguredExecutor } from '../adapters/executors/not-configured.js';
import type { Config } from './config/index.js';

interface Closable extends TaskExecutor {
  close(): Promise<void>;
}

/**
 * task_type → executor, from configuration, and the types this worker cannot run for want of it
 * (`cannotRun`): the claim leaves those to workers configured for them. An executor without its
 * configuration still stands behind its type and fails a task with a "not configured" error naming the
 * variable to set (a task can reach it only through a claim that predates migration 0007).
 * A fourth task type is one adapter and one entry here.
 *
 * The RabbitMQ and SMTP clients (amqplib, nodemailer) are loaded only when configured: nodemailer
 * alone is ~70 ms of start-up.
 */
export const createExecutors = async (
  config: Config,
  logger: Logger,
): Promise<{ byType: ExecutorsByType; cannotRun: readonly string[]; close: () => Promise<void> }> => {
  const executors = new Map<string, Closable | TaskExecutor>();
  executors.set(
    'http_callback',
    createHttpCallbackExecutor({
      requestTimeoutMs: config.http.timeoutMs,
      connectionsPerOrigin: config.worker.concurrency,
      allowPrivateNetworks: config.http.allowPrivateNetworks,
      allowedHosts: config.http.allowedHosts,
      webhookSecrets: config.http.webhookSecrets,
    }),
  );
  executors.set(
    'rabbitmq',
    config.amqp.url === null
      ? notConfiguredExecutor('rabbitmq', 'set AMQP_URL')
      : (await import('../adapters/executors/rabbitmq-executor.js')).createRabbitMqExecutor({
          url: config.amqp.url,
          confirmTimeoutMs: config.amqp.confirmTimeoutMs,
          connectionName: `at-worker/${config.worker.id}`,
          logger,
        }),
  );
  const smtp = config.smtp;
  executors.set(
    'email',
    smtp.host === null
      ? notConfiguredExecutor('email', 'set SMTP_HOST (and EMAIL_FROM)')
      : (await import('../adapters/executors/email-executor.js')).createEmailExecutor({
          host: smtp.host,
          port: smtp.port,
          secure: smtp.secure,
          ...(smtp.user === null ? {} : { user: smtp.user }),
          ...(smtp.password === null ? {} : { password: smtp.password }),
          ...(smtp.from === null ? {} : { from: smtp.from }),
          timeoutMs: smtp.timeoutMs,
          logger,
        }),
  );
  // A warning, not a refusal: a payload may carry its own "from", and a deployment whose tasks all do
  // needs no default sender. Said at start-up because otherwise the first email without one is the news.
  if (smtp.host !== null && smtp.from === null) {
    logger.warn(
      'SMTP_HOST is set but EMAIL_FROM is not: an email task without "from" in its payload will fail; set EMAIL_FROM to a default sender',
    );
  }
  const close = async () => {
    await Promise.allSettled([...executors.values()].map((executor) => ('close' in executor ? executor.close() : Promise.resolve())));
  };
  // Types whose executor has no configuration: the claim leaves them to workers that have it.
  const cannotRun = [...(config.amqp.url === null ? ['rabbitmq'] : []), ...(smtp.host === null ? ['email'] : [])];
  return { byType: executors, cannotRun, close };
};
