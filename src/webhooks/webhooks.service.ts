import { Injectable, Logger } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { ApiError } from '../common/api-error.js';
import { hashForLog } from '../common/log-safe.js';
import { ConsentService } from '../consent/consent.service.js';
import { AuditRepository } from '../audit/audit.repository.js';
import {
  AuditRecordKind,
  ChangeAction,
  ListType,
  Origin,
} from '../consent/domain/consent-types.js';
import { InvalidIdentityError, normalizeIdentity } from '../consent/domain/identity.js';
import { KeywordService } from '../keywords/keyword.service.js';
import { KeywordAction } from '../keywords/domain/keyword-types.js';
import { Metrics } from '../metrics/metrics.js';
import { OutboxRepository } from '../outbox/outbox.repository.js';
import type { AppRef } from '../kernel/app-ref.js';
import { SettingsService } from '../settings/settings.service.js';
import { recordContactIdentity } from '../send-gate/send-gate.repository.js';
import {
  MalformedEventError,
  parseSinchEvent,
  REFUSAL_REASONS,
  SinchEvent,
} from './domain/sinch-event.js';
import { SignatureHeaders, verifySignature } from '../kernel/sinch-signature.js';
import { WebhookRepository } from './webhook.repository.js';

export interface WebhookResult {
  status: 'PROCESSED' | 'DUPLICATE' | 'IGNORED';
  trigger: string;
  outcome: string;
}

/** What process() found, with what the metrics need beyond the answer to Sinch. */
interface ProcessResult extends WebhookResult {
  /** The reason code of a delivery report recorded as RECIPIENT_REFUSED. */
  refusalReason?: string;
}

/**
 * Sinch webhook intake: verify, deduplicate, apply. The consent change, its audit record, the
 * delivery record and the pending reply are committed in one transaction before we answer 200;
 * any failure rolls all of it back and answers an error, so Sinch retries.
 */
