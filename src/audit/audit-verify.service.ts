import { Injectable, Logger } from '@nestjs/common';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { AppRef } from '../kernel/app-ref.js';
import { AuditChainRepository, CHAIN_COLUMNS } from './audit-chain.repository.js';
import {
  canonicalEncoding,
  needsJsonEscape,
  type ChainedFields,
  ChainVerifier,
  type StoredChainRecord,
} from './domain/audit-chain.js';
import type { AuditVerifyResponseDto } from './dto/audit-chain.dto.js';
import { checkpointSignatureValid } from './domain/checkpoint.js';
import { checkpointFieldsOf } from './audit-checkpoint.entity.js';

const UNESCAPED: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

/**
 * A COPY line that needs more than a split: a COPY escape other than the \N of a NULL (a
 * backslash before anything but N; an escaped backslash before N is caught by its first
 * backslash), or a character that JSON.stringify escapes (quote, control characters but the tab
 * between fields, lone surrogates).
 */
// eslint-disable-next-line no-control-regex
const NEEDS_UNESCAPE_OR_ESCAPE = /\\[^N]|["\u0000-\u0008\u000a-\u001f\ud800-\udfff]/;

/** One field of COPY's text format: null for \N, else the text with its escapes undone. */
function copyField(f: string): string | null {
  if (f === '\\N') return null;
  return f.includes('\\') ? f.replace(/\\(.)/gs, (_, c: string) => UNESCAPED[c] ?? c) : f;
}

/**
 * One line of an app's chain COPY (CHAIN_COLUMNS, in order) as the verifier takes it: the record
 * with its canonical encoding rendered from the stored values.
 */
export function parseChainLine(app: AppRef, line: string): StoredChainRecord {
  const raw = line.split('\t');
  if (raw.length !== CHAIN_COLUMNS.length)
    throw new Error(`malformed chain row (${raw.length} fields)`);
  // Nearly every line has no COPY escape but the \N of a NULL, and no character JSON escapes:
  // its fields are then used as they are, and quoted in the encoding without a look at each.
  const plain =
    !NEEDS_UNESCAPE_OR_ESCAPE.test(line) &&
    !needsJsonEscape(app.projectId) &&
    !needsJsonEscape(app.appId);
  const p: (string | null)[] = raw;
  for (let i = 0; i < p.length; i++) {
    const f = raw[i]!;
    p[i] = f === '\\N' ? null : plain ? f : copyField(f);
  }
  const fields: ChainedFields = {
    chain_seq: p[0]!,
    id: p[1]!,
    kind: p[2]!,
    project_id: app.projectId,
    app_id: app.appId,
    identity_key: p[3]!,
    list_type: p[4]!,
    origin: p[5]!,
    operation: p[6]!,
    outcome: p[7]!,
    actor: p[8]!,
    reason_sha256: p[9]!,
    evidence_sha256: p[10]!,
    batch_id: p[11]!,
    event_time_us: p[12]!,
    recorded_at_us: p[13]!,
    claimed_event_time_us: p[14]!,
    import_id: p[15]!,
    source: p[16]!,
  };
  return {
    // No position: written with the chain's trigger disabled (the column is NOT NULL otherwise).
    seq: p[0] === null ? 0n : BigInt(p[0]!),
    id: p[1]!,
    fields,
    encoding: canonicalEncoding(fields, plain),
    identityMatches: p[17] === null ? null : p[17] === 't',
    prevHash: p[18] ?? '',
    hash: p[19] ?? '',
  };
}

/**
 * Reads a chain COPY line by line (parsed), calling `each` until it returns false; the COPY is
 * cut when stopped early.
 */
export async function readChain(
  app: AppRef,
  stream: Readable,
  each: (record: StoredChainRecord) => boolean,
): Promise<void> {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const data = rest + decoder.write(chunk);
      let start = 0;
      for (let nl = data.indexOf('\n'); nl >= 0; nl = data.indexOf('\n', start)) {
        if (!each(parseChainLine(app, data.slice(start, nl)))) return;
        start = nl + 1;
      }
      rest = data.slice(start);
    }
  } finally {
    // Stopped early (a bad record): the COPY is cut, its connection closed.
    if (!stream.readableEnded) stream.destroy();
  }
}

