import { oneStderrLine, runCli } from './cli-run.js';

/**
 * A refused URL is echoed in the one-line start-up error, and a password with an unencoded '#', '/'
 * or '?' is the usual reason it is refused: the worker and every operator command show the value
 * with its user-info hidden.
 */
describe('a refused configuration value never shows its password', () => {
  const cases: readonly (readonly [string, string])[] = [
    ['DATABASE_URL', 'postgres://admin:Top#S3cret/Pw@db.internal/tasks'],
    ['AMQP_URL', 'amqp://publisher:Top#S3cret/Pw@mq.internal:5672'],
    ['DATABASE_URL', 'mysql://admin:Top#S3cret/Pw@db.internal/tasks?password=Top#S3cret'],
  ];

  it.each(cases)('%s in `start` and in `stats`', async (variable, value) => {
    for (const args of [['start'], ['stats']]) {
      const result = await runCli(args, { env: { [variable]: value } });
      expect(result.code).toBe(2);
      const line = oneStderrLine(result);
      expect(line).toContain(`${variable} must be`);
      expect(line).toContain('***@');
      expect(result.stderr + result.stdout).not.toContain('S3cret');
    }
  });
});
