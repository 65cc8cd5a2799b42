import { Controller, Get, Header, Injectable, Module } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
import { Public } from '../auth/auth.decorators.js';

/** Why a webhook delivery is refused before processing (consent_gate_webhook_rejections_total). */
export const WEBHOOK_REJECTION_REASONS = [
  'MALFORMED',
  'UNKNOWN_APP',
  'MISSING_HEADERS',
  'BAD_TIMESTAMP',
  'STALE_TIMESTAMP',
  'BAD_SIGNATURE',
  'REPLAYED_NONCE',
] as const;

/** A confirmation reply's final outcome (its audit record REPLY_SENT, REPLY_FAILED, REPLY_IN_DOUBT). */
export const REPLY_OUTCOMES = ['SENT', 'FAILED', 'IN_DOUBT'] as const;

/** A recorded callback delivery attempt's outcome (as in GET .../callbacks/{id}/deliveries). */
export const CALLBACK_DELIVERY_OUTCOMES = ['SUCCEEDED', 'RETRYING', 'GAVE_UP'] as const;

/**
 * Prometheus metrics of this instance (one registry per app instance, so tests stay apart).
 * Counters count what this instance did since it started; sum them over the instances. The
 * counters an alert watches start at 0 for each of their label values (so that the first event
 * is an increase, and the series exist before anything happened).
 */
@Injectable()
export class Metrics {
  readonly registry = new Registry();

  readonly webhookDeliveries = new Counter({
    name: 'consent_gate_webhook_deliveries_total',
    help: 'Sinch webhook deliveries by trigger and outcome',
    labelNames: ['trigger', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly webhookRejections = new Counter({
    name: 'consent_gate_webhook_rejections_total',
    help: 'Sinch webhook deliveries refused before processing, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  /** Refused deliveries are also in consent_audit (kind DELIVERY_REFUSED); duplicates are not counted. */
  readonly recipientRefusals = new Counter({
    name: 'consent_gate_recipient_refusals_total',
    help: 'FAILED Sinch delivery reports whose reason says the recipient refused, by reason code',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  /** Counted by the instance whose worker recorded the outcome. */
  readonly replies = new Counter({
    name: 'consent_gate_replies_total',
    help: 'Confirmation replies finished, by final outcome (SENT, FAILED, IN_DOUBT)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  /** One per row of the deliveries log, counted by the instance whose worker made the attempt. */
  readonly callbackDeliveries = new Counter({
    name: 'consent_gate_callback_deliveries_total',
    help: 'Callback delivery attempts recorded, by outcome (SUCCEEDED, RETRYING, GAVE_UP)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'consent_gate_' });
    for (const reason of WEBHOOK_REJECTION_REASONS) this.webhookRejections.inc({ reason }, 0);
    for (const outcome of REPLY_OUTCOMES) this.replies.inc({ outcome }, 0);
    for (const outcome of CALLBACK_DELIVERY_OUTCOMES) this.callbackDeliveries.inc({ outcome }, 0);
  }
}

@ApiTags('Health')
@Public()
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: Metrics) {}

  @Get()
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  @ApiOperation({ summary: 'Prometheus metrics (no auth: expose only on an internal network)' })
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'Prometheus text format', type: String })
  metricsText(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}

@Module({ providers: [Metrics], controllers: [MetricsController], exports: [Metrics] })
export class MetricsModule {}
