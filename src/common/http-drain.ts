import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { ApiError, toErrorBody } from './api-error.js';

/** The Retry-After of a request refused while the instance shuts down (another one takes it). */
const DRAINING_RETRY_AFTER_S = 1;

/**
 * The HTTP side of a graceful shutdown (see src/shutdown.ts): counts the requests in flight, and
 * once `begin` is called stops the server accepting connections, closes the idle keep-alive ones,
 * answers every request that arrives afterwards on a connection still open 503 (Connection: close,
 * Retry-After), and lets the requests in flight finish, their connections closed after their
 * response. Sits in front of the hot paths and Fastify (see HotPaths.serverFactory).
 */
export class HttpDrain {
  private readonly inFlight = new Set<ServerResponse>();
  private server?: Server;
  private draining = false;
  private idle?: () => void;

  /** Requests being answered now. */
  get active(): number {
    return this.inFlight.size;
  }

  /**
   * For each request, before anyone reads it: false when it was refused (answered 503 here),
   * true when it is counted in flight and goes on to be answered.
   */
  admit(_req: IncomingMessage, res: ServerResponse): boolean {
    if (this.draining) {
      const error = new ApiError(
        503,
        'UNAVAILABLE',
        'This instance is shutting down; retry (another instance will answer).',
      );
      const body = JSON.stringify(toErrorBody(error));
      res.writeHead(error.httpStatus, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(body),
        connection: 'close',
        'retry-after': String(DRAINING_RETRY_AFTER_S),
      });
      res.end(body);
      return false;
    }
    this.inFlight.add(res);
    res.once('close', () => {
      this.inFlight.delete(res);
      if (!this.draining) return;
      // Its connection may be back to idle (its response went out before the drain began).
      this.server?.closeIdleConnections();
      if (this.inFlight.size === 0) this.idle?.();
    });
    return true;
  }

  /**
   * Stops accepting connections on `server` (a new one is refused from here on) and drains it;
   * resolves once no request is in flight (the caller bounds the wait). Idempotent.
   */
  begin(server: Server): Promise<void> {
    if (!this.draining) {
      this.draining = true;
      this.server = server;
      server.close();
      server.closeIdleConnections();
      // Responses not yet started say Connection: close, so that their sockets end with them.
      for (const res of this.inFlight) if (!res.headersSent) res.setHeader('connection', 'close');
    }
    return this.inFlight.size === 0
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          const previous = this.idle;
          this.idle = () => {
            previous?.();
            resolve();
          };
        });
  }
}
