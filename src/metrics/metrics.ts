import { Controller, Get, Header, Injectable, Module } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
import { Public } from '../auth/auth.decorators.js';

/** Prometheus metrics of this instance (one registry per app instance, so tests stay apart). */
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

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'consent_gate_' });
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
