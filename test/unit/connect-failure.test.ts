import { classifyConnectFailure, describeConnectFailure } from '../../src/infrastructure/connect-failure.js';

const URL_ = 'postgres://ann:secret@db.example:5433/orders';
const pgError = (code: string, message: string) => Object.assign(new Error(message), { code });

describe('a failed connection', () => {
  it.each([
    ['3D000', 'database "orders" does not exist', 'create it (createdb -h db.example -p 5433 -U ann orders) or set DB_NAME'],
    ['28000', 'role "ann" does not exist', 'check DB_USER'],
    ['28P01', 'password authentication failed for user "ann"', 'check DB_PASSWORD'],
    ['42501', 'permission denied for database "orders"', 'grant the role CONNECT on database orders'],
  ])('%s is lasting: stop at once and say what to do', (code, message, hint) => {
    const failure = classifyConnectFailure(pgError(code, message), URL_);
    expect(failure._tag).toBe('Lasting');
    expect(describeConnectFailure(failure)).toContain(`${message}; ${hint}`);
  });

  it('finds the SQLSTATE on a wrapped error', () => {
    const wrapped = new Error('Connection failed', { cause: pgError('3D000', 'database "orders" does not exist') });
    expect(classifyConnectFailure(wrapped, URL_)._tag).toBe('Lasting');
  });

  it.each([
    ['refused', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5433'), { code: 'ECONNREFUSED' })],
    ['a time-out', Object.assign(new Error('timeout expired'), { code: 'ETIMEDOUT' })],
    ['a server starting up (57P03)', pgError('57P03', 'the database system is starting up')],
    ['too many connections (53300)', pgError('53300', 'sorry, too many clients already')],
    ['a name that does not resolve yet', Object.assign(new Error('getaddrinfo ENOTFOUND db'), { code: 'ENOTFOUND' })],
  ])('%s may pass: retry', (_name, cause) => {
    expect(classifyConnectFailure(cause, URL_)).toEqual({ _tag: 'Passing', reason: cause.message });
  });
});
