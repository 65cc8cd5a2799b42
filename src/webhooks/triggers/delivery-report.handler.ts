import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { deliveryRefusedRecord } from '../../audit/audit-records.js';
import { AuditRepository } from '../../audit/audit.repository.js';
import type { HandledEvent } from '../domain/delivery-key.js';
import { REFUSAL_REASONS } from '../domain/sinch-event.js';
import { Delivery, Handled, TriggerHandler } from './trigger-handler.js';

type DeliveryReport = Extract<HandledEvent, { trigger: 'MESSAGE_DELIVERY' }>;

/**
 * MESSAGE_DELIVERY: recorded; a FAILED report whose reason says the recipient refused the
 * message also appends a DELIVERY_REFUSED audit record (consent is unchanged).
 */
@Injectable()
export class DeliveryReportHandler implements TriggerHandler<DeliveryReport> {
  constructor(private readonly audit: AuditRepository) {}

  async apply(
    tx: EntityManager,
    { app, event, identity }: Delivery<DeliveryReport>,
  ): Promise<Handled> {
    const details: Record<string, unknown> = {
      status: event.status,
      reason_code: event.reasonCode,
      channel: event.channel,
    };
    const reasonCode = event.reasonCode;
    if (!(event.status === 'FAILED' && reasonCode && REFUSAL_REASONS.has(reasonCode))) {
      return { outcome: 'RECORDED', details };
    }
    if (identity) {
      const record = await this.audit.append(
        tx,
        deliveryRefusedRecord({
          app,
          identity,
          channel: event.channel,
          messageId: event.messageId,
          status: event.status,
          reasonCode,
          eventTime: event.eventTime,
        }),
      );
      details.audit_record_id = record.id;
    }
    return { outcome: 'RECIPIENT_REFUSED', details, refusalReason: reasonCode };
  }
}
