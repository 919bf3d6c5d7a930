/**
 * An {@link Endpoint} over a WHATWG `WebSocket` (browsers, Web Workers, Node 22+): the
 * browser-side adapter of the session's transport seam.
 */
import type { Endpoint } from './session.js';

/** The subset of the WHATWG `WebSocket` that {@link webSocketEndpoint} uses. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: ArrayBufferView | ArrayBuffer): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'message' | 'close' | 'error', listener: (event: never) => void): void;
}

/**
 * Connects with a WHATWG `WebSocket` (browsers, Web Workers, Node 22+, or any compatible
 * class) and adapts it to an {@link Endpoint}: binary frames as `ArrayBuffer`s. Resolves once
 * the socket is open; rejects if it closes or fails first.
 *
 * @param url `ws://` or `wss://` URL of the coordinator
 * @param WebSocketImpl the `WebSocket` class to use. Default: `globalThis.WebSocket`.
 */
export function webSocketEndpoint(url: string, WebSocketImpl?: new (url: string) => WebSocketLike): Promise<Endpoint> {
  const Impl = WebSocketImpl ?? (globalThis as { WebSocket?: new (url: string) => WebSocketLike }).WebSocket;
  if (Impl === undefined) return Promise.reject(new TypeError('webSocketEndpoint: no WebSocket class in this environment; pass one'));
  return new Promise((resolve, reject) => {
    const socket = new Impl(url);
    socket.binaryType = 'arraybuffer';
    let opened = false;
    let messageListener: ((frame: Uint8Array) => void) | undefined;
    let closeListener: ((code: number, reason: string) => void) | undefined;
    const early: Uint8Array[] = [];
    socket.addEventListener('message', ((event: { data: unknown }) => {
      const data = event.data;
      const frame =
        data instanceof ArrayBuffer
          ? new Uint8Array(data)
          : ArrayBuffer.isView(data)
            ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
            : new TextEncoder().encode(String(data)); // a text frame: the decoder will refuse it
      if (messageListener !== undefined) messageListener(frame);
      else early.push(frame);
    }) as (event: never) => void);
    socket.addEventListener('close', ((event: { code: number; reason: string }) => {
      if (!opened) reject(new Error(`connection to ${url} closed before it opened (${event.code}${event.reason ? ` ${event.reason}` : ''})`));
      closeListener?.(event.code, event.reason);
    }) as (event: never) => void);
    socket.addEventListener('error', (() => {
      if (!opened) reject(new Error(`cannot connect to ${url}`));
    }) as (event: never) => void);
    socket.addEventListener('open', (() => {
      opened = true;
      resolve({
        send: (frame) => socket.send(frame),
        close: (code, reason) => socket.close(code, reason),
        onMessage: (cb) => {
          messageListener = cb;
          for (const frame of early.splice(0)) cb(frame);
        },
        onClose: (cb) => {
          closeListener = cb;
        },
      });
    }) as (event: never) => void);
  });
}
