import { Body, Controller, Get, Headers, HttpCode, Param, Post, Req } from '@nestjs/common';
import type { RawBodyRequest } from '@nestjs/common';
import {
  ApiBody,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiProperty,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { Scope } from '../auth/api-key.entity.js';
import { Public, RequireScope } from '../auth/auth.decorators.js';
import { ApiErrorResponse } from '../common/api-error-response.js';
import { ConsentService } from '../consent/consent.service.js';
import {
  NONCE_HEADER,
  SIGNATURE_HEADER,
  signatureHeadersOf,
  TIMESTAMP_HEADER,
} from '../kernel/sinch-signature.js';
import { IdentityParams } from '../consent/dto/sinch-consents.dto.js';
import { WebhooksRepository } from './webhooks.repository.js';
import { MalformedEventError } from './domain/sinch-event.js';
import {
  badWebhookSignature,
  notASinchCallback,
  unknownWebhookApp,
  WebhooksService,
} from './webhooks.service.js';

class WebhookAckDto {
  @ApiProperty({
    enum: ['PROCESSED', 'DUPLICATE', 'IGNORED'],
    enumName: 'WebhookStatus',
    example: 'PROCESSED',
  })
  status: string;

  @ApiProperty({
    description: 'Sinch trigger derived from the payload key',
    example: 'MESSAGE_INBOUND',
  })
  trigger: string;

  @ApiProperty({
    description:
      'What was done: KEYWORD_OPT_OUT, KEYWORD_OPT_IN, KEYWORD_HELP, NO_KEYWORD, NOT_TEXT, OPTED_OUT, OPTED_IN, STATUS_NOT_SUCCEEDED, RECORDED, RECIPIENT_REFUSED, IGNORED_TRIGGER or DUPLICATE',
    example: 'KEYWORD_OPT_OUT',
  })
  outcome: string;
}

class WebhookEventDto {
  @ApiProperty({ example: 'inbound:01EQ8235TD19N21XQTH12B145D' })
  delivery_key: string;

  @ApiProperty({ example: 'MESSAGE_DELIVERY' })
  trigger: string;

  @ApiProperty({ example: 'RECIPIENT_REFUSED' })
  outcome: string;

  @ApiProperty({ type: 'object', additionalProperties: true, nullable: true })
  details: Record<string, unknown> | null;

  @ApiProperty({ format: 'date-time' })
  event_time: string;

  @ApiProperty({ format: 'date-time' })
  received_at: string;
}

class WebhookEventListDto {
  @ApiProperty({ type: [WebhookEventDto] })
  webhook_events: WebhookEventDto[];
}

@ApiTags('Sinch webhooks')
@Controller()
export class WebhooksController {
  constructor(
    private readonly webhooks: WebhooksService,
    private readonly repo: WebhooksRepository,
    private readonly consents: ConsentService,
  ) {}

  @Post('webhooks/sinch')
  @Public()
  @HttpCode(200)
  @ApiOperation({
    summary: 'Sinch Conversation API callback endpoint (one URL for all apps)',
    description:
      'The app is the payload\'s app_id + project_id and must have consent settings. With webhook_secrets set, the three x-sinch-webhook-signature headers are required: base64 HMAC-SHA256 over rawBody + "." + nonce + "." + timestamp, timestamp within WEBHOOK_TIMESTAMP_WINDOW_S, nonce never seen before. A delivery (message id, request id, or delivery report message id + status) is processed once; repeats answer 200 DUPLICATE. 200 only after everything is committed; 503 when the database is down, so that Sinch retries.',
  })
  @ApiHeader({ name: SIGNATURE_HEADER, required: false })
  @ApiHeader({ name: NONCE_HEADER, required: false })
  @ApiHeader({ name: TIMESTAMP_HEADER, required: false })
  @ApiBody({
    description:
      'A Sinch callback: app_id, project_id, accepted_time, event_time and one payload key',
    schema: { type: 'object', additionalProperties: true },
  })
  @ApiOkResponse({ type: WebhookAckDto, description: 'The event taken (or knowingly ignored)' })
  @ApiErrorResponse(
    400,
    'Not a Sinch callback (the failing field named), or a too long nonce header',
    notASinchCallback(new MalformedEventError('', 'no known Sinch payload key')),
  )
  @ApiErrorResponse(
    401,
    'The signature matches none of the webhook secrets, or a replayed nonce',
    badWebhookSignature(),
  )
  @ApiErrorResponse(404, 'The app has no consent settings', unknownWebhookApp())
  @ApiErrorResponse(503, 'The database is unavailable (Sinch retries)')
  receiveSinchWebhook(
    @Req() req: RawBodyRequest<FastifyRequest>,
    @Body() body: unknown,
    @Headers() headers: Record<string, string | undefined>,
  ): Promise<WebhookAckDto> {
    return this.webhooks.handle(body, req.rawBody ?? Buffer.alloc(0), signatureHeadersOf(headers));
  }

  @Get('v1/projects/:project_id/apps/:app_id/identities/:identity/webhook-events')
  @RequireScope(Scope.READ)
  @ApiOperation({
    summary:
      "An identity's Sinch webhook deliveries (keyword matches, opt notifications, delivery reports), newest first, last 200",
  })
  @ApiOkResponse({ type: WebhookEventListDto, description: 'The webhook events recorded' })
  @ApiErrorResponse(400, 'Invalid request: each failing field named in a google.rpc.BadRequest')
  async listIdentityWebhookEvents(@Param() p: IdentityParams): Promise<WebhookEventListDto> {
    const identity = this.consents.normalize(p.identity, 'identity');
    const rows = await this.repo.listForIdentity(p.project_id, p.app_id, identity, 200);
    return {
      webhook_events: rows.map((r) => ({
        delivery_key: r.delivery_key,
        trigger: r.trigger,
        outcome: r.outcome,
        details: r.details,
        event_time: r.event_time.toISOString(),
        received_at: r.received_at.toISOString(),
      })),
    };
  }
}
