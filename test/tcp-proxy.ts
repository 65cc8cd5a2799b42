import net from 'node:net';

/**
 * The ErrorResponse a PostgreSQL backend sends when pg_terminate_backend ends it (SQLSTATE 57P01),
 * right before it closes the connection.
 */
const TERMINATED = errorResponse([
  ['S', 'FATAL'],
  ['V', 'FATAL'],
  ['C', '57P01'],
  ['M', 'terminating connection due to administrator command'],
]);

function errorResponse(fields: [string, string][]): Buffer {
  const body = Buffer.concat([
    ...fields.map(([code, value]) => Buffer.from(`${code}${value}\0`)),
    Buffer.from([0]),
  ]);
  const header = Buffer.alloc(5);
  header.write('E', 0);
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

/** One proxied connection, with the framing of the server's messages to know their boundaries. */
class Link {
  /** Bytes still to come of the current server message; header bytes seen of the next one. */
  private bodyLeft = 0;
  private header = Buffer.alloc(0);
  terminating = false;

  constructor(
    readonly client: net.Socket,
    readonly upstream: net.Socket,
  ) {
    upstream.on('data', (chunk: Buffer) => this.fromServer(chunk));
    client.on('data', (chunk: Buffer) => {
      if (!this.terminating) upstream.write(chunk);
    });
  }

  /** Ends the connection as pg_terminate_backend would, at the next server message boundary. */
  terminate(): void {
    this.terminating = true;
    if (this.atBoundary()) this.sendTerminated();
  }

  private atBoundary(): boolean {
    return this.bodyLeft === 0 && this.header.length === 0;
  }

  private sendTerminated(): void {
    this.upstream.destroy();
    this.client.end(TERMINATED);
  }

  private fromServer(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.terminating && this.atBoundary()) {
        this.client.write(chunk.subarray(0, offset));
        this.sendTerminated();
        return;
      }
      if (this.bodyLeft > 0) {
        const n = Math.min(this.bodyLeft, chunk.length - offset);
        this.bodyLeft -= n;
        offset += n;
        continue;
      }
      const n = Math.min(5 - this.header.length, chunk.length - offset);
      this.header = Buffer.concat([this.header, chunk.subarray(offset, offset + n)]);
      offset += n;
      if (this.header.length === 5) {
        this.bodyLeft = this.header.readInt32BE(1) - 4;
        this.header = Buffer.alloc(0);
      }
    }
    this.client.write(chunk);
    if (this.terminating && this.atBoundary()) this.sendTerminated();
  }
}

/**
 * A loopback TCP proxy in front of the test database, to simulate an outage: cut() drops every
 * connection and refuses new ones; restore() accepts again; terminate() ends every open
 * connection as pg_terminate_backend does (works the same on the embedded database).
 */
export class TcpProxy {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly links = new Set<Link>();
  private up = true;
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(): Promise<number> {
    this.server = net.createServer((client) => {
      if (!this.up) {
        client.destroy();
        return;
      }
      const upstream = net.connect(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      const link = new Link(client, upstream);
      this.links.add(link);
      client.on('close', () => {
        this.links.delete(link);
        upstream.destroy();
      });
      // A terminated link closes its client itself, once the ErrorResponse is written.
      upstream.on('close', () => {
        if (!link.terminating) client.destroy();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server!.address() as net.AddressInfo).port;
    return this.port;
  }

  cut(): void {
    this.up = false;
    for (const s of this.sockets) s.destroy();
  }

  restore(): void {
    this.up = true;
  }

  /** Terminates every open connection (new ones are accepted as before). */
  terminate(): void {
    for (const link of this.links) link.terminate();
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}
