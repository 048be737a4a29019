import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { buildCallbackRequest, encodeBody } from '../../src/adapters/executors/http-callback-request.js';
import { decodeHttpCallbackPayload, redactUrl } from '../../src/domain/payloads/http-callback.js';

describe('redactUrl', () => {
  it.each([
    ['https://user:s3cret@example.com/hook?token=q', 'https://***@example.com/hook?token=q'],
    ['http://s3cret@example.com', 'http://***@example.com'],
    ['http://us@er:p@ss@example.com/a@b', 'http://***@example.com/a@b'],
    ['https://example.com/path?email=a@b.c', 'https://example.com/path?email=a@b.c'],
    ['user:s3cret@example.com/x', '***@example.com/x'],
    ['ftp://user:s3cret@files.example', 'ftp://***@files.example'],
  ])('%s → %s', (input, expected) => {
    expect(redactUrl(input)).toBe(expected);
  });
});

describe('http_callback payload', () => {
  const decode = decodeHttpCallbackPayload;

  it('names the field that is wrong', () => {
    expect(decode({ url: 42, data: {} })).toEqual(E.left('payload.url: expected an absolute http(s) URL, got 42'));
    expect(decode({ url: 'http://x.example/' })).toEqual(E.left('payload.data: is required, got nothing'));
  });

  it('never shows URL credentials or header values in the error', () => {
    const url = decode({ url: 'ftp://admin:hunter22@files.example/', data: 1 });
    expect(url).toEqual(E.left('payload.url: expected an http or https URL, not ftp:, got "ftp://***@files.example/"'));
    const header = decode({ url: 'http://x.example/', data: 1, headers: { Authorization: 'Bearer hunter22\r\nX: y' } });
    expect(E.isLeft(header) && header.left).toMatch(/^payload\.headers\.Authorization: must not contain line breaks/);
    expect(JSON.stringify(header)).not.toContain('hunter22');
    const numeric = decode({ url: 'http://x.example/', data: 1, headers: { 'X-Pin': 123456 } });
    expect(E.isLeft(numeric) && numeric.left).toBe('payload.headers.X-Pin: expected a string, not number, got "***"');
  });

  it('refuses headers that belong to the transport', () => {
    const result = decode({ url: 'http://x.example/', data: 1, headers: { Host: 'internal', 'bad name': 'v' } });
    expect(E.isLeft(result) && result.left).toBe(
      'payload.headers.Host: is set by the worker and cannot be overridden, got "***"; ' +
        'payload.headers.bad name: is not a valid header name, got "***"',
    );
  });

  it('returns a value for any JSON, never throws', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const result = decode(value);
        expect(E.isLeft(result) || E.isRight(result)).toBe(true);
      }),
    );
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), fc.jsonValue(), (headers, data) => {
        expect(() => decode({ url: 'https://a.example/', data, headers })).not.toThrow();
      }),
    );
  });
});

describe('building the request', () => {
  const context = { webhookId: 'task_7', timestampSeconds: 1_700_000_000, signingKeys: [], userAgent: 'at-worker' };

  it('sends a string as is and anything else as JSON', () => {
    expect(encodeBody('{"a":1}')).toEqual({ body: Buffer.from('{"a":1}'), contentType: 'text/plain; charset=utf-8' });
    expect(encodeBody('привет')).toEqual({ body: Buffer.from('привет', 'utf8'), contentType: 'text/plain; charset=utf-8' });
    expect(encodeBody({ a: [1, null] })).toEqual({ body: Buffer.from('{"a":[1,null]}'), contentType: 'application/json' });
    expect(encodeBody(null)).toEqual({ body: Buffer.from('null'), contentType: 'application/json' });
  });

  it("lets the payload's content type win, whatever its case, and always sends webhook-id", () => {
    const request = buildCallbackRequest(
      { url: 'https://a.example/x?y=1#frag', data: '<a/>', headers: { 'Content-Type': 'application/xml', 'webhook-id': 'mine' } },
      context,
    );
    expect(request.headers).toMatchObject({ 'content-type': 'application/xml', 'webhook-id': 'task_7' });
    expect(request.origin).toBe('https://a.example');
    expect(request.path).toBe('/x?y=1');
  });

  it('turns URL credentials into Basic auth, keeps them out of the URL and lists them as secrets', () => {
    const request = buildCallbackRequest({ url: 'https://us%40r:p%3Ass@a.example/', data: 1 }, context);
    expect(request.headers['authorization']).toBe(`Basic ${Buffer.from('us@r:p:ss').toString('base64')}`);
    expect(request.url.href).toBe('https://a.example/');
    expect(request.secrets).toEqual(expect.arrayContaining(['us@r', 'p:ss', request.headers['authorization']]));
  });
});
