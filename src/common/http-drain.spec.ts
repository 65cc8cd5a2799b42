import { afterEach, describe, expect, it } from '@jest/globals';
import { createServer, Server } from 'node:http';
import net, { AddressInfo } from 'node:net';
import { HttpDrain } from './http-drain.js';

// The HTTP side of the graceful shutdown on a real node:http server: in-flight requests finish
// (their connection closed after the answer), new connections are refused, and a request that
// completes on a connection opened before the drain is answered 503 with Connection: close.
describe('HttpDrain', () => {
  let server: Server | undefined;
  afterEach(() => {
    server?.closeAllConnections();
    server?.close();
  });

  /** A server whose admitted requests are answered once `release` is called (at once: 0). */
  async function serve(
    drain: HttpDrain,
    hold: boolean,
  ): Promise<{ port: number; release: () => void; connections: () => number }> {
    let open!: () => void;
    const released = hold ? new Promise<void>((r) => (open = r)) : Promise.resolve();
    server = createServer((req, res) => {
      if (!drain.admit(req, res)) return;
      void released.then(() => res.end('done'));
    });
    let connections = 0;
    server.on('connection', () => connections++);
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    return {
      port: (server.address() as AddressInfo).port,
      release: () => open?.(),
      connections: () => connections,
    };
  }

  /** Waits (polling, up to 10 s) until `test` holds: no fixed sleep for a loaded machine. */
  async function until(test: () => boolean): Promise<void> {
    for (let i = 0; i < 1000 && !test(); i++) await new Promise((r) => setTimeout(r, 10));
  }

  /** Sends `head` now and `tail` when asked; resolves with everything the server wrote. */
  function rawClient(port: number, head: string) {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (text += c));
    const ended = new Promise<string>((resolve) => socket.once('close', () => resolve(text)));
    socket.once('error', () => undefined);
    socket.write(head);
    return { finish: (tail: string) => socket.write(tail), ended };
  }

  it('lets the request in flight finish (Connection: close), refuses new connections, answers a late request 503', async () => {
    const drain = new HttpDrain();
    const { port, release, connections } = await serve(drain, true);
    const inFlight = rawClient(port, 'GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
    // A request whose headers are not complete yet: its connection is not idle.
    const late = rawClient(port, 'GET /late HTTP/1.1\r\nHost: x\r\n');
    await until(() => drain.active === 1 && connections() === 2);
    expect(drain.active).toBe(1);

    const drained = drain.begin(server!);
    const refused = await new Promise<string>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => resolve('connected'));
      s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? ''));
    });
    expect(refused).toBe('ECONNREFUSED');

    late.finish('\r\n');
    const lateText = await late.ended;
    expect(lateText).toMatch(/^HTTP\/1\.1 503 /);
    expect(lateText).toMatch(/\r\nconnection: close\r\n/i);
    expect(lateText).toMatch(/\r\nretry-after: 1\r\n/i);
    expect(JSON.parse(lateText.slice(lateText.indexOf('\r\n\r\n') + 4))).toMatchObject({
      error: { code: 503, status: 'UNAVAILABLE' },
    });

    release();
    await drained;
    const text = await inFlight.ended;
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    expect(text).toMatch(/\r\nconnection: close\r\n/i);
    expect(text.endsWith('done')).toBe(true);
    expect(drain.active).toBe(0);
  });

  it('resolves at once with nothing in flight', async () => {
    const drain = new HttpDrain();
    await serve(drain, false);
    await expect(drain.begin(server!)).resolves.toBeUndefined();
  });
});
