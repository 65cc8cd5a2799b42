import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { ConfigError, configKeys, loadConfig } from './app-config.js';

describe('loadConfig', () => {
  it('applies documented defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      PORT: 3000,
      DATA_DIR: './data',
      DATABASE_POOL_SIZE: 10,
      DEFAULT_MODE: 'PRIMARY',
      MIGRATIONS_RUN: true,
      SWAGGER_ENABLED: true,
    });
    expect(c.DATABASE_URL).toBeUndefined();
  });

  it('coerces numbers and booleans', () => {
    const c = loadConfig({ PORT: '8080', MIGRATIONS_RUN: 'false', DEFAULT_MODE: 'SECONDARY' });
    expect([c.PORT, c.MIGRATIONS_RUN, c.DEFAULT_MODE]).toEqual([8080, false, 'SECONDARY']);
  });

  it('names every bad variable and never echoes secrets', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'eighty', DEFAULT_MODE: 'TERTIARY', ADMIN_API_KEY: 'short-secret' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain('PORT');
    expect(message).toContain('DEFAULT_MODE');
    expect(message).toContain('ADMIN_API_KEY');
    expect(message).not.toContain('short-secret');
  });
});

describe('configKeys', () => {
  it('takes an Ed25519 AUDIT_SIGNING_KEY as PEM or base64 DER, and refuses any other key', () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const der = privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64');
    expect(loadConfig({ AUDIT_SIGNING_KEY: pem }).AUDIT_SIGNING_KEY).toBe(pem);
    expect(loadConfig({ AUDIT_SIGNING_KEY: der }).AUDIT_SIGNING_KEY).toBe(der);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 })
      .privateKey.export({ format: 'pem', type: 'pkcs8' })
      .toString();
    expect(() => loadConfig({ AUDIT_SIGNING_KEY: rsa })).toThrow(/AUDIT_SIGNING_KEY: an rsa key/);
    expect(() => loadConfig({ AUDIT_SIGNING_KEY: 'not a key' })).toThrow(
      /AUDIT_SIGNING_KEY: not a PKCS#8 private key/,
    );
  });

  it('names every variable loadConfig reads, and each is documented in the README table', () => {
    const keys = configKeys();
    expect(keys).toEqual(expect.arrayContaining(['PORT', 'DATABASE_URL', 'ADMIN_API_KEY']));
    expect(new Set(keys).size).toBe(keys.length);
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    // A row of the configuration table names it in its first cell (alone or with its siblings).
    const firstCells = readme
      .split('\n')
      .filter((line) => line.startsWith('| `'))
      .map((line) => line.split(' | ')[0]!);
    const undocumented = keys.filter((k) => !firstCells.some((c) => c.includes(`\`${k}\``)));
    expect(undocumented).toEqual([]);
  });
});
