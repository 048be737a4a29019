import type net from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';

export interface Received {
  readonly mailFrom: string;
  readonly rcptTo: string[];
  readonly headers: Map<string, string[]>;
  readonly body: string;
}

/** A real SMTP server on a loopback port, rejecting recipients by their local part. */
export const startSmtpServer = async (extra: Partial<SMTPServerOptions> = {}) => {
  const received: Received[] = [];
  let connections = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onConnect: (_session, callback) => {
      connections += 1;
      callback();
    },
    onRcptTo: (address, _session, callback) => {
      if (address.address.startsWith('reject@')) return callback(smtpError(550, '5.1.1 <reject@example.com>: mailbox unavailable'));
      if (address.address.startsWith('defer@')) return callback(smtpError(451, '4.3.0 greylisted, try again later'));
      callback();
    },
    onData: (stream, session, callback) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        if (raw.includes('Subject: refuse-at-data')) return callback(smtpError(554, '5.6.0 content rejected'));
        const split = raw.indexOf('\r\n\r\n');
        received.push({
          mailFrom: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
          rcptTo: session.envelope.rcptTo.map((rcpt) => rcpt.address),
          headers: parseHeaders(raw.slice(0, split)),
          body: raw.slice(split + 4),
        });
        callback();
      });
    },
    ...extra,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as net.AddressInfo;
  return {
    port,
    received,
    connections: () => connections,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
};

export const smtpError = (code: number, text: string): Error => Object.assign(new Error(text), { responseCode: code });

const parseHeaders = (block: string): Map<string, string[]> => {
  const headers = new Map<string, string[]>();
  for (const line of block.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), decodeWords(line.slice(colon + 1).trim())]);
  }
  return headers;
};

/** RFC 2047 encoded words, as nodemailer writes non-ASCII headers. */
const decodeWords = (value: string): string =>
  value.replace(/\?=\s+=\?/g, '?==?').replace(/=\?utf-8\?([BQ])\?([^?]*)\?=/gi, (_all, encoding: string, text: string) =>
    encoding.toUpperCase() === 'B'
      ? Buffer.from(text, 'base64').toString('utf8')
      : Buffer.from(
          text.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/gi, (_hex, byte: string) => String.fromCharCode(parseInt(byte, 16))),
          'latin1',
        ).toString('utf8'),
  );

export const header = (message: Received | undefined, name: string): string | undefined => message?.headers.get(name)?.join(', ');
