import { afterAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { LOCK_FILE, isProcessAlive } from '../src/database/data-dir-lock.js';
import { ServiceProcess, spawnService } from './utils.js';

// The embedded default only (DATABASE_URL unset in the children, whatever this run's database):
// two processes on one DATA_DIR would each acknowledge writes the other never sees.
const embedded = (dir: string) =>
  spawnService({ DATABASE_URL: undefined, DATA_DIR: dir, LOG_LEVEL: 'log' });

describe('the embedded database locks DATA_DIR', () => {
  const dirs: string[] = [];
  const children: ServiceProcess[] = [];
  const newDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'consent-gate-lock-'));
    dirs.push(dir);
    return dir;
  };
  const start = async (dir: string) => {
    const child = await embedded(dir);
    children.push(child);
    return child;
  };

  afterAll(async () => {
    await Promise.all(children.map((c) => c.stop(5_000)));
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('a second process on the same DATA_DIR refuses to start, naming the directory and the holder', async () => {
    const dir = newDir();
    const first = await start(dir);
    await first.waitFor('Consent Gate listening');
    const lock = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'));
    expect(lock).toMatchObject({ pid: first.proc.pid, host: hostname() });

    const second = await start(dir);
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      second.exited,
      new Promise<'running'>((r) => (timer = setTimeout(() => r('running'), 90_000))),
    ]);
    clearTimeout(timer);
    expect(code).not.toBe('running');
    expect(code).not.toBe(0);
    // One JSON line through the logger names the directory and the holder's pid.
    const refusal = second
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => String(l.msg).includes('refusing to start'));
    expect(refusal).toMatchObject({
      level: 'error',
      data_dir: resolve(dir),
      holder_pid: first.proc.pid,
    });
    expect(refusal!.msg).toContain(resolve(dir));
    expect(refusal!.msg).toContain(`pid ${first.proc.pid}`);
    expect(second.output()).not.toContain('Consent Gate listening');

    // The first goes on serving, and releases the lock on a clean shutdown.
    expect((await fetch(`${first.baseUrl}/health`)).status).toBe(200);
    await first.stop();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  }, 200_000);

  it('takes over the stale lock of a process that died, and holds it for itself', async () => {
    const dir = newDir();
    // A pid that existed and is gone: a child that has exited.
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    expect(isProcessAlive(dead)).toBe(false);
    writeFileSync(
      join(dir, LOCK_FILE),
      JSON.stringify({ pid: dead, host: hostname(), started_at: '2026-01-01T00:00:00.000Z' }),
    );

    const child = await start(dir);
    await child.waitFor('Consent Gate listening');
    expect(child.output()).toContain(`stale lock of pid ${dead}`);
    const lock = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'));
    expect(lock.pid).toBe(child.proc.pid);
    await child.stop();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  }, 200_000);
});
