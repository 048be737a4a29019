import { execFile } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import { connect } from 'amqplib';

/** The broker the RabbitMQ suites use: this machine and CI run one at 127.0.0.1:5672. */
export const TEST_AMQP_URL = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

/**
 * Whether the broker answers. Under CI a missing broker fails the suite (a skipped suite would
 * pass for the wrong reason); on a developer machine the suite skips, loudly.
 */
export const brokerIsUp = async (): Promise<boolean> => {
  try {
    const connection = await connect(TEST_AMQP_URL, { timeout: 3_000 });
    await connection.close();
    return true;
  } catch (error) {
    const why = `RabbitMQ at ${TEST_AMQP_URL.replace(/:[^:@/]*@/, ':***@')} is unreachable (${(error as Error).message})`;
    if (process.env.CI) throw new Error(`${why}; CI is set, so the RabbitMQ suites must not skip`, { cause: error });
    console.warn(`\n*** SKIPPING RabbitMQ integration tests: ${why}. Start RabbitMQ or set TEST_AMQP_URL. ***\n`);
    return false;
  }
};

const run = promisify(execFile);

/** Which connections to close: by client_properties.connection_name, or by the client's TCP port. */
export type ConnectionMatch = { readonly name: string } | { readonly clientPorts: readonly number[] };

/**
 * rabbitmqctl on the broker's host: inside the broker's container when the suites started one
 * (TEST_RABBITMQ_CONTAINER), this machine's otherwise.
 */
const rabbitmqctl = async (args: readonly string[]): Promise<string> => {
  const containerId = process.env['TEST_RABBITMQ_CONTAINER'];
  if (containerId === undefined) return (await run('rabbitmqctl', [...args], { timeout: 30_000 })).stdout;
  const { getContainerRuntimeClient } = await import('testcontainers');
  const client = await getContainerRuntimeClient();
  const result = await client.container.exec(client.container.getById(containerId), ['rabbitmqctl', ...args]);
  if (result.exitCode !== 0) throw new Error(`rabbitmqctl ${args[0] ?? ''} exited with ${result.exitCode}: ${result.output}`);
  return result.stdout;
};

/**
 * Closes, from the broker's side, the connections that match (RabbitMQ sends connection.close 320
 * CONNECTION_FORCED, as on a broker restart or an operator's `close_connection`). Only ours: the
 * broker is shared with other suites. Returns how many it closed, or null when rabbitmqctl cannot
 * reach the broker (not installed, or no rights to the Erlang cookie).
 */
export const closeConnectionsFromBroker = async (match: ConnectionMatch): Promise<number | null> => {
  let listing: string;
  try {
    listing = await rabbitmqctl(['list_connections', 'pid', 'peer_port', 'client_properties', '-q']);
  } catch {
    return null;
  }
  const pids = listing
    .split('\n')
    .map((line) => line.split('\t'))
    .filter(([, peerPort = '', properties = '']) =>
      'name' in match ? properties.includes(`{"connection_name","${match.name}"}`) : match.clientPorts.includes(Number(peerPort)),
    )
    .map(([pid = '']) => pid);
  for (const pid of pids) await rabbitmqctl(['close_connection', pid, 'severed by the test']);
  return pids.length;
};

/**
 * Sets the broker's max_message_size (read by channels opened from then on) and returns the value
 * it had, or null when rabbitmqctl cannot reach the broker. The broker is shared: restore it.
 */
export const setMaxMessageSize = async (bytes: number): Promise<number | null> => {
  try {
    const before = await rabbitmqctl(['eval', 'application:get_env(rabbit, max_message_size).']);
    await rabbitmqctl(['eval', `application:set_env(rabbit, max_message_size, ${Math.trunc(bytes)}).`]);
    return Number(/\d+/.exec(before)?.[0] ?? 134_217_728);
  } catch {
    return null;
  }
};

/** Whether rabbitmqctl could do what `what` needs; under CI a no fails the test (as closedFromBroker). */
export const brokerControlled = (previous: number | null, what: string): previous is number => {
  if (previous !== null) return true;
  if (process.env['CI']) throw new Error(`${what} needs rabbitmqctl and it is not usable here; CI is set, so it must not be skipped`);
  console.warn(`*** NOT TESTED here: ${what}: rabbitmqctl is not usable here ***`);
  return false;
};

/**
 * Whether a broker-side close happened, so the test can go on. When it did not, the test cannot
 * test what it is about: under CI that fails it (it would otherwise pass without testing anything);
 * on a developer machine it says so loudly and the caller returns.
 */
export const closedFromBroker = (closed: number | null, what: string): boolean => {
  if (closed !== null && closed > 0) return true;
  const why = `rabbitmqctl ${closed === null ? 'is not usable here' : 'does not see the connection'}`;
  if (process.env['CI']) throw new Error(`${what} needs a broker-side close and ${why}; CI is set, so it must not be skipped`);
  console.warn(`*** NOT TESTED here: ${what}: ${why} ***`);
  return false;
};

/**
 * A TCP relay between the executor and the broker, so a test can cut the connection the way a
 * crashed broker or a dropped network does (no AMQP close, the socket just ends), or freeze it so
 * nothing the broker says gets through (a confirm that never arrives).
 */
export interface Relay {
  readonly url: string;
  /** Destroys every relayed connection, both sides. */
  sever(): void;
  /** Stops passing the broker's bytes to the client, on current and future connections. */
  freeze(): void;
  /** Freezes once, when the client next asks for a channel (AMQP channel.open): after the handshake, before the channel. */
  freezeAtChannelOpen(): void;
  thaw(): void;
  connections(): number;
  /** The local ports of the relay's connections to the broker, as the broker sees its clients. */
  brokerSidePorts(): number[];
  close(): Promise<void>;
}

export const startRelay = async (brokerUrl: string): Promise<Relay> => {
  const target = new URL(brokerUrl);
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  let frozen = false;
  let freezeAtChannelOpen = false;
  let accepted = 0;
  const server = net.createServer((client) => {
    accepted += 1;
    const upstream = net.connect(Number(target.port || 5672), target.hostname);
    const pair = { client, upstream };
    pairs.add(pair);
    client.on('data', (chunk: Buffer) => {
      if (freezeAtChannelOpen && opensChannel(chunk)) {
        frozen = true;
        freezeAtChannelOpen = false;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (!frozen) client.write(chunk);
    });
    const end = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const url = new URL(brokerUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return {
    url: url.toString(),
    sever: () => {
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
    },
    freeze: () => (frozen = true),
    freezeAtChannelOpen: () => (freezeAtChannelOpen = true),
    thaw: () => (frozen = false),
    connections: () => accepted,
    brokerSidePorts: () => [...pairs].map(({ upstream }) => upstream.localPort ?? 0),
    close: async () => {
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};

/**
 * Whether `chunk` holds an AMQP 0-9-1 channel.open method frame: frame type 1, a channel number,
 * a 4-byte size, then class 20 (channel) and method 10 (open).
 */
const opensChannel = (chunk: Buffer): boolean => {
  for (let at = 0; at + 11 <= chunk.length; at += 1) {
    if (chunk[at] === 1 && chunk.readUInt16BE(at + 7) === 20 && chunk.readUInt16BE(at + 9) === 10) return true;
  }
  return false;
};

/** A TCP server that accepts and then says nothing: a broker that hangs during the handshake. */
export const startSilentServer = async (): Promise<{ url: string; close(): Promise<void> }> => {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};
