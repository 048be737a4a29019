import { connect, createServer, type Server, type Socket } from 'node:net';
import { freePort } from './net.js';

/**
 * A TCP proxy on 127.0.0.1 in front of `target`, which a test can cut and restore: while cut, open
 * connections are dropped and new ones refused (ECONNREFUSED), as when a database server goes away
 * during a restart or a failover, without touching the server the rest of the suite uses.
 * `freeze` instead keeps the connections of the moment open but carries nothing more on them,
 * either way, as a peer gone behind a NAT or a firewall looks (a half-open socket); new ones work.
 */
export const startTcpProxy = async (target: { readonly host: string; readonly port: number }) => {
  const port = await freePort();
  const sockets = new Set<Socket>();
  const pairs = new Set<readonly [Socket, Socket]>();
  let server: Server | undefined;
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const listening = createServer((client) => {
        const upstream = connect(target.port, target.host);
        track(client);
        track(upstream);
        client.pipe(upstream);
        upstream.pipe(client);
        const pair = [client, upstream] as const;
        pairs.add(pair);
        client.on('close', () => {
          pairs.delete(pair);
          upstream.destroy();
        });
        upstream.on('close', () => client.destroy());
      });
      listening.once('error', reject);
      listening.listen(port, '127.0.0.1', () => {
        server = listening;
        resolve();
      });
    });
  const cut = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      if (server === undefined) return resolve();
      server.close(() => resolve());
      server = undefined;
    });
  const freeze = (): void => {
    for (const [client, upstream] of pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
    pairs.clear();
  };
  await listen();
  return { port, cut, restore: listen, freeze, close: cut };
};
