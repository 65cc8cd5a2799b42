import { createServer, IncomingMessage, Server, ServerOptions, ServerResponse } from 'node:http';
import { HttpDrain } from './http-drain.js';

/**
 * Answers a request before Fastify sees it, or declines (returns false) without having read
 * anything from it, so that Fastify and Nest handle it as usual.
 */
export type HotPath = (req: IncomingMessage, res: ServerResponse) => boolean;

/** The Fastify options that shape the node:http server (fastify's own defaults are applied). */
export interface HttpServerOptions {
  http?: ServerOptions | null;
  keepAliveTimeout?: number;
  requestTimeout?: number;
  connectionTimeout?: number;
  maxRequestsPerSocket?: number;
}

/**
 * The HTTP server's request listener, in front of Fastify: the drain counts the request in flight
 * (or refuses it while the service shuts down, see HttpDrain), then each hot path may take it
 * (see CheckFastPath); everything else goes to Fastify. Created before the application (Fastify's
 * `serverFactory`), filled by providers once Nest has built them.
 */
export class HotPaths {
  private readonly paths: HotPath[] = [];
  /** Every request passes it first: counted in flight, or refused while shutting down. */
  readonly drain = new HttpDrain();

  add(path: HotPath): void {
    this.paths.push(path);
  }

  /** A Fastify `serverFactory`: the server Fastify would build, with the hot paths in front. */
  readonly serverFactory = (
    fastifyHandler: (req: IncomingMessage, res: ServerResponse) => void,
    options: HttpServerOptions,
  ): Server => {
    const server = createServer(options.http ?? {}, (req, res) => {
      if (!this.drain.admit(req, res)) return;
      for (const path of this.paths) if (path(req, res)) return;
      fastifyHandler(req, res);
    });
    // What Fastify sets on the server it creates itself (lib/server.js).
    if (options.keepAliveTimeout !== undefined) server.keepAliveTimeout = options.keepAliveTimeout;
    if (options.requestTimeout !== undefined) server.requestTimeout = options.requestTimeout;
    if (options.connectionTimeout !== undefined) server.setTimeout(options.connectionTimeout);
    if (options.maxRequestsPerSocket && options.maxRequestsPerSocket > 0)
      server.maxRequestsPerSocket = options.maxRequestsPerSocket;
    return server;
  };
}
