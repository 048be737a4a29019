import { startDefaults } from '../../src/infrastructure/config/index.js';
import { firstTaskHint } from '../../src/infrastructure/first-task-hint.js';

describe('how the worker is started picks some defaults', () => {
  const off = { embedded: false, terminal: false };
  it('logs JSON when nobody is watching: a container, a pipe', () => {
    expect(startDefaults({}, off)['LOG_FORMAT']).toBeUndefined(); // the schema's default, json
  });
  it('logs plain lines on a terminal and with --embedded', () => {
    expect(startDefaults({}, { ...off, terminal: true })['LOG_FORMAT']).toBe('pretty');
    expect(startDefaults({}, { ...off, embedded: true })['LOG_FORMAT']).toBe('pretty');
  });
  it('keeps what LOG_FORMAT says, either way', () => {
    expect(startDefaults({ LOG_FORMAT: 'json' }, { embedded: true, terminal: true })['LOG_FORMAT']).toBe('json');
    expect(startDefaults({ LOG_FORMAT: 'pretty' }, off)['LOG_FORMAT']).toBe('pretty');
  });
  it('lets --embedded reach private networks unless HTTP_ALLOW_PRIVATE_NETWORKS says otherwise', () => {
    expect(startDefaults({}, { ...off, embedded: true })['HTTP_ALLOW_PRIVATE_NETWORKS']).toBe('true');
    const refused = startDefaults({ HTTP_ALLOW_PRIVATE_NETWORKS: 'false' }, { ...off, embedded: true });
    expect(refused['HTTP_ALLOW_PRIVATE_NETWORKS']).toBe('false');
    expect(startDefaults({}, off)['HTTP_ALLOW_PRIVATE_NETWORKS']).toBeUndefined();
  });
});

describe("the embedded start's first-task hint", () => {
  const commands = (hint: string) =>
    hint
      .split('\n')
      .filter((line) => line.includes('npx at-worker'))
      .map((line) => line.trim());
  it('is plain text a shell takes as it is, for the default database', () => {
    const hint = firstTaskHint('postgres://postgres:postgres@127.0.0.1:5432/at_scheduler');
    expect(commands(hint)).toEqual([
      `npx at-worker schedule --type http_callback --payload '{"url":"https://example.com/hook","data":{"hello":"world"}}'`,
      'npx at-worker history 1',
    ]);
    expect(hint).not.toContain('\\');
  });
  it('carries the settings that differ from the defaults, and never the password', () => {
    const hint = firstTaskHint('postgres://ann:s3cret-pw@127.0.0.1:5433/my%20db');
    for (const command of commands(hint)) expect(command).toMatch(/^DB_PORT=5433 DB_USER=ann DB_NAME='my db' npx at-worker /);
    expect(hint).not.toContain('s3cret-pw');
    expect(hint).toContain('same DB_PASSWORD');
  });
});
