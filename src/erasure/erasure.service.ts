import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { erasureRecord } from '../audit/audit-records.js';
import { AuditRepository } from '../audit/audit.repository.js';
import { ApiError } from '../common/api-error.js';
import { retryOnConflict } from '../common/database-errors.js';
import { ConsentService } from '../consent/consent.service.js';
import { ERASED_PREFIX } from '../consent/domain/identity.js';
import type { AppRef } from '../kernel/app-ref.js';
import type { ErasureResponseDto } from './dto/erasure.dto.js';
import { ErasureRepository } from './erasure.repository.js';

/**
 * Erasure that keeps the suppression (README "Erasure"): in one transaction, the identity is
 * replaced everywhere it was stored in clear by its erased form (`erased:` and its keyed hash),
 * its free texts by their digests, what only served to reach it is removed, and an ERASURE audit
 * record is appended. It stays on its lists by that form: every later check, send, STOP or START
 * of the number finds it there (erased_identities in the database resolves the number to it).
 */
@Injectable()
export class ErasureService {
  private readonly logger = new Logger('Erasure');

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly repo: ErasureRepository,
    private readonly audit: AuditRepository,
    private readonly consents: ConsentService,
  ) {}

  async erase(
    app: AppRef,
    identity: string,
    actor: string,
    reason: string | null,
  ): Promise<ErasureResponseDto> {
    if (reason !== null && reason.includes(identity)) {
      throw ApiError.field('reason', 'reason must not contain the identity (it is being erased)');
    }
    // A deadlock with a concurrent change of the identity: run it again.
    return retryOnConflict(() =>
      this.dataSource.transaction(async (tx) => {
        await this.repo.lock(tx, app, identity);
        const key = await this.repo.identityKey(tx, identity);
        const erased = ERASED_PREFIX + key;
        if (!(await this.repo.anythingAbout(tx, app, identity, erased))) {
          throw ApiError.notFound('Nothing is stored about this identity in this app.');
        }
        const record = await this.audit.append(
          tx,
          erasureRecord({ app, erasedIdentity: erased, actor, reason, eventTime: new Date() }),
        );
        const { first, erasedAt } = await this.repo.recordErasure(tx, app, key, record.id);
        const removed = await this.repo.eraseEverywhere(tx, app, identity, erased);
        this.logger.log(
          `identity erased app=${app.appId} audit_record=${record.id} first=${first} states=${removed.consent_states} records=${removed.audit_records}`,
        );
        const lists = await tx.query(
          `SELECT list_type FROM consent_state
              WHERE project_id = $1 AND app_id = $2 AND identity = $3 AND opted_out
              ORDER BY list_type`,
          [app.projectId, app.appId, erased],
        );
        return {
          erased_identity: erased,
          identity_key: key,
          audit_record_id: record.id,
          erased_at: erasedAt.toISOString(),
          already_erased: !first,
          lists: (lists as { list_type: string }[]).map((l) => l.list_type),
          removed,
        };
      }),
    );
  }

  /** The identity as the path gives it: normalised (not an erased form: that is erased). */
  normalize(raw: unknown): string {
    return this.consents.normalize(raw, 'identity');
  }
}
