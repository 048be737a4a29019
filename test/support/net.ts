import { createServer } from 'node:net';

/** A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it). */
export const freePort = (): Promise<number> =>
  new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });

/** GET `url`; null while nothing answers (a server still starting). */
export const fetchOrNull = async (url: string): Promise<Response | null> => {
  try {
    return await fetch(url);
  } catch {
    return null;
  }
};
