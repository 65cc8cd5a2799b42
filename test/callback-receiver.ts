// A callback receiver on 127.0.0.1 for the e2e tests: records raw bodies and headers, and can
// misbehave (fail with a status and headers, per path or per matching body, or hold requests).
import { randomBytes } from 'node:crypto';
import { createServer, IncomingHttpHeaders, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  /** The raw body, exactly as received. */
  body: string;
  /** The status the receiver answered (0 while it holds the request). */
  answered: number;
}

interface FailurePlan {
  /** Which requests on the path it applies to; all when absent. */
  match?: (body: string) => boolean;
  remaining: number;
  status: number;
  headers: Record<string, string>;
}

export class Receiver {
  readonly received: Received[] = [];
  private readonly failures = new Map<string, FailurePlan[]>();
  private readonly hanging = new Set<string>();
  private readonly held: ServerResponse[] = [];
  private server?: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const path = req.url ?? '/';
        const rec: Received = {
          path,
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          answered: 0,
        };
        this.received.push(rec);
        if (this.hanging.has(path)) {
          this.held.push(res);
          return;
        }
        const plan = (this.failures.get(path) ?? []).find(
          (p) => p.remaining > 0 && (!p.match || p.match(rec.body)),
        );
        if (plan) {
          plan.remaining--;
          rec.answered = plan.status;
          res.writeHead(plan.status, { 'content-type': 'application/json', ...plan.headers });
          res.end('{"error":"nope"}');
          return;
        }
        rec.answered = 200;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** A fresh path on this receiver (one per subscription keeps tests apart). */
  path(): string {
    return `/hooks/${randomBytes(5).toString('hex')}`;
  }

  /** The next `times` requests to `path` are answered `status` (with `headers`). */
  failNext(
    path: string,
    times: number,
    status: number,
    headers: Record<string, string> = {},
  ): void {
    this.failures.set(path, [{ remaining: times, status, headers }]);
  }

  /** The next `times` requests to `path` whose body `match`es are answered `status`. */
  failWhen(
    path: string,
    match: (body: string) => boolean,
    times: number,
    status: number,
    headers: Record<string, string> = {},
  ): void {
    const plans = this.failures.get(path) ?? [];
    plans.push({ match, remaining: times, status, headers });
    this.failures.set(path, plans);
  }

  hang(path: string): void {
    this.hanging.add(path);
  }

  at(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }

  async stop(): Promise<void> {
    for (const res of this.held) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}
