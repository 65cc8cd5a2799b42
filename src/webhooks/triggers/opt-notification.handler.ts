import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { ConsentService } from '../../consent/consent.service.js';
import { ChangeAction, ListType } from '../../consent/domain/consent-types.js';
import type { HandledEvent } from '../domain/delivery-key.js';
import { channelChangeContext, Delivery, Handled, TriggerHandler } from './trigger-handler.js';

type OptNotification = Extract<HandledEvent, { trigger: 'OPT_IN' | 'OPT_OUT' }>;

/** OPT_IN / OPT_OUT: Sinch's own opt-in and opt-out lists changed; ours follow (OPT_OUT_ALL). */
@Injectable()
export class OptNotificationHandler implements TriggerHandler<OptNotification> {
  constructor(private readonly consents: ConsentService) {}

  async apply(
    tx: EntityManager,
    { app, event, identity }: Delivery<OptNotification>,
  ): Promise<Handled> {
    const details: Record<string, unknown> = { status: event.status, channel: event.channel };
    if (event.status !== `${event.trigger}_SUCCEEDED` || !identity) {
      return { outcome: 'STATUS_NOT_SUCCEEDED', details };
    }
    const optOut = event.trigger === 'OPT_OUT';
    const [change] = await this.consents.applyChanges(
      channelChangeContext(app, event),
      [
        {
          identity,
          listType: ListType.OPT_OUT_ALL,
          action: optOut ? ChangeAction.OPT_OUT : ChangeAction.OPT_IN,
          eventTime: event.eventTime,
          reason: `Sinch ${event.trigger} notification`,
          evidence: { trigger: event.trigger, notification: event.notification },
        },
      ],
      tx,
    );
    details.outcome = change!.outcome;
    details.audit_record_id = change!.auditRecordId;
    return { outcome: optOut ? 'OPTED_OUT' : 'OPTED_IN', details };
  }
}
