import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { Pool } from 'pg';
import { NAMED_STATEMENTS, PG_POOL } from '../database/database.module.js';
import type { AppRef } from '../kernel/app-ref.js';
import type { ContactIdentityEntity } from './contact-identity.entity.js';

/** One channel identity of a Sinch contact. */
export type ContactIdentity = Pick<ContactIdentityEntity, 'channel' | 'identity'>;

/** The most identities a contact's lookup returns (a contact has one per channel, in practice). */
const MAX_CONTACT_IDENTITIES = 1000;

/**
 * The channel identities seen for each Sinch contact: webhooks record them, the send gate reads
 * them to check a send addressed by contact_id. Neither of the two knows the other.
 */
@Injectable()
export class ContactsRepository {
  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(NAMED_STATEMENTS) private readonly named: boolean,
  ) {}

  /**
   * Records a channel identity seen for a contact, inside the caller's transaction. Values the
   * columns cannot hold are skipped: a Sinch contact id is a 26-character ULID and channels are
   * short enum names, so only a malformed delivery would have them.
   */
  async record(
    tx: EntityManager,
    app: AppRef,
    r: { contactId: string; channel: string; identity: string },
  ): Promise<void> {
    if (r.contactId.length === 0 || r.contactId.length > 64) return;
    if (r.channel.length === 0 || r.channel.length > 32) return;
    await tx.query(
      `INSERT INTO contact_identities (project_id, app_id, contact_id, channel, identity)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT ON CONSTRAINT contact_identities_pk DO UPDATE SET last_seen_at = now()`,
      [app.projectId, app.appId, r.contactId, r.channel, r.identity],
    );
  }

  /** The channel identities seen for a contact (primary-key prefix lookup). */
  async identitiesOf(app: AppRef, contactId: string): Promise<ContactIdentity[]> {
    const result = await this.pool.query<ContactIdentity>({
      ...(this.named ? { name: 'send_gate_contact_identities' } : {}),
      text: `SELECT channel, identity FROM contact_identities
              WHERE project_id = $1 AND app_id = $2 AND contact_id = $3
              ORDER BY channel, identity LIMIT ${MAX_CONTACT_IDENTITIES}`,
      values: [app.projectId, app.appId, contactId],
    });
    return result.rows;
  }
}
