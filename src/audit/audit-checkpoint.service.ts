import {
  BeforeApplicationShutdown,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { ApiError } from '../common/api-error.js';
import { AppConfig } from '../config/app-config.js';
import { describeError } from '../jobs/polling-loop.js';
import { encodePageToken, readPageToken } from '../kernel/page-token.js';
import type { AppRef } from '../kernel/app-ref.js';
import { AuditChainRepository, type LanePosition } from './audit-chain.repository.js';
import { type AuditCheckpointEntity, checkpointFieldsOf } from './audit-checkpoint.entity.js';
import { AuditSigningService } from './audit-signing.service.js';
import { AuditVerifyService } from './audit-verify.service.js';
import { GENESIS_HASH } from './domain/audit-chain.js';
import { checkpointHeads, checkpointText, type LaneHead } from './domain/checkpoint.js';
import type { AuditCheckpointDto } from './dto/audit-chain.dto.js';

/** 409: an app without audit records has no chain head to sign. */
export function noRecordsToCheckpoint(): ApiError {
  return new ApiError(
    409,
    'FAILED_PRECONDITION',
    'The app has no audit records yet; there is nothing to checkpoint.',
  );
}

export function toCheckpointDto(c: AuditCheckpointEntity): AuditCheckpointDto {
  const fields = checkpointFieldsOf(c);
  return {
    checkpoint_id: c.id,
    ...fields,
    public_key: c.public_key.toString('base64'),
    signature: c.signature.toString('base64'),
    signed_text: checkpointText(fields),
  };
}

/**
 * Signed checkpoints of the apps' audit chains. A checkpoint signs the head of every lane of an
 * app's chain (record id, position, hash; lane 0's in the v1 fields, the others' in `lanes`) with
 * the service's Ed25519 key (AuditSigningService), after the records since
 * the previous checkpoint verify (so the service never signs a broken chain; the records before
 * it were verified when it was signed). Checkpoints are kept (audit_checkpoints, append-only),
 * listed, checked by every GET .../audit:verify, and meant to be copied elsewhere: a rewrite of
 * history before a checkpoint kept elsewhere no longer matches it, even one that replaced the
 * whole table and re-signed nothing.
 *
 * Every AUDIT_CHECKPOINT_INTERVAL_S (0: never) one instance at a time (an advisory lock) signs a
 * checkpoint of every app whose chain grew since its last one.
 */
@Injectable()
export class AuditCheckpointService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('AuditCheckpoints');
  private timer?: NodeJS.Timeout;
  private running: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly config: AppConfig,
    private readonly chain: AuditChainRepository,
    private readonly verifier: AuditVerifyService,
    private readonly signing: AuditSigningService,
  ) {}

  onApplicationBootstrap(): void {
    const interval = this.config.AUDIT_CHECKPOINT_INTERVAL_S;
    if (interval === 0) return;
    this.timer = setInterval(() => {
      this.running = this.sweep().catch((e: unknown) =>
        this.logger.warn(`checkpoint sweep failed: ${describeError(e)}; next in ${interval} s`),
      );
    }, interval * 1000);
    this.timer.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  /** One periodic round: a checkpoint of every app whose chain grew; returns how many. */
  async sweep(): Promise<number> {
    return this.chain.withSweepLock(async () => {
      let signed = 0;
      for (const app of await this.chain.appsToCheckpoint()) {
        if (this.stopped) break;
        try {
          await this.checkpoint(app);
          signed++;
        } catch (e) {
          this.logger.warn(`no checkpoint for app=${app.appId}: ${describeError(e)}`);
        }
      }
      if (signed > 0) this.logger.log(`signed ${signed} audit checkpoint(s)`);
      return signed;
    }, 0);
  }

  /**
   * Verifies the app's records since its last checkpoint and signs its head. 409 when the chain
   * does not verify (nothing is signed) or the app has no records.
   */
  async checkpoint(app: AppRef): Promise<AuditCheckpointDto> {
    const last = await this.chain.latestCheckpoint(app);
    const trusted = new Map<number, LanePosition>();
    if (last) {
      // The walk below trusts the last checkpoint's heads: they must still be in the chain.
      for (const head of checkpointHeads(checkpointFieldsOf(last))) {
        const at = await this.chain.recordAt(app, head.lane, head.chain_seq);
        if (!at || at.id !== head.record_id || at.hash.toString('hex') !== head.head_hash) {
          throw new ApiError(
            409,
            'FAILED_PRECONDITION',
            `The audit chain differs from checkpoint ${last.id} at its position ${head.chain_seq}${head.lane === 0 ? '' : ` of lane ${head.lane}`}: history before it was rewritten; no checkpoint was signed. See GET .../audit:verify.`,
          );
        }
        trusted.set(head.lane, {
          seq: BigInt(head.chain_seq),
          hash: at.hash,
          recordId: head.record_id,
        });
      }
    }
    const walk = await this.verifier.walk(app, trusted);
    if (walk.failed) {
      throw new ApiError(
        409,
        'FAILED_PRECONDITION',
        `The audit chain does not verify at record ${walk.failed.recordId} (${walk.failed.reason}); no checkpoint was signed. See GET .../audit:verify.`,
      );
    }
    const heads = walk.heads.filter((h) => h.recordId !== null);
    if (heads.length === 0) {
      throw noRecordsToCheckpoint();
    }
    const lane0 = heads.find((h) => h.lane === 0);
    const others: LaneHead[] = heads
      .filter((h) => h.lane !== 0)
      .map((h) => ({
        lane: h.lane,
        chain_seq: h.seq.toString(),
        record_id: h.recordId!,
        head_hash: h.hash.toString('hex'),
      }));
    const key = this.signing.key();
    const unsigned = {
      project_id: app.projectId,
      app_id: app.appId,
      record_id: lane0?.recordId ?? '0',
      chain_seq: lane0 ? lane0.seq.toString() : '0',
      head_hash: lane0 ? lane0.hash : GENESIS_HASH,
      signed_at: new Date(),
      key_id: key.key_id,
      lanes: others.length === 0 ? null : others,
    };
    const saved = await this.chain.saveCheckpoint({
      ...unsigned,
      public_key: this.signing.rawPublicKey(),
      signature: this.signing.sign(checkpointText(checkpointFieldsOf(unsigned))),
    });
    this.logger.log(
      `checkpoint ${saved.id} app=${app.appId} position=${saved.chain_seq}${others.length === 0 ? '' : ` lanes=${heads.length}`} key=${key.key_id}`,
    );
    return toCheckpointDto(saved);
  }

  async page(
    app: AppRef,
    pageSize: number,
    pageToken?: string,
  ): Promise<{ checkpoints: AuditCheckpointDto[]; next_page_token: string }> {
    const before = readPageToken(pageToken, true);
    const rows = await this.chain.checkpointPage(app, pageSize + 1, before);
    const page = rows.slice(0, pageSize);
    return {
      checkpoints: page.map(toCheckpointDto),
      next_page_token: rows.length > pageSize ? encodePageToken(page[page.length - 1]!.id) : '',
    };
  }
}
