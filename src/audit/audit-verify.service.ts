import { Injectable, Logger } from '@nestjs/common';
import { StringDecoder } from 'node:string_decoder';
import type { AppRef } from '../kernel/app-ref.js';
import { AuditChainRepository, CHAIN_COLUMNS } from './audit-chain.repository.js';
import {
  canonicalEncoding,
  type ChainedFields,
  ChainVerifier,
  type StoredChainRecord,
} from './domain/audit-chain.js';
import type { AuditVerifyResponseDto } from './dto/audit-chain.dto.js';

const UNESCAPED: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

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
  const p = line.split('\t').map(copyField);
  if (p.length !== CHAIN_COLUMNS.length)
    throw new Error(`malformed chain row (${p.length} fields)`);
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
    seq: BigInt(p[0]!),
    id: p[1]!,
    encoding: canonicalEncoding(fields),
    identityMatches: p[17] === null ? null : p[17] === 't',
    prevHash: p[18]!,
    hash: p[19]!,
  };
}

/**
 * Verifies an app's hash chain from its first record to its head, streamed (one COPY, read as it
 * comes: constant memory whatever the length), stopping at the first bad record.
 */
@Injectable()
export class AuditVerifyService {
  private readonly logger = new Logger('AuditVerify');

  constructor(private readonly chain: AuditChainRepository) {}

  async verify(app: AppRef): Promise<AuditVerifyResponseDto> {
    const verifier = new ChainVerifier();
    const stream = await this.chain.copyChain(app);
    const decoder = new StringDecoder('utf8');
    let rest = '';
    try {
      outer: for await (const chunk of stream as AsyncIterable<Buffer>) {
        const data = rest + decoder.write(chunk);
        let start = 0;
        for (let nl = data.indexOf('\n'); nl >= 0; nl = data.indexOf('\n', start)) {
          if (!verifier.add(parseChainLine(app, data.slice(start, nl)))) break outer;
          start = nl + 1;
        }
        rest = data.slice(start);
      }
    } finally {
      // Stopped early (a bad record): the COPY is cut, its connection closed.
      if (!stream.readableEnded) stream.destroy();
    }
    const failed = verifier.failed;
    if (failed) {
      this.logger.warn(
        `audit chain of app=${app.appId} fails at record ${failed.recordId}: ${failed.reason}`,
      );
      return {
        verified: false,
        records: verifier.records,
        first_bad_record_id: failed.recordId,
        reason: failed.reason,
      };
    }
    const head = verifier.head;
    return {
      verified: true,
      records: verifier.records,
      head_record_id: head.recordId,
      head_hash: head.recordId === null ? null : head.hash.toString('hex'),
    };
  }
}
