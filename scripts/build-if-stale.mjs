#!/usr/bin/env node
// `npm start`'s prestart (and the CLIs'): builds dist/ only when it is missing or older than what
// it is built from, so that a second `npm start` does not spend half a minute compiling.
//
//   node scripts/build-if-stale.mjs          build when stale, else say it is up to date
//   node scripts/build-if-stale.mjs --check  only report: exit 0 fresh, 1 stale (nothing built)
//   --quiet                                  say nothing when fresh
//
// Inputs: every file and folder under src/ (a folder's time changes when a file in it is added,
// removed or renamed) except unit tests (*.spec.ts, not built), and ormconfig.ts, package.json,
// package-lock.json, tsconfig.json, tsconfig.build.json, nest-cli.json. Output: every .js file
// under dist/ (the build empties dist/ first, so its oldest file is when the build wrote it).
// dist/ is stale when it has no dist/src/main.js, or when any input is newer than its oldest .js.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';

export const INPUT_FILES = [
  'ormconfig.ts',
  'package.json',
  'package-lock.json',
  'tsconfig.json',
  'tsconfig.build.json',
  'nest-cli.json',
];

function mtime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch (e) {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Calls `visit(path, stat)` for every entry under `dir` (and `dir` itself). */
function walk(dir, visit) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    if (e.code === 'ENOENT') return;
    throw e;
  }
  visit(dir, statSync(dir));
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path, visit);
    else if (entry.isFile()) visit(path, statSync(path));
  }
}

/** Whether dist/ under `root` must be rebuilt: `{ stale, reason }`. */
export function staleness(root) {
  if (mtime(join(root, 'dist', 'src', 'main.js')) === undefined)
    return { stale: true, reason: 'dist/src/main.js is missing' };
  let built = Infinity;
  walk(join(root, 'dist'), (path, stat) => {
    if (path.endsWith('.js') && stat.isFile()) built = Math.min(built, stat.mtimeMs);
  });
  let newest = { time: -Infinity, path: '' };
  const consider = (path, time) => {
    if (time !== undefined && time > newest.time) newest = { time, path };
  };
  walk(join(root, 'src'), (path, stat) => {
    if (!path.endsWith('.spec.ts')) consider(path, stat.mtimeMs);
  });
  for (const file of INPUT_FILES) consider(join(root, file), mtime(join(root, file)));
  if (newest.time > built)
    return { stale: true, reason: `${relative(root, newest.path)} is newer than dist/` };
  return { stale: false, reason: 'dist/ is up to date with src/' };
}

function main() {
  const args = new Set(process.argv.slice(2));
  const root = process.cwd();
  const { stale, reason } = staleness(root);
  if (args.has('--check')) {
    process.stdout.write(`${stale ? 'stale' : 'fresh'}: ${reason}\n`);
    process.exit(stale ? 1 : 0);
  }
  if (!stale) {
    if (!args.has('--quiet')) process.stderr.write(`${reason}: not rebuilding\n`);
    return;
  }
  process.stderr.write(`${reason}: building (npm run build)...\n`);
  const result = spawnSync('npm', ['run', 'build', '--silent'], {
    cwd: root,
    stdio: 'inherit',
    shell: process.platform === 'win32',
  });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main();
