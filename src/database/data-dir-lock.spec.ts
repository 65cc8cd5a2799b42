import { afterEach, describe, expect, it } from '@jest/globals';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DataDirLock, DataDirLockedError, isProcessAlive, LOCK_FILE } from './data-dir-lock.js';

const dirs: string[] = [];
function newDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'consent-gate-lock-unit-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** The pid of a process that existed and has exited. */
function deadPid(): number {
  const pid = spawnSync(process.execPath, ['-e', '']).pid;
  expect(isProcessAlive(pid)).toBe(false);
  return pid;
}

function writeLock(dir: string, content: object | string): void {
  writeFileSync(
    join(dir, LOCK_FILE),
    typeof content === 'string' ? content : JSON.stringify(content),
  );
}

describe('DataDirLock', () => {
  it('is exclusive: a second acquire fails naming the holder, until released', () => {
    const dir = newDir();
    const lock = DataDirLock.acquire(dir);
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'))).toMatchObject({
      pid: process.pid,
      host: hostname(),
    });
    let error: unknown;
    try {
      DataDirLock.acquire(dir);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DataDirLockedError);
    expect((error as Error).message).toContain(`${dir} is in use`);
    expect((error as Error).message).toContain(`pid ${process.pid}`);
    lock.release();
    lock.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    DataDirLock.acquire(dir).release();
  });

  it('takes over the lock of a dead process, or an unreadable one', () => {
    for (const stale of [
      { pid: deadPid(), host: hostname(), started_at: '2026-01-01T00:00:00Z' },
      '{"pid":',
      '',
    ]) {
      const dir = newDir();
      writeLock(dir, stale);
      const seen: (number | null)[] = [];
      const lock = DataDirLock.acquire(dir, (pid) => seen.push(pid));
      expect(seen).toEqual([typeof stale === 'object' ? stale.pid : null]);
      expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
      lock.release();
    }
  });

  it('never judges a lock written on another host stale', () => {
    const dir = newDir();
    writeLock(dir, { pid: deadPid(), host: `not-${hostname()}` });
    expect(() => DataDirLock.acquire(dir)).toThrow(DataDirLockedError);
  });

  it('release leaves a lock that is no longer its own', () => {
    const dir = newDir();
    const lock = DataDirLock.acquire(dir);
    writeLock(dir, { pid: 1, host: hostname() });
    lock.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(true);
  });

  it('of several processes racing for a stale lock, exactly one wins', async () => {
    const dir = newDir();
    writeLock(dir, { pid: deadPid(), host: hostname() });
    // The built module (global setup builds the dist first).
    const module = resolve('dist/src/database/data-dir-lock.js');
    // A winner holds the lock (stays alive) until killed below, whatever the machine's speed.
    const script = `
      const { DataDirLock } = await import(${JSON.stringify(module)});
      try {
        DataDirLock.acquire(${JSON.stringify(dir)});
        process.stdout.write('won\\n');
        setInterval(() => undefined, 1000);
      } catch (e) {
        process.stdout.write(e.name + '\\n');
      }`;
    const children = Array.from({ length: 6 }, () => {
      const proc = spawn(process.execPath, ['--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const child = { proc, out: '' };
      proc.stdout.on('data', (d: Buffer) => (child.out += d.toString()));
      return child;
    });
    try {
      const deadline = Date.now() + 30_000;
      while (children.some((c) => !c.out.includes('\n')) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      const results = children.map((c) => c.out.trim());
      expect(results.filter((r) => r === 'won')).toHaveLength(1);
      expect(results.filter((r) => r === 'DataDirLockedError')).toHaveLength(5);
    } finally {
      for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
    }
  }, 60_000);
});
