import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { AppConfig } from '../config/app-config.js';
import { ApiKeyEntity, Scope } from './api-key.entity.js';
import { mintApiKey } from './api-key.service.js';

/** The bootstrap key's name, and the prefix of its `created_by` (`bootstrap@<host>`). */
export const BOOTSTRAP_KEY_NAME = 'bootstrap-admin';
const BOOTSTRAP_BY = 'bootstrap@';

/** Keys of the advisory lock that makes the bootstrap key once per database ('cg', 'boot'). */
const LOCK_KEYS = [0x6367, 0x626f6f74] as const;

/** What the service knows of its admin access at boot (for the boot summary). */
export type AdminKeyStatus =
  /** ADMIN_API_KEY is configured. */
  | { kind: 'env' }
  /** The bootstrap key was created at this boot; its secret is in `file`. */
  | { kind: 'created'; keyId: string; file: string }
  /**
   * The bootstrap key (created earlier, by `host`) is the only active admin key. `file`: whether
   * its file holds its secret (ok), is gone (missing), or holds another secret (mismatch).
   */
  | {
      kind: 'bootstrap';
      keyId: string;
      file: string;
      host: string;
      fileState: 'ok' | 'missing' | 'mismatch';
    }
  /** Another active admin key exists (minted through the API or the keys CLI). */
  | { kind: 'admin-keys'; count: number }
  /**
   * No active admin key and none is created: every admin key ever made was revoked, or there is
   * no place for the file (DATA_DIR=memory:// without BOOTSTRAP_KEY_FILE).
   */
  | { kind: 'none'; reason: 'revoked' | 'no-file' };

/** Where the bootstrap key's secret goes: BOOTSTRAP_KEY_FILE, else in DATA_DIR (unless in memory). */
export function bootstrapKeyFile(config: AppConfig): string | undefined {
  if (config.BOOTSTRAP_KEY_FILE) return resolve(config.BOOTSTRAP_KEY_FILE);
  if (config.DATA_DIR === 'memory://') return undefined;
  return resolve(join(config.DATA_DIR, 'bootstrap-admin-key'));
}

const sha256 = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');

/**
 * The first-run admin key (the pattern of Jenkins' initialAdminPassword): with no ADMIN_API_KEY
 * and no admin-scope key in the database (active or revoked), the first boot mints one admin key,
 * stores only its hash, and writes its secret once to a file (mode 0600, written atomically). Two
 * instances booting at once on one database serialise on an advisory lock: one creates, the other
 * sees the key. It is never made again: a revoked bootstrap key, or a deleted file, is reported
 * (with what to do), not replaced.
 */
@Injectable()
export class BootstrapAdminKey {
  /** What ensure() found (for the boot summary). */
  status?: AdminKeyStatus;

  constructor(
    private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  async ensure(): Promise<AdminKeyStatus> {
    this.status = await this.check();
    return this.status;
  }

  private async check(): Promise<AdminKeyStatus> {
    if (this.config.ADMIN_API_KEY) return { kind: 'env' };
    const file = bootstrapKeyFile(this.config);
    let written: string | undefined;
    try {
      return await this.dataSource.transaction(async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock($1::int4, $2::int4)', [...LOCK_KEYS]);
        const rows: {
          id: string;
          created_by: string;
          secret_hash: string;
          active: boolean;
        }[] = await tx.query(
          `SELECT id, created_by, secret_hash, revoked_at IS NULL AS active
             FROM api_keys WHERE $1 = ANY(scopes) ORDER BY created_at, id`,
          [Scope.ADMIN],
        );
        const active = rows.filter((r) => r.active);
        const others = active.filter((r) => !r.created_by.startsWith(BOOTSTRAP_BY));
        if (others.length > 0) return { kind: 'admin-keys', count: others.length };
        const bootstrap = active[0];
        if (bootstrap) {
          const path = file ?? '(no file: DATA_DIR is memory://)';
          return {
            kind: 'bootstrap',
            keyId: bootstrap.id,
            file: path,
            host: bootstrap.created_by.slice(BOOTSTRAP_BY.length),
            fileState: file ? fileState(file, bootstrap.secret_hash) : 'missing',
          };
        }
        if (rows.length > 0) return { kind: 'none', reason: 'revoked' };
        if (!file) return { kind: 'none', reason: 'no-file' };
        const repo = tx.getRepository(ApiKeyEntity);
        const { entity, secret } = mintApiKey(
          repo,
          BOOTSTRAP_KEY_NAME,
          [Scope.ADMIN],
          `${BOOTSTRAP_BY}${hostname()}`.slice(0, 128),
        );
        await repo.insert(entity);
        // Written before the commit: a crash in between leaves a file whose key does not exist,
        // and the next boot (still no admin key) overwrites it with a new one.
        writeSecretFile(file, secret);
        written = file;
        return { kind: 'created', keyId: entity.id, file };
      });
    } catch (e) {
      if (written) unlinkQuietly(written);
      throw e;
    }
  }
}

function fileState(file: string, secretHash: string): 'ok' | 'missing' | 'mismatch' {
  let content: string;
  try {
    content = readFileSync(file, 'utf8');
  } catch {
    return 'missing';
  }
  return sha256(content.trim()) === secretHash ? 'ok' : 'mismatch';
}

/** Writes `secret` to `file` with mode 0600: a temporary file in the same folder, then a rename. */
export function writeSecretFile(file: string, secret: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(temporary, 'wx', 0o600);
  try {
    writeSync(fd, `${secret}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    chmodSync(temporary, 0o600); // whatever the umask
    renameSync(temporary, file);
  } catch (e) {
    unlinkQuietly(temporary);
    throw e;
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // gone already
  }
}
