import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { AppRef } from '../../kernel/app-ref.js';
import { ConsentService } from '../../consent/consent.service.js';
import { ChangeAction } from '../../consent/domain/consent-types.js';
import { KeywordAction } from '../../keywords/domain/keyword-types.js';
import { KeywordEvaluation, KeywordsService } from '../../keywords/keywords.service.js';
import { ReplyQueue } from '../../replies/reply-queue.js';
import type { HandledEvent } from '../domain/delivery-key.js';
import { channelChangeContext, Delivery, Handled, TriggerHandler } from './trigger-handler.js';

type InboundMessage = Extract<HandledEvent, { trigger: 'MESSAGE_INBOUND' }>;

/**
 * MESSAGE_INBOUND: a text that matches a keyword changes consent (OPT_OUT / OPT_IN keywords)
 * and queues the app's confirmation reply (when auto_reply is on).
 */
@Injectable()
export class InboundMessageHandler implements TriggerHandler<
  InboundMessage,
  KeywordEvaluation | null
> {
  constructor(
    private readonly consents: ConsentService,
    private readonly keywords: KeywordsService,
    private readonly replies: ReplyQueue,
  ) {}

  /** Keyword evaluation reads only cached rules and settings: done before the transaction. */
  async prepare(app: AppRef, event: InboundMessage): Promise<KeywordEvaluation | null> {
    return event.text !== null ? this.keywords.evaluate(app, event.text) : null;
  }

  async apply(
    tx: EntityManager,
    { app, event, identity }: Delivery<InboundMessage>,
    evaluation: KeywordEvaluation | null,
  ): Promise<Handled> {
    if (event.text === null) return { outcome: 'NOT_TEXT', details: {} };
    if (!evaluation) return { outcome: 'NO_KEYWORD', details: {} };
    const rule = evaluation.match.rule;
    const details: Record<string, unknown> = {
      keyword: rule.phrase,
      action: rule.action,
      list_type: rule.list_type,
      language: rule.language,
      profile: evaluation.profile,
      fcc_revocation: evaluation.match.fcc_revocation,
    };
    if (rule.action !== KeywordAction.HELP && rule.list_type && identity) {
      const [change] = await this.consents.applyChanges(
        channelChangeContext(app, event),
        [
          {
            identity,
            listType: rule.list_type,
            action:
              rule.action === KeywordAction.OPT_OUT ? ChangeAction.OPT_OUT : ChangeAction.OPT_IN,
            eventTime: event.eventTime,
            reason: `keyword "${rule.phrase}" (${rule.language})`,
            evidence: {
              trigger: 'MESSAGE_INBOUND',
              message_id: event.messageId,
              channel: event.channel,
              ...details,
            },
          },
        ],
        tx,
      );
      details.outcome = change!.outcome;
      details.audit_record_id = change!.auditRecordId;
    }
    if (evaluation.auto_reply && identity) {
      details.reply_job_id = await this.replies.enqueue(tx, {
        projectId: app.projectId,
        appId: app.appId,
        payload: {
          channel: event.channel,
          identity: event.identity,
          normalized_identity: identity,
          list_type: rule.list_type ?? null,
          text: evaluation.reply,
          inbound_message_id: event.messageId,
          action: rule.action,
          language: rule.language,
        },
      });
    }
    return { outcome: `KEYWORD_${rule.action}`, details };
  }
}
