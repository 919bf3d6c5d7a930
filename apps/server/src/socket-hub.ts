import type { WebSocket } from 'ws';
import { FrameEncoder, type Message } from '@swarmgrad/protocol';
import type { CoordinatorTransport } from '@swarmgrad/coordinator';

/**
 * The engine's transport over WebSockets: connection ids to sockets. Created before the
 * engine (which needs a transport) and attached to the HTTP server after.
 */
export class SocketHub {
  readonly sockets = new Map<string, WebSocket>();
  private nextId = 1;
  /** Encodes each step's parameters once for all workers. */
  private readonly encoder = new FrameEncoder();

  readonly transport: CoordinatorTransport = {
    send: (connId: string, message: Message): void => {
      const ws = this.sockets.get(connId);
      if (ws && ws.readyState === ws.OPEN) ws.send(this.encoder.encode(message), { binary: true });
    },
    close: (connId: string, code: number, reason: string): void => {
      const ws = this.sockets.get(connId);
      if (!ws) return;
      // A close reason is at most 123 bytes on the wire.
      ws.close(code, truncateUtf8(reason, 120));
      setTimeout(() => ws.terminate(), 2000).unref();
    },
  };

  /** Registers a new socket and returns its connection id. */
  add(ws: WebSocket): string {
    const connId = `c${this.nextId++}`;
    this.sockets.set(connId, ws);
    return connId;
  }

  /** Drops every connection at once. */
  terminateAll(): void {
    for (const ws of this.sockets.values()) ws.terminate();
    this.sockets.clear();
  }
}

function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text);
  if (bytes.length <= maxBytes) return text;
  return bytes.subarray(0, maxBytes).toString('utf8').replace(/\uFFFD$/, '');
}
