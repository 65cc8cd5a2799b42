import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { ListType } from '../consent/domain/consent-types.js';
import type { AppRef } from '../kernel/app-ref.js';

/** send_attempts.decision. */
export type SendAttemptDecision = 'BLOCKED' | 'SENT_TO_OPTED_OUT';

export interface NewSendAttempt {
  identity: string;
  channel: string | null;
  lists: ListType[];
}

export interface StoredSendAttempt extends NewSendAttempt {
  id: string;
  created_at: Date;
}

export interface SendAttemptContext {
  app: AppRef;
  messageContentType: string;
  decision: SendAttemptDecision;
  actor: string;
  correlationId: string | null;
}

/** The append-only send_attempts. */
@Injectable()
export class SendGateRepository {
  /**
   * Appends one row per attempt in one statement (after one read of which identities are
   * erased), in the caller's transaction.
   */
  async insertAttempts(
    tx: EntityManager,
    ctx: SendAttemptContext,
    attempts: NewSendAttempt[],
  ): Promise<StoredSendAttempt[]> {
    const params: unknown[] = [
      ctx.app.projectId,
      ctx.app.appId,
      ctx.messageContentType,
      ctx.decision,
      ctx.actor,
      ctx.correlationId,
    ];
    // An identity erased in the app is recorded by its stored form, never in clear again.
    const erased: { identity: string; erased: string }[] = await tx.query(
      `SELECT identity, erased FROM erased_identities($1, $2, $3::varchar[])`,
      [ctx.app.projectId, ctx.app.appId, attempts.map((a) => a.identity)],
    );
    const storedAs = new Map(erased.map((e) => [e.identity, e.erased]));
    const values = attempts.map((a) => {
      params.push(storedAs.get(a.identity) ?? a.identity, a.channel, a.lists);
      const n = params.length;
      return `($1, $2, $${n - 2}, $${n - 1}, $3, $4, $${n}::text[], $5, $6)`;
    });
    const rows: (Omit<StoredSendAttempt, 'id'> & { id: string | number })[] = await tx.query(
      `INSERT INTO send_attempts
         (project_id, app_id, identity, channel, message_content_type, decision, lists, actor,
          correlation_id)
       VALUES ${values.join(', ')}
       RETURNING id, identity, channel, lists, created_at`,
      params,
    );
    // Answered under the identity asked (rows come back in the order of VALUES).
    return rows.map((r, i) => ({ ...r, identity: attempts[i]!.identity, id: String(r.id) }));
  }
}
