/**
 * An in-process aedes broker (MQTT 3.1.1 only: gates fall back from v5 automatically) for `npm start`
 * and quick trials without a system broker. Tests and benchmarks use a real mosquitto instead
 * (scripts/backend/mosquitto.ts): aedes is not what runs at a site.
 */
import { Aedes } from 'aedes';
import { createServer, type Server, type Socket } from 'node:net';

export interface EmbeddedBroker {
  url: string;
  port: number;
  /**
   * The broker "goes away": every client connection is cut and new ones are refused, while sessions,
   * subscriptions, queued QoS 1 messages and retained messages are kept — as a broker restarting
   * with persistence would. Resolves once nothing listens any more.
   */
  suspend(): Promise<void>;
  /** Listens again on the same port. */
  resume(): Promise<void>;
  close(): Promise<void>;
}

/** Starts aedes on `host:port` (port 0: any free port). */
export async function startEmbeddedBroker(options: { port?: number; host?: string } = {}): Promise<EmbeddedBroker> {
  const host = options.host ?? '127.0.0.1';
  const broker = await Aedes.createBroker();
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    broker.handle(socket);
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  await listen(options.port ?? 0);
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (options.port ?? 0);
  return {
    url: `mqtt://${host}:${port}`,
    port,
    suspend: () =>
      new Promise<void>((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
    resume: () => (server.listening ? Promise.resolve() : listen(port)),
    close: () =>
      new Promise<void>((resolve) => {
        // aedes disconnects its clients first, so the server's close does not wait on them.
        broker.close(() => {
          if (server.listening) server.close(() => resolve());
          else resolve();
        });
      }),
  };
}
