/**
 * An in-process aedes broker (MQTT 3.1.1 only: gates fall back from v5 automatically) for `npm start`
 * and quick trials without a system broker. Tests and benchmarks use a real mosquitto instead
 * (scripts/backend/mosquitto.ts): aedes is not what runs at a site.
 */
import { Aedes } from 'aedes';
import { createServer, type Server } from 'node:net';

export interface EmbeddedBroker {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Starts aedes on `host:port` (port 0: any free port). */
export async function startEmbeddedBroker(options: { port?: number; host?: string } = {}): Promise<EmbeddedBroker> {
  const host = options.host ?? '127.0.0.1';
  const broker = await Aedes.createBroker();
  const server: Server = createServer(broker.handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (options.port ?? 0);
  return {
    url: `mqtt://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        // aedes disconnects its clients first, so the server's close does not wait on them.
        broker.close(() => server.close(() => resolve()));
      }),
  };
}
