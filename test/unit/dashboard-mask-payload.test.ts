import { maskPayload } from '../../src/application/dashboard/mask-payload.js';

describe('dashboard payload masking', () => {
  it('masks credential headers whatever their case, and leaves the rest readable', () => {
    const payload = {
      url: 'https://hooks.example/in',
      data: { order: 42 },
      headers: {
        Authorization: 'Bearer abc',
        'x-api-key': 'k-1',
        Cookie: 'sid=1',
        'Content-Type': 'text/plain',
        'Proxy-Authorization': 'Basic x',
      },
    };
    expect(maskPayload(payload)).toEqual({
      url: 'https://hooks.example/in',
      data: { order: 42 },
      headers: { Authorization: '***', 'x-api-key': '***', Cookie: '***', 'Content-Type': 'text/plain', 'Proxy-Authorization': '***' },
    });
  });

  it('masks the user-info of URLs anywhere in a string, keeping the host', () => {
    expect(
      maskPayload({ url: 'https://ops:s3cret@hooks.example/x', data: ['see amqp://guest:pw@mq:5672/vhost and http://plain.example'] }),
    ).toEqual({
      url: 'https://***@hooks.example/x',
      data: ['see amqp://***@mq:5672/vhost and http://plain.example'],
    });
  });

  it('masks a password holding an unencoded / # or ? whole', () => {
    expect(maskPayload('postgres://app:pa/ss#w?rd@db:5432/x and smtp://u:p@mail')).toBe('postgres://***@db:5432/x and smtp://***@mail');
  });

  it("masks SMTP credentials (nodemailer's auth.pass too) and tokens in nested, hand-written payloads, at any depth", () => {
    expect(
      maskPayload({ smtp: { user: 'mailer', pass: 'p', password: 'p2' }, auth: { token: 't', refresh_token: 'r' }, list: [{ secret: 1 }] }),
    ).toEqual({
      smtp: { user: 'mailer', pass: '***', password: '***' },
      auth: '***',
      list: [{ secret: '***' }],
    });
  });
});
