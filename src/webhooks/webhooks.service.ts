import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { ApiError } from '../common/api-error.js';
import { hashForLog } from '../common/log-safe.js';
import { ContactsRepository } from '../contacts/contacts.repository.js';
import { normalizeIdentityField } from '../consent/consent.service.js';
import type { AppRef } from '../kernel/app-ref.js';
import { NONCE_HEADER, SignatureHeaders, verifySignature } from '../kernel/sinch-signature.js';
import { Metrics } from '../metrics/metrics.js';
import { SettingsService } from '../settings/settings.service.js';
import { deliveryKeyOf, HandledEvent } from './domain/delivery-key.js';
import { MalformedEventError, parseSinchEvent, SinchEvent } from './domain/sinch-event.js';
import { DeliveryReportHandler } from './triggers/delivery-report.handler.js';
import { InboundMessageHandler } from './triggers/inbound-message.handler.js';
import { OptNotificationHandler } from './triggers/opt-notification.handler.js';
import { TriggerHandler, TriggerHandlers } from './triggers/trigger-handler.js';
import { WebhooksRepository } from './webhooks.repository.js';

export interface WebhookResult {
  status: 'PROCESSED' | 'DUPLICATE' | 'IGNORED';
  trigger: string;
  outcome: string;
}

/** What process() found, with what the metrics need beyond the answer to Sinch. */
interface ProcessResult extends WebhookResult {
  refusalReason?: string;
}

/**
 * Sinch webhook intake: verify, deduplicate, hand the event to its trigger's handler (triggers/).
 * The consent change, its audit record, the delivery record and the pending reply are committed
 * in one transaction before we answer 200; any failure rolls all of it back and answers an
 * error, so Sinch retries.
 */
@Injectable()
export class WebhooksService {
  private readonly logger = new Logger('Webhooks');
  private deliveriesSincePurge = 0;
  private readonly handlers: TriggerHandlers;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly repo: WebhooksRepository,
    private readonly settings: SettingsService,
    private readonly contacts: ContactsRepository,
    private readonly metrics: Metrics,
    private readonly config: AppConfig,
    inbound: InboundMessageHandler,
    optNotifications: OptNotificationHandler,
    deliveryReports: DeliveryReportHandler,
  ) {
    this.handlers = {
      MESSAGE_INBOUND: inbound,
      OPT_IN: optNotifications,
      OPT_OUT: optNotifications,
      MESSAGE_DELIVERY: deliveryReports,
    };
  }

  async handle(body: unknown, rawBody: Buffer, headers: SignatureHeaders): Promise<WebhookResult> {
    let event: SinchEvent;
    try {
      event = parseSinchEvent(body);
    } catch (e) {
      if (e instanceof MalformedEventError) {
        this.metrics.webhookRejections.inc({ reason: 'MALFORMED' });
        throw notASinchCallback(e);
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
      throw unknownWebhookApp();
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
        throw badWebhookSignature();
      }
      nonce = verdict.nonce;
    }

    // What the trigger's handler does before the transaction (reads of cached configuration).
    const prepared =
      event.trigger === 'OTHER' ? undefined : await this.handlerFor(event).prepare?.(app, event);

    const { refusalReason, ...result } = await this.dataSource.transaction(async (tx) => {
      if (nonce !== null && !(await this.repo.rememberNonce(tx, nonce))) {
        this.metrics.webhookRejections.inc({ reason: 'REPLAYED_NONCE' });
        throw ApiError.unauthenticated(
          'Replayed Sinch webhook (nonce already seen).',
          'Sinch-HMAC',
        );
      }
      return this.process(tx, app, event, prepared);
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
    prepared: unknown,
  ): Promise<ProcessResult> {
    if (event.trigger === 'OTHER') {
      return { status: 'IGNORED', trigger: event.name, outcome: 'IGNORED_TRIGGER' };
    }
    const identity = this.identityOf(event);
    const key = {
      projectId: app.projectId,
      appId: app.appId,
      deliveryKey: deliveryKeyOf(event, identity),
    };
    const claimed = await this.repo.claimDelivery(tx, {
      ...key,
      trigger: event.trigger,
      identity,
      eventTime: event.eventTime,
    });
    if (!claimed) return { status: 'DUPLICATE', trigger: event.trigger, outcome: 'DUPLICATE' };

    // The send gate checks sends by contact_id against the identities seen for the contact.
    if ('contactId' in event && event.contactId && identity) {
      await this.contacts.record(tx, app, {
        contactId: event.contactId,
        channel: event.channel,
        identity,
      });
    }

    const { outcome, details, refusalReason } = await this.handlerFor(event).apply(
      tx,
      { app, event, identity },
      prepared,
    );
    await this.repo.recordOutcome(tx, key, outcome, details);
    if (identity) {
      this.logger.debug(
        `webhook ${event.trigger} app=${app.appId} identity#${hashForLog(identity, this.config.LOG_HASH_SALT)} outcome=${outcome}`,
      );
    }
    return { status: 'PROCESSED', trigger: event.trigger, outcome, refusalReason };
  }

  /** The handler of the event's trigger (the map is typed by trigger; TS cannot follow it). */
  private handlerFor<E extends HandledEvent>(event: E): TriggerHandler<E, unknown> {
    return this.handlers[event.trigger] as TriggerHandler<E, unknown>;
  }

  /** The event's identity, normalised; a 400 when it is not an identity. */
  private identityOf(event: HandledEvent): string | null {
    return event.identity === null ? null : normalizeIdentityField(event.identity, 'identity');
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

/** The 400 of a body that is not a Sinch callback we can record. */
export function notASinchCallback(e: MalformedEventError): ApiError {
  return ApiError.invalidRequest(
    [{ field: e.field, description: e.description }],
    `Not a Sinch callback: ${e.message}`,
  );
}

/** The 401 of a delivery whose signature matches none of the app's webhook secrets. */
export function badWebhookSignature(): ApiError {
  return ApiError.unauthenticated('Invalid Sinch webhook signature.', 'Sinch-HMAC');
}

/** The 404 of a delivery for an app without consent settings. */
export function unknownWebhookApp(): ApiError {
  return ApiError.notFound('Unknown app: configure it with PUT .../consent-settings first.');
}
