import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Coordinator } from '@swarmgrad/coordinator';
import type { SocketHub } from './socket-hub.js';

/** A running HTTP + WebSocket front for one coordinator engine. */
export interface RunServer {
  readonly port: number;
  readonly url: string;
  /** Closes every connection and the listening socket. */
  close(): Promise<void>;
}

/** Options of {@link startRunServer}. */
export interface RunServerOptions {
  /** 0 picks a free port. */
  port: number;
  host: string;
  /** Answers every HTTP request (the route table of `routes.ts`); WebSocket upgrades at `/ws` never reach it. */
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
}

/**
 * Wraps the transport-free engine: every WebSocket connection gets a connection id, binary
 * frames go to `engine.receive`, the engine's `send` / `close` come back out; a 100 ms timer
 * drives `engine.tick`. HTTP requests go to `options.handle` (the route table).
 */
export async function startRunServer(engine: Coordinator, hub: SocketHub, options: RunServerOptions): Promise<RunServer> {
  const http: Server = createServer((req, res) => void options.handle(req, res));

  // WebSocket upgrades: the hub's per-connection limits, then the engine.
  hub.attach(http, engine);

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port, options.host, () => resolve());
  });
  const ticker = setInterval(() => engine.tick(), 100);
  const { port } = http.address() as AddressInfo;
  const server: RunServer = {
    port,
    url: `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`,
    async close() {
      clearInterval(ticker);
      hub.terminateAll();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
  return server;
}
