import { Transform, type TransformCallback } from 'node:stream';

/** An export cut because its reader took no data for EXPORT_STALL_TIMEOUT_MS. */
export class ExportStalledError extends Error {
  constructor(ms: number) {
    super(`the client took no data for ${ms} ms`);
    this.name = 'ExportStalledError';
  }
}

/**
 * The last stage of an export before the HTTP response: passes the bytes through, counts them,
 * and destroys the pipeline (so the database connection is let go) when its reader has been
 * blocking it for `stallMs`: data is waiting and nobody has pulled since. A database slow to
 * produce rows is not a stall. `ready` settles once the first bytes are through, or the end,
 * or a failure before either: until then the answer's status is still open.
 */
export class ExportStream extends Transform {
  bytes = 0;
  readonly ready: Promise<void>;
  private blockedSince: number | null = null;
  private readonly timer: NodeJS.Timeout;
  private settle!: (e?: Error) => void;

  constructor(private readonly stallMs: number) {
    super();
    this.ready = new Promise<void>((resolve, reject) => {
      let done = false;
      this.settle = (e) => {
        if (done) return;
        done = true;
        if (e) reject(e);
        else resolve();
      };
    });
    this.ready.catch(() => undefined); // also observed by whoever awaits it
    this.timer = setInterval(() => this.checkStall(), Math.min(1000, stallMs / 4));
    this.timer.unref();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (!this.push(chunk)) this.blockedSince ??= Date.now();
    this.settle();
    cb();
  }

  override _flush(cb: TransformCallback): void {
    this.settle();
    cb();
  }

  override _read(size: number): void {
    this.blockedSince = null;
    super._read(size);
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    clearInterval(this.timer);
    this.settle(err ?? new Error('export closed before its first bytes'));
    cb(err);
  }

  private checkStall(): void {
    if (this.blockedSince !== null && Date.now() - this.blockedSince >= this.stallMs)
      this.destroy(new ExportStalledError(this.stallMs));
  }
}