/** How a walk of a chain ended. */
export interface ChainWalk {
  failed: { recordId: string; reason: string } | null;
  records: number;
  head: { recordId: string | null; hash: Buffer; seq: bigint };
  checkpoints: number;
}

/** A checkpoint as the walk checks it: the position and hash it signed, and its validity. */
interface KnownCheckpoint {
  id: string;
  recordId: string;
  seq: bigint;
  hash: string;
  signatureValid: boolean;
  signedAt: string;
}

/**
 * Verifies an app's hash chain from its first record (or after a trusted head) to its head,
 * streamed (one COPY, read as it comes: constant memory whatever the length), stopping at the
 * first bad record; and every stored checkpoint of the app against it: its signature, and the
 * hash at its position (a checkpoint past the end of the chain means records were removed).
 */
@Injectable()
export class AuditVerifyService {
  private readonly logger = new Logger('AuditVerify');

  constructor(private readonly chain: AuditChainRepository) {}

  async verify(app: AppRef): Promise<AuditVerifyResponseDto> {
    const walk = await this.walk(app, undefined, await this.knownCheckpoints(app));
    if (walk.failed) {
      this.logger.warn(
        `audit chain of app=${app.appId} fails at record ${walk.failed.recordId}: ${walk.failed.reason}`,
      );
      return {
        verified: false,
        records: walk.records,
        checkpoints: walk.checkpoints,
        first_bad_record_id: walk.failed.recordId,
        reason: walk.failed.reason,
      };
    }
    return {
      verified: true,
      records: walk.records,
      checkpoints: walk.checkpoints,
      head_record_id: walk.head.recordId,
      head_hash: walk.head.recordId === null ? null : walk.head.hash.toString('hex'),
    };
  }

  private async knownCheckpoints(app: AppRef): Promise<Map<bigint, KnownCheckpoint[]>> {
    const byPosition = new Map<bigint, KnownCheckpoint[]>();
    for (const c of await this.chain.checkpoints(app)) {
      const seq = BigInt(c.chain_seq);
      const known: KnownCheckpoint = {
        id: c.id,
        recordId: c.record_id,
        seq,
        hash: c.head_hash.toString('hex'),
        signedAt: c.signed_at.toISOString(),
        signatureValid: checkpointSignatureValid(checkpointFieldsOf(c), c.signature, c.public_key),
      };
      byPosition.set(seq, [...(byPosition.get(seq) ?? []), known]);
    }
    return byPosition;
  }

  /**
   * Walks the chain after `after` (a trusted head), checking the checkpoints met on the way.
   */
  async walk(
    app: AppRef,
    after?: { seq: bigint; hash: Buffer; recordId: string },
    checkpoints = new Map<bigint, KnownCheckpoint[]>(),
  ): Promise<ChainWalk> {
    const verifier = new ChainVerifier(after);
    let checked = 0;
    await readChain(app, await this.chain.copyChain(app, after?.seq), (record) => {
      if (!verifier.add(record)) return false;
      for (const c of checkpoints.get(record.seq) ?? []) {
        checked++;
        if (!c.signatureValid) {
          verifier.reject(record.id, `checkpoint ${c.id} (${c.signedAt}) has an invalid signature`);
        } else if (c.hash !== record.hash || c.recordId !== record.id) {
          verifier.reject(
            record.id,
            `the chain differs from checkpoint ${c.id} (${c.signedAt}) at its position ${c.seq}: history before it was rewritten`,
          );
        }
      }
      return !verifier.failed;
    });
    if (!verifier.failed) {
      const end = verifier.head.seq;
      for (const [seq, list] of checkpoints) {
        if (seq > end) {
          verifier.reject(
            list[0]!.recordId,
            `checkpoint ${list[0]!.id} (${list[0]!.signedAt}) signed position ${seq}, but the chain ends at ${end}: records were removed`,
          );
          break;
        }
      }
    }
    return {
      failed: verifier.failed,
      records: verifier.records,
      head: verifier.head,
      checkpoints: checked,
    };
  }
}