@Injectable()
export class WebhooksService {
  private readonly logger = new Logger('Webhooks');
  private deliveriesSincePurge = 0;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly repo: WebhookRepository,
    private readonly settings: SettingsService,
    private readonly consents: ConsentService,
    private readonly keywords: KeywordService,
    private readonly outbox: OutboxRepository,
    private readonly audit: AuditRepository,
    private readonly metrics: Metrics,
    private readonly config: AppConfig,
  ) {}

  async handle(body: unknown, rawBody: Buffer, headers: SignatureHeaders): Promise<WebhookResult> {
    let event: SinchEvent;
    try {
      event = parseSinchEvent(body);
    } catch (e) {
      if (e instanceof MalformedEventError) {
        this.metrics.webhookRejections.inc({ reason: 'MALFORMED' });
        throw ApiError.invalidRequest(
          [{ field: e.field, description: e.description }],
          `Not a Sinch callback: ${e.message}`,
        );
      }
      throw e;
    }
    if (headers.nonce !== undefined && headers.nonce.length > MAX_NONCE_CHARS) {
      this.metrics.webhookRejections.inc({ reason: 'MALFORMED' });
      throw ApiError.field(NONCE_HEADER, `must be at most ${MAX_NONCE_CHARS} characters`);
    }
    const app: AppRef = { projectId: event.projectId, appId: event.appId };
    const settings = await this.settings.find(app);
    if (!settings) {
      this.metrics.webhookRejections.inc({ reason: 'UNKNOWN_APP' });
      throw ApiError.notFound('Unknown app: configure it with PUT .../consent-settings first.');
    }
    let nonce: string | null = null;
    if (settings.webhook_secrets.length > 0) {
      const verdict = verifySignature(
        settings.webhook_secrets,
        headers,
        rawBody,
        Date.now(),
        this.config.WEBHOOK_TIMESTAMP_WINDOW_S,
      );
      if (!verdict.ok) {
        this.metrics.webhookRejections.inc({ reason: verdict.reason });
        this.logger.warn(`webhook refused for app ${app.appId}: ${verdict.reason}`);
        throw ApiError.unauthenticated('Invalid Sinch webhook signature.', 'Sinch-HMAC');
      }
      nonce = verdict.nonce;
    }

    // Keyword evaluation reads only cached rules and settings: do it before the transaction.
    const evaluation =
      event.trigger === 'MESSAGE_INBOUND' && event.text !== null
        ? await this.keywords.evaluate(app, event.text)
        : null;

    const { refusalReason, ...result } = await this.dataSource.transaction(async (tx) => {
      if (nonce !== null && !(await this.repo.rememberNonce(tx, nonce))) {
        this.metrics.webhookRejections.inc({ reason: 'REPLAYED_NONCE' });
        throw ApiError.unauthenticated(
          'Replayed Sinch webhook (nonce already seen).',
          'Sinch-HMAC',
        );
      }
      return this.process(tx, app, event, evaluation);
    });
    this.metrics.webhookDeliveries.inc({ trigger: result.trigger, outcome: result.outcome });
    if (refusalReason) this.metrics.recipientRefusals.inc({ reason: refusalReason });
    this.purgeNoncesNowAndThen();
    return result;
  }

  private async process(
    tx: EntityManager,
    app: AppRef,
    event: SinchEvent,
    evaluation: Awaited<ReturnType<KeywordService['evaluate']>>,
  ): Promise<ProcessResult> {
    if (event.trigger === 'OTHER') {
      return { status: 'IGNORED', trigger: event.name, outcome: 'IGNORED_TRIGGER' };
    }
    const identity = this.identityOf(event);
    const deliveryKey = fitDeliveryKey(
      event.trigger === 'MESSAGE_INBOUND'
        ? `inbound:${event.messageId}`
        : event.trigger === 'MESSAGE_DELIVERY'
          ? `delivery:${event.messageId}:${event.status}`
          : `${event.trigger.toLowerCase()}:${event.requestId ?? `${event.channel}:${identity}:${event.status}:${event.eventTime.toISOString()}`}`,
    );
    const key = { projectId: app.projectId, appId: app.appId, deliveryKey };
    const claimed = await this.repo.claimDelivery(tx, {
      ...key,
      trigger: event.trigger,
      identity,
      eventTime: event.eventTime,
    });
    if (!claimed) return { status: 'DUPLICATE', trigger: event.trigger, outcome: 'DUPLICATE' };

    // The send gate checks sends by contact_id against the identities seen for the contact.
    if (
      (event.trigger === 'MESSAGE_INBOUND' ||
        event.trigger === 'OPT_IN' ||
        event.trigger === 'OPT_OUT') &&
      event.contactId &&
      identity
    ) {
      await recordContactIdentity(tx, {
        projectId: app.projectId,
        appId: app.appId,
        contactId: event.contactId,
        channel: event.channel,
        identity,
      });
    }

    let outcome: string;
    let refusalReason: string | undefined;
    let details: Record<string, unknown> = {};
    switch (event.trigger) {
      case 'MESSAGE_INBOUND': {
        if (event.text === null) {
          outcome = 'NOT_TEXT';
          break;
        }
        if (!evaluation) {
          outcome = 'NO_KEYWORD';
          break;
        }
        const rule = evaluation.match.rule;
        details = {
          keyword: rule.phrase,
          action: rule.action,
          list_type: rule.list_type,
          language: rule.language,
          profile: evaluation.profile,
          fcc_revocation: evaluation.match.fcc_revocation,
        };
        if (rule.action !== KeywordAction.HELP && rule.list_type && identity) {
          const [change] = await this.consents.applyChanges(
            {
              app,
              origin: Origin.ORIGIN_MO,
              actor: `sinch:${event.channel}`,
              channel: event.channel,
              contactId: event.contactId,
            },
            [
              {
                identity,
                listType: rule.list_type,
                action:
                  rule.action === KeywordAction.OPT_OUT
                    ? ChangeAction.OPT_OUT
                    : ChangeAction.OPT_IN,
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
        outcome = `KEYWORD_${rule.action}`;
        if (evaluation.auto_reply && identity) {
          details.reply_job_id = await this.outbox.enqueueReply(tx, {
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
        break;
      }
      case 'OPT_IN':
      case 'OPT_OUT': {
        const succeeded = event.status === `${event.trigger}_SUCCEEDED`;
        details = { status: event.status, channel: event.channel };
        if (!succeeded || !identity) {
          outcome = 'STATUS_NOT_SUCCEEDED';
          break;
        }
        const [change] = await this.consents.applyChanges(
          {
            app,
            origin: Origin.ORIGIN_MO,
            actor: `sinch:${event.channel}`,
            channel: event.channel,
            contactId: event.contactId,
          },
          [
            {
              identity,
              listType: ListType.OPT_OUT_ALL,
              action: event.trigger === 'OPT_OUT' ? ChangeAction.OPT_OUT : ChangeAction.OPT_IN,
              eventTime: event.eventTime,
              reason: `Sinch ${event.trigger} notification`,
              evidence: { trigger: event.trigger, notification: event.notification },
            },
          ],
          tx,
        );
        details.outcome = change!.outcome;
        details.audit_record_id = change!.auditRecordId;
        outcome = event.trigger === 'OPT_OUT' ? 'OPTED_OUT' : 'OPTED_IN';
        break;
      }
      case 'MESSAGE_DELIVERY': {
        details = { status: event.status, reason_code: event.reasonCode, channel: event.channel };
        if (!(
          event.status === 'FAILED' &&
          event.reasonCode &&
          REFUSAL_REASONS.has(event.reasonCode)
        )) {
          outcome = 'RECORDED';
          break;
        }
        outcome = 'RECIPIENT_REFUSED';
        refusalReason = event.reasonCode;
        // Proof that the recipient refused, next to the consent changes; consent is unchanged.
        if (identity) {
          const record = await this.audit.append(tx, {
            kind: AuditRecordKind.DELIVERY_REFUSED,
            projectId: app.projectId,
            appId: app.appId,
            identity,
            listType: null,
            origin: Origin.ORIGIN_MO,
            operation: null,
            outcome: null,
            actor: event.channel ? `sinch:${event.channel}` : 'sinch',
            reason: `delivery report FAILED: ${event.reasonCode}`,
            evidence: {
              message_id: event.messageId,
              status: event.status,
              reason_code: event.reasonCode,
              channel: event.channel,
            },
            batchId: null,
            eventTime: event.eventTime,
          });
          details.audit_record_id = record.id;
        }
        break;
      }
    }
    await this.repo.recordOutcome(tx, key, outcome, details);
    if (identity) {
      this.logger.debug(
        `webhook ${event.trigger} app=${app.appId} identity#${hashForLog(identity, this.config.LOG_HASH_SALT)} outcome=${outcome}`,
      );
    }
    return { status: 'PROCESSED', trigger: event.trigger, outcome, refusalReason };
  }

  private identityOf(event: SinchEvent): string | null {
    if (event.trigger === 'OTHER') return null;
    const raw = event.identity;
    if (raw === null) return null;
    try {
      return normalizeIdentity(raw);
    } catch (e) {
      if (e instanceof InvalidIdentityError)
        throw ApiError.field('identity', `identity ${e.message}`);
      throw e;
    }
  }

  /** Every 500 deliveries, drop nonces that can no longer pass the timestamp check. */
  private purgeNoncesNowAndThen(): void {
    if (++this.deliveriesSincePurge < 500) return;
    this.deliveriesSincePurge = 0;
    this.repo
      .forgetNoncesOlderThan(this.config.WEBHOOK_TIMESTAMP_WINDOW_S * 2)
      .catch((e: unknown) => this.logger.warn(`nonce purge failed: ${(e as Error).message}`));
  }
}

/** webhook_nonces.nonce is varchar(200). */
const MAX_NONCE_CHARS = 200;
const NONCE_HEADER = 'x-sinch-webhook-signature-nonce';

/** webhook_deliveries.delivery_key is varchar(300). */
const MAX_DELIVERY_KEY_CHARS = 300;

/**
 * The delivery key as derived, or, when it is longer than the column (a notification without
 * request_id for a long identity), its trigger prefix and a SHA-256 of it: still one key per
 * delivery. Ids are bounded by parseSinchEvent, so only that composite key can grow so long.
 */
function fitDeliveryKey(key: string): string {
  if (key.length <= MAX_DELIVERY_KEY_CHARS) return key;
  const prefix = key.slice(0, key.indexOf(':') + 1);
  return `${prefix}sha256:${createHash('sha256').update(key, 'utf8').digest('hex')}`;
}
