import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { Pool } from 'pg';
import { NAMED_STATEMENTS, PG_POOL } from '../database/database.module.js';
import type { ListType } from '../consent/domain/consent-types.js';
import type { AppRef } from '../kernel/app-ref.js';
import type { RecipientIdentity } from './dto/send-message.dto.js';

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

/** The most identities a contact's check looks at (a contact has one per channel, in practice). */
const MAX_CONTACT_IDENTITIES = 1000;

/**
 * Records a channel identity seen for a Sinch contact (from a webhook), inside the caller's
 * transaction. Values the columns cannot hold are skipped: a Sinch contact id is a 26-character
 * ULID and channels are short enum names, so only a malformed delivery would have them.
 */
export async function recordContactIdentity(
  tx: EntityManager,
  r: { projectId: string; appId: string; contactId: string; channel: string; identity: string },
): Promise<void> {
  if (r.contactId.length === 0 || r.contactId.length > 64) return;
  if (r.channel.length === 0 || r.channel.length > 32) return;
  await tx.query(
    `INSERT INTO contact_identities (project_id, app_id, contact_id, channel, identity)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT ON CONSTRAINT contact_identities_pk DO UPDATE SET last_seen_at = now()`,
    [r.projectId, r.appId, r.contactId, r.channel, r.identity],
  );
}

/** contact_identities reads and the append-only send_attempts. */
@Injectable()
export class SendGateRepository {
  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(NAMED_STATEMENTS) private readonly named: boolean,
  ) {}

  /** The channel identities seen for a contact (primary-key prefix lookup). */
  async contactIdentities(app: AppRef, contactId: string): Promise<RecipientIdentity[]> {
    const result = await this.pool.query<RecipientIdentity>({
      ...(this.named ? { name: 'send_gate_contact_identities' } : {}),
      text: `SELECT channel, identity FROM contact_identities
              WHERE project_id = $1 AND app_id = $2 AND contact_id = $3
              ORDER BY channel, identity LIMIT ${MAX_CONTACT_IDENTITIES}`,
      values: [app.projectId, app.appId, contactId],
    });
    return result.rows;
  }

  /** Appends one row per attempt in one statement, in the caller's transaction. */
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
    const values = attempts.map((a) => {
      params.push(a.identity, a.channel, a.lists);
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
    return rows.map((r) => ({ ...r, id: String(r.id) }));
  }
}
