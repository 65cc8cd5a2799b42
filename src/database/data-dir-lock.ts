import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** The lock file in DATA_DIR: `{"pid","host","started_at"}` of the process using the directory. */
export const LOCK_FILE = 'consent-gate.lock';

/** DATA_DIR is held by another live process: this one must not open the database. */
export class DataDirLockedError extends Error {
  constructor(
    readonly dir: string,
    readonly pid: number,
    readonly host: string,
  ) {
    super(
      `DATA_DIR ${dir} is in use by another Consent Gate process (pid ${pid} on ${host}): refusing to start. ` +
        `Stop that process or give this one its own DATA_DIR; two processes on one embedded database lose acknowledged writes. ` +
        `If no such process exists, delete ${join(dir, LOCK_FILE)}.`,
    );
    this.name = 'DataDirLockedError';
  }
}

interface Holder {
  pid: number;
  host: string;
}

/** Whether a process with this pid exists (EPERM: it exists, owned by another user). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * An exclusive lock on the embedded database's directory, held for the life of the process.
 *
 * The lock file is created atomically: written under a unique temporary name, then hard-linked to
 * LOCK_FILE, which fails when the file exists (so no reader ever sees a half-written file, and of
 * two processes racing only one links). A lock whose pid is not alive on this host is stale (its
 * process died without releasing it) and is taken over: one process at a time removes it, under a
 * second exclusive file (`.takeover`), and only if it still is the stale lock it judged; then
 * every contender races for the link again. A lock written on another host is never judged stale.
 */
export class DataDirLock {
  private released = false;

  private constructor(
    readonly path: string,
    private readonly content: string,
  ) {}

  /**
   * Takes the lock on `dir` or throws DataDirLockedError naming the holder. `onStale` hears of a
   * dead holder's lock being taken over.
   */
  static acquire(
    dir: string,
    onStale: (pid: number | null) => void = () => undefined,
  ): DataDirLock {
    const path = join(dir, LOCK_FILE);
    const content = JSON.stringify({
      pid: process.pid,
      host: hostname(),
      started_at: new Date().toISOString(),
    });
    for (let attempt = 0; attempt < 50; attempt++) {
      if (createExclusive(path, content)) return new DataDirLock(path, content);
      const held = readLock(path);
      if (held === null) continue; // released meanwhile
      const holder = parseHolder(held);
      if (holder && (holder.host !== hostname() || isProcessAlive(holder.pid)))
        throw new DataDirLockedError(dir, holder.pid, holder.host);
      // Stale (or unreadable): take it over, one process at a time.
      const takeover = `${path}.takeover`;
      if (!createExclusive(takeover, content)) {
        const other = readLock(takeover);
        const taker = other === null ? null : parseHolder(other);
        // A takeover whose process died half-way is removed; a live one is waited for.
        if (other !== null && (!taker || !isProcessAlive(taker.pid))) {
          if (readLock(takeover) === other) unlinkQuietly(takeover);
        } else sleepSync(20);
        continue;
      }
      try {
        if (readLock(path) === held) {
          unlinkQuietly(path);
          onStale(holder?.pid ?? null);
        }
      } finally {
        unlinkQuietly(takeover);
      }
    }
    throw new Error(`could not lock DATA_DIR ${dir}: its lock file kept changing`);
  }

  /** Removes the lock file (if it still is this process's). Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (readLock(this.path) === this.content) unlinkQuietly(this.path);
  }
}

/** Creates `path` with `content` unless it exists: false when it does. */
function createExclusive(path: string, content: string): boolean {
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(temporary, content, { flag: 'wx' });
  try {
    linkSync(temporary, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    unlinkQuietly(temporary);
  }
}

function readLock(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

function parseHolder(content: string): Holder | null {
  try {
    const v = JSON.parse(content) as Partial<Holder>;
    return Number.isSafeInteger(v.pid) && (v.pid as number) > 0 && typeof v.host === 'string'
      ? { pid: v.pid as number, host: v.host }
      : null;
  } catch {
    return null;
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
