import * as E from 'fp-ts/lib/Either.js';
import { decodeListQuery, listHref } from '../../src/adapters/dashboard/list-query.js';

const decode = (query: string) => decodeListQuery(new URLSearchParams(query));

describe('dashboard task-list query', () => {
  it('reads every filter; empty fields mean any, form times are UTC', () => {
    const decoded = decode('status=failed&type=email&from=2026-12-07T01:30&to=2026-12-07T02:30:00Z&error=timeout&before=1200&extra=');
    expect(decoded).toEqual(
      E.right({
        filter: {
          status: 'failed',
          taskType: 'email',
          from: new Date('2026-12-07T01:30:00Z'),
          to: new Date('2026-12-07T02:30:00Z'),
          errorText: 'timeout',
        },
        before: '1200',
      }),
    );
    expect(decode('status=&type=+')).toEqual(
      E.right({ filter: { status: null, taskType: null, from: null, to: null, errorText: null }, before: null }),
    );
  });

  it('refuses a bad field with one line naming it', () => {
    expect(decode('status=broken')).toEqual(
      E.left('status must be one of pending, processing, completed, failed, cancelled (got "broken")'),
    );
    expect(decode('from=yesterday')).toEqual(E.left('from must be a UTC time like 2026-12-07T01:30 (got "yesterday")'));
    expect(decode('before=0')).toEqual(E.left('before must be a task id (got "0")'));
    expect(decode(`error=${'x'.repeat(201)}`)).toEqual(E.left('error must be at most 200 characters'));
  });

  it('links round-trip: the next page keeps the filter', () => {
    const decoded = decode('status=failed&error=50%25 off&from=2026-12-07T01:30');
    if (E.isLeft(decoded)) throw new Error(decoded.left);
    const href = listHref(decoded.right.filter, '77');
    expect(decode(href.split('?')[1] ?? '')).toEqual(E.right({ filter: decoded.right.filter, before: '77' }));
  });
});
