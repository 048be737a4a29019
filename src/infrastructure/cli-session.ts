import * as E from 'fp-ts/lib/Either.js';
import { EXIT, type OpenSession, type Session } from '../adapters/cli/io.js';
import { closePool, type DatabasePool } from '../adapters/postgres/pool.js';
import { secretScrubber } from '../shared/redact.js';
import { decodeConfig, loadEnvironment } from './config/index.js';
import { classifyConnectFailure, describeConnectFailure } from './connect-failure.js';
import { describeTarget, openProvenPool } from './database.js';
import { TOKENS } from './tokens.js';

// `history` reads the row and its events side by side; nothing here needs more.
const POOL_SIZE = 2;

/**
 * The operator commands' session: the worker's configuration sources (environment, ./.env,
 * /app/.env), one small pool proven with a query, and the operator ports resolved from the CLI's
 * container (cli-container.ts). `useSecrets` receives the configured secrets as soon as they are
 * known, so that every later line on stderr can be scrubbed of them (a connection error may quote
 * the URL).
 *
 * The container's modules (Inversify and the Postgres adapters) are imported while the pool
 * connects, so their loading overlaps the wait for the server instead of adding to it.
 */
export const openCliSession =
  (useSecrets: (scrub: (text: string) => string) => void): OpenSession =>
  async () => {
    const config = decodeConfig(loadEnvironment());
    if (E.isLeft(config)) return E.left({ exitCode: EXIT.usage, message: config.left.message });
    const scrub = secretScrubber(config.right.secrets);
    useSecrets((text) => scrub(text) as string);
    const target = describeTarget(config.right.database.url);
    const wiring = import('./cli-container.js');
    // A failed connection answers without waiting for the wiring; its rejection is not lost.
    wiring.catch(() => undefined);
    let opened: DatabasePool;
    try {
      opened = await openProvenPool(config.right.database.url, POOL_SIZE);
    } catch (cause) {
      const failure = classifyConnectFailure(cause, config.right.database.url);
      return E.left({ exitCode: EXIT.no, message: `Failed to connect to database ${target}: ${describeConnectFailure(failure)}` });
    }
    try {
      const { buildCliContainer } = await wiring;
      const session = buildCliContainer(config.right, opened, target).get<Session>(TOKENS.CliSession);
      return E.right({ session, close: () => closePool(opened) });
    } catch (cause) {
      await closePool(opened);
      throw cause;
    }
  };
