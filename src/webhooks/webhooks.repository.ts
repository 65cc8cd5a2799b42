import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import type { WebhookDeliveryEntity } from './webhook-delivery.entity.js';

export interface NewDelivery {
  projectId: string;
  appId: string;
  deliveryKey: string;
  trigger: string;
  identity: string | null;
  eventTime: Date;
}

/** Nonces (replay protection) and processed deliveries (idempotency), shared by all instances. */
@Injectable()
export class WebhooksRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Records a nonce; false when it was already seen (a replay). */
  async rememberNonce(tx: EntityManager, nonce: string): Promise<boolean> {
    const rows: unknown[] = await tx.query(
      `INSERT INTO webhook_nonces (nonce) VALUES ($1) ON CONFLICT (nonce) DO NOTHING RETURNING 1`,
      [nonce],
    );
    return rows.length === 1;
  }

  /** Forgets nonces older than the replay window (they would fail the timestamp check anyway). */
  async forgetNoncesOlderThan(seconds: number): Promise<void> {
    await this.dataSource.query(
      `DELETE FROM webhook_nonces WHERE seen_at < now() - make_interval(secs => $1)`,
      [seconds],
    );
  }

  /** Claims a delivery key; false when the delivery was already processed (a duplicate). */
  async claimDelivery(tx: EntityManager, d: NewDelivery): Promise<boolean> {
    const rows: unknown[] = await tx.query(
      `INSERT INTO webhook_deliveries
         (project_id, app_id, delivery_key, trigger, identity, outcome, event_time)
       VALUES ($1, $2, $3, $4, $5, 'PROCESSING', $6)
       ON CONFLICT (project_id, app_id, delivery_key) DO NOTHING
       RETURNING 1`,
      [d.projectId, d.appId, d.deliveryKey, d.trigger, d.identity, d.eventTime],
    );
    return rows.length === 1;
  }

  async recordOutcome(
    tx: EntityManager,
    d: Pick<NewDelivery, 'projectId' | 'appId' | 'deliveryKey'>,
    outcome: string,
    details: Record<string, unknown>,
  ): Promise<void> {
    await tx.query(
      `UPDATE webhook_deliveries SET outcome = $4, details = $5
        WHERE project_id = $1 AND app_id = $2 AND delivery_key = $3`,
      [d.projectId, d.appId, d.deliveryKey, outcome, JSON.stringify(details)],
    );
  }

  /** An identity's recorded webhook deliveries, newest first. */
  async listForIdentity(projectId: string, appId: string, identity: string, limit: number) {
    return this.dataSource.query(
      `SELECT delivery_key, trigger, outcome, details, event_time, received_at
         FROM webhook_deliveries
        WHERE project_id = $1 AND app_id = $2 AND identity = $3
        ORDER BY received_at DESC, delivery_key LIMIT $4`,
      [projectId, appId, identity, limit],
    ) as Promise<
      (Pick<
        WebhookDeliveryEntity,
        'delivery_key' | 'trigger' | 'outcome' | 'event_time' | 'received_at'
      > & {
        details: Record<string, unknown> | null;
      })[]
    >;
  }
}
