import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import type { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { DataDirLock } from './data-dir-lock.js';
import { installProtocolSafeQueue } from './pglite-protocol-queue.js';

/**
 * The embedded default: PostgreSQL compiled to WebAssembly (PGlite), served on a loopback port by
 * pglite-socket so that the ordinary `pg` driver and TypeORM talk to it exactly as to a server.
 * pglite-socket serialises statements and keeps transaction affinity, so transactions stay isolated.
 *
 * A data directory is opened by one process only: start() takes an exclusive lock on it first
 * (DataDirLock; a second process fails with DataDirLockedError naming the holder's pid), released
 * by stop() and, should the process end without a clean shutdown, on its exit.
 */
@Injectable()
export class EmbeddedPostgres implements OnApplicationShutdown {
  private readonly logger = new Logger('EmbeddedPostgres');
  private db?: PGlite;
  private server?: PGLiteSocketServer;
  private url?: string;
  private lock?: DataDirLock;
  private readonly releaseOnExit = () => this.lock?.release();

  /** dataDir: a folder (created if missing) or 'memory://' for a throw-away database. */
  async start(dataDir: string, maxConnections: number): Promise<string> {
    if (this.url) return this.url;
    const { PGlite } = await import('@electric-sql/pglite');
    const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
    const inMemory = dataDir === 'memory://';
    const dir = inMemory ? undefined : resolve(dataDir);
    if (dir) {
      mkdirSync(dir, { recursive: true });
      this.lock = DataDirLock.acquire(dir, (pid) =>
        this.logger.warn(`took over the stale lock of pid ${pid ?? '(unreadable)'} on ${dir}`),
      );
      process.once('exit', this.releaseOnExit);
    }
    const started = Date.now();
    try {
      this.db = await PGlite.create(dir ? { dataDir: dir } : {});
    } catch (e) {
      this.releaseLock();
      throw e;
    }
    this.server = new PGLiteSocketServer({
      db: this.db,
      host: '127.0.0.1',
      port: 0,
      maxConnections,
    });
    installProtocolSafeQueue(this.server);
    await this.server.start();
    this.url = `postgres://postgres@${this.server.getServerConn()}/postgres`;
    // At debug: the boot summary names the database.
    this.logger.debug(
      `embedded PostgreSQL (PGlite) ready in ${Date.now() - started} ms, data in ${dir ?? 'memory'}`,
    );
    return this.url;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.stop();
  }

  async stop(): Promise<void> {
    const { server, db } = this;
    this.server = undefined;
    this.db = undefined;
    this.url = undefined;
    if (server) await server.stop();
    if (db && !db.closed) await db.close();
    this.releaseLock();
  }

  private releaseLock(): void {
    this.lock?.release();
    this.lock = undefined;
    process.removeListener('exit', this.releaseOnExit);
  }
}
