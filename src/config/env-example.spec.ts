import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppConfig, configKeys, loadConfig, loadDotEnv } from './app-config.js';

// .env.example lists every variable the service reads, each once, with its default: checked
// against the validated configuration so that the two cannot drift apart.
const text = readFileSync('.env.example', 'utf8');
const assignments = [...text.matchAll(/^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$/gm)].map((m) => ({
  key: m[2]!,
  value: m[3]!,
}));

describe('.env.example', () => {
  it('names every configuration variable exactly once, and nothing else', () => {
    const keys = assignments.map((a) => a.key);
    expect([...keys].sort()).toEqual([...configKeys()].sort());
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('gives each variable its default (empty for those that have none), with a comment above', () => {
    const defaults = new AppConfig() as unknown as Record<string, unknown>;
    for (const { key, value } of assignments) {
      const expected = defaults[key];
      expect({ key, value }).toEqual({
        key,
        value: expected === undefined ? '' : String(expected),
      });
    }
    const lines = text.split('\n');
    for (const { key } of assignments) {
      const at = lines.findIndex((l) => new RegExp(`^(#\\s*)?${key}=`).test(l));
      expect({ key, above: lines[at - 1]?.startsWith('# ') }).toEqual({ key, above: true });
    }
  });

  it('read as an environment (every line uncommented), is exactly the default configuration', () => {
    const env: Record<string, string> = {};
    for (const { key, value } of assignments) env[key] = value;
    expect({ ...loadConfig(env) }).toEqual({ ...loadConfig({}) });
  });
});

describe('loadDotEnv', () => {
  it('reads a .env into the environment when there is one; the environment wins', () => {
    const dir = mkdtempSync(join(tmpdir(), 'consent-gate-dotenv-'));
    try {
      expect(loadDotEnv(join(dir, '.env'), {})).toBe(false);
      writeFileSync(join(dir, '.env'), 'CG_DOTENV_TEST_A=from-file\nCG_DOTENV_TEST_B=from-file\n');
      const env: NodeJS.ProcessEnv = { CG_DOTENV_TEST_B: 'from-env' };
      expect(loadDotEnv(join(dir, '.env'), env)).toBe(true);
      expect(env).toEqual({ CG_DOTENV_TEST_A: 'from-file', CG_DOTENV_TEST_B: 'from-env' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
