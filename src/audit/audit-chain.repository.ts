import { Inject, Injectable } from '@nestjs/common';
import { escapeLiteral, type Pool } from 'pg';
import type { Readable } from 'node:stream';
import { copyOut } from '../database/copy-out.js';
import { PG_POOL } from '../database/database.module.js';
import type { AppRef } from '../kernel/app-ref.js';

/** service_secrets.name of the identity key's pads (migration 1764800000000). */
export const IDENTITY_KEY_SECRET = 'audit_identity_key_pads';

/** SQL: a timestamptz as microseconds since the epoch (the chain's time encoding), as text. */
const micros = (col: string) => `(extract(epoch FROM ${col}) * 1000000)::bigint::text`;

/**
 * The columns of one record as chain verification reads it, in order (COPY's text format: tab
 * between fields, \N for NULL, backslash escapes): the stored values of the encoding's texts,
 * the identity key and hashes as hex, times as microseconds, and whether the clear identity
 * matches its keyed hash (computed here, where the key is). project_id and app_id are not read
 * (they are the app asked for). Free texts (reason, evidence) are read as their SHA-256 only:
 * the chain covers their digests.
 */
export const CHAIN_COLUMNS = [
  'a.chain_seq',
  'a.id',
  'a.kind',
  `encode(a.identity_key, 'hex')`,
  'a.list_type',
  'a.origin',
  'a.operation',
  'a.outcome',
  'a.actor',
  `encode(sha256(convert_to(a.reason, 'UTF8')), 'hex')`,
  `encode(sha256(convert_to(a.evidence::text, 'UTF8')), 'hex')`,
  'a.batch_id',
  micros('a.event_time'),
  micros('a.recorded_at'),
  micros('a.claimed_event_time'),
  'a.import_id',
  'a.source',
  // The clear identity against its keyed hash, with the stored key (k): t, f or NULL (none).
  `a.identity_key = sha256(k.opad || sha256(k.ipad || convert_to(a.identity, 'UTF8')))`,
  `encode(a.prev_hash, 'hex')`,
  `encode(a.hash, 'hex')`,
] as const;

/** The COPY of an app's chain in chain order (bench/audit-chain.mjs runs it bare). */
export function chainCopySql(app: AppRef): string {
  return `COPY (SELECT ${CHAIN_COLUMNS.join(', ')}
             FROM consent_audit a,
                  (SELECT decode(substr(value, 1, 128), 'hex') AS ipad,
                          decode(substr(value, 129, 128), 'hex') AS opad
                     FROM service_secrets WHERE name = ${escapeLiteral(IDENTITY_KEY_SECRET)}) k
            WHERE a.project_id = ${escapeLiteral(app.projectId)}
              AND a.app_id = ${escapeLiteral(app.appId)}
            ORDER BY a.chain_seq)
       TO STDOUT`;
}

/** The hash chain's reads. */
@Injectable()
export class AuditChainRepository {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  /** The app's records in chain order, one line each (CHAIN_COLUMNS), streamed by COPY. */
  copyChain(app: AppRef): Promise<Readable> {
    return copyOut(this.pool, chainCopySql(app));
  }
}
