import { afterAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

// scripts/build-if-stale.mjs (npm start's prestart) on a small tree of its own: `--check` says
// whether dist/ would be rebuilt, without building.
const SCRIPT = resolve('scripts/build-if-stale.mjs');
const root = mkdtempSync(join(tmpdir(), 'consent-gate-stale-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const T0 = Date.now() / 1000 - 3600;
/** Writes `path` (relative to the tree) and sets its time (and its folder's) to T0 + `at` s. */
function put(path: string, at: number, content = 'x'): void {
  const full = join(root, path);
  mkdirSync(dirname(full), { recursive: true });
  writeFileSync(full, content);
  utimesSync(full, T0 + at, T0 + at);
}
function touch(path: string, at: number): void {
  utimesSync(join(root, path), T0 + at, T0 + at);
}
function check(): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [SCRIPT, '--check'], { cwd: root, encoding: 'utf8' });
  return { code: r.status, out: r.stdout.trim() };
}
/** Sets every folder's time to `at` (folders change when their entries do). */
function foldersAt(at: number): void {
  for (const d of ['src', 'src/auth', 'dist', 'dist/src', 'dist/src/auth'])
    utimesSync(join(root, d), T0 + at, T0 + at);
}

describe('build-if-stale', () => {
  it('is stale with no dist/, fresh once dist/ is newer than every input, stale again after a change', () => {
    for (const f of [
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'tsconfig.build.json',
      'nest-cli.json',
      'ormconfig.ts',
    ])
      put(f, 0);
    put('src/main.ts', 0);
    put('src/auth/key.ts', 0);
    expect(check()).toEqual({ code: 1, out: 'stale: dist/src/main.js is missing' });

    put('dist/src/main.js', 10);
    put('dist/src/auth/key.js', 11);
    put('dist/ormconfig.js', 12);
    foldersAt(5);
    expect(check()).toEqual({ code: 0, out: 'fresh: dist/ is up to date with src/' });

    // A source edited after the build.
    touch('src/auth/key.ts', 20);
    expect(check()).toEqual({ code: 1, out: 'stale: src/auth/key.ts is newer than dist/' });
    touch('src/auth/key.ts', 0);
    expect(check().code).toBe(0);

    // Newer than some outputs but not the oldest: the build that wrote the oldest may have missed it.
    touch('src/main.ts', 10.5);
    expect(check()).toEqual({ code: 1, out: 'stale: src/main.ts is newer than dist/' });
    touch('src/main.ts', 0);

    // The build configuration and dependencies count too.
    touch('package.json', 30);
    expect(check()).toEqual({ code: 1, out: 'stale: package.json is newer than dist/' });
    touch('package.json', 0);
    touch('tsconfig.build.json', 30);
    expect(check().out).toBe('stale: tsconfig.build.json is newer than dist/');
    touch('tsconfig.build.json', 0);
    expect(check().code).toBe(0);

    // Unit tests are not built: editing one does not rebuild.
    put('src/auth/key.spec.ts', 40);
    foldersAt(5);
    expect(check().code).toBe(0);

    // A file removed (or added) changes its folder's time.
    unlinkSync(join(root, 'src/auth/key.spec.ts'));
    expect(check()).toEqual({ code: 1, out: 'stale: src/auth is newer than dist/' });
    foldersAt(5);
    expect(check().code).toBe(0);

    // dist/ deleted: stale.
    rmSync(join(root, 'dist'), { recursive: true });
    expect(check().code).toBe(1);
  });
});
