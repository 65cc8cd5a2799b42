import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiCreatedResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { Scope } from '../auth/api-key.entity.js';
import { RequireScope } from '../auth/auth.decorators.js';
import { ApiError } from '../common/api-error.js';
import { ApiErrorResponse } from '../common/api-error-response.js';
import { AppParams } from '../common/params.dto.js';
import { CallbacksService, MAX_CALLBACKS_PER_APP, noSuchCallback } from './callbacks.service.js';
import {
  CallbackDeliveryPageResponseDto,
  CallbackDto,
  CallbackEventParams,
  CallbackIdParams,
  CallbackListResponseDto,
  CreateCallbackRequestDto,
  DeliveriesQueryDto,
  RedeliverResponseDto,
  UpdateCallbackRequestDto,
} from './dto/callbacks.dto.js';

const NOT_FOUND = (): MethodDecorator =>
  ApiErrorResponse(
    404,
    'The app has no such callback subscription',
    noSuchCallback('01JDQ0Z6Y1ZJ7J8T5V7M3Q9K2A'),
  );

/**
 * Callback subscriptions: the company's other systems (CRM, marketing platform) are told of every
 * opt-in, opt-out, blocked send and send to an opted-out identity, in Sinch's callback format.
 */
@ApiTags('Callbacks')
@Controller('v1/projects/:project_id/apps/:app_id/callbacks')
export class CallbacksController {
  constructor(private readonly callbacks: CallbacksService) {}

  @Post()
  @RequireScope(Scope.ADMIN)
  @ApiOperation({
    summary: 'Subscribe a URL to callbacks',
    description: `Each event with one of the triggers is POSTed to target_url in Sinch's callback envelope (opt_in_notification, opt_out_notification, or consent_gate_send_notification), signed with the secret in Sinch's scheme (x-sinch-webhook-signature, -nonce, -timestamp, -algorithm), so the official Sinch SDK's validateWebhookSignature verifies it. Delivery is at least once, retried on network errors, timeouts, 429 and 5xx (5 s doubling up to CALLBACK_RETRY_MAX_MS, or after the target's Retry-After on a 429 or 503 when that is longer and within CALLBACK_RETRY_MAX_MS, for CALLBACK_GIVE_UP_AFTER_S); any other 4xx gives up at once. Order: this subscription's callbacks about one identity are delivered one at a time, in the order of the events, each only after the one before it was delivered or given up (a callback being retried holds back the later ones about that identity, for this subscription only; other identities and other subscriptions go on). Every payload also carries event_time and a sequence number (increasing with every event) to order by, since delivery is at least once and a redelivery repeats an old event. At most ${MAX_CALLBACKS_PER_APP} subscriptions per app.`,
  })
  @ApiCreatedResponse({ type: CallbackDto, description: 'The subscription stored' })
  @ApiErrorResponse(400, 'Invalid request: each failing field named in a google.rpc.BadRequest')
  createCallback(
    @Param() p: AppParams,
    @Body() dto: CreateCallbackRequestDto,
  ): Promise<CallbackDto> {
    return this.callbacks.create(app(p), dto);
  }

  @Get()
  @RequireScope(Scope.READ)
  @ApiOperation({ summary: "An app's callback subscriptions (secrets are never returned)" })
  @ApiOkResponse({ type: CallbackListResponseDto, description: "The app's subscriptions" })
  @ApiErrorResponse(400, 'Invalid request: each failing field named in a google.rpc.BadRequest')
  async listCallbacks(@Param() p: AppParams): Promise<CallbackListResponseDto> {
    return { callbacks: await this.callbacks.list(app(p)) };
  }

  @Get(':callback_id')
  @RequireScope(Scope.READ)
  @ApiOperation({ summary: 'One callback subscription' })
  @ApiOkResponse({ type: CallbackDto, description: 'The subscription' })
  @ApiErrorResponse(400, 'Invalid request: each failing field named in a google.rpc.BadRequest')
  @NOT_FOUND()
  getCallback(@Param() p: CallbackIdParams): Promise<CallbackDto> {
    return this.callbacks.get(app(p), p.callback_id);
  }

  @Patch(':callback_id')
  @RequireScope(Scope.ADMIN)
  @ApiOperation({
    summary: 'Change the target URL, the secret or the triggers (fields left out keep their value)',
    description:
      'Callbacks already queued are sent to the URL and signed with the secret in force when they are sent; a trigger removed stops new events only.',
  })
  @ApiOkResponse({ type: CallbackDto, description: 'The subscription, changed' })
  @ApiErrorResponse(400, 'Invalid request: each failing field named in a google.rpc.BadRequest')
  @NOT_FOUND()
  updateCallback(
    @Param() p: CallbackIdParams,
    @Body() dto: UpdateCallbackRequestDto,
  ): Promise<CallbackDto> {
    return this.callbacks.update(app(p), p.callback_id, dto);
  }

  @Delete(':callback_id')
  @RequireScope(Scope.ADMIN)
  @ApiOperation({
    summary: 'Delete a callback subscription',
    description:
      'Answers with the deleted subscription. Its delivery log goes with it, and its queued callbacks are not sent.',
  })
  @ApiOkResponse({ type: CallbackDto, description: 'The subscription deleted' })
  @ApiErrorResponse(400, 'Invalid request: each failing field named in a google.rpc.BadRequest')
  @NOT_FOUND()
  deleteCallback(@Param() p: CallbackIdParams): Promise<CallbackDto> {
    return this.callbacks.delete(app(p), p.callback_id);
  }

  @Get(':callback_id/deliveries')
  @RequireScope(Scope.READ)
  @ApiOperation({
    summary: "The subscription's delivery log: every attempt, newest first, paged",
    description:
      'With outcome=GAVE_UP, only the failed deliveries (redeliver one with :redeliver). Give the same outcome again with each page_token.',
  })
  @ApiOkResponse({
    type: CallbackDeliveryPageResponseDto,
    description: 'A page of deliveries, newest first',
  })
  @ApiErrorResponse(400, 'Invalid request: each failing field named in a google.rpc.BadRequest')
  @NOT_FOUND()
  async listCallbackDeliveries(
    @Param() p: CallbackIdParams,
    @Query() q: DeliveriesQueryDto,
  ): Promise<CallbackDeliveryPageResponseDto> {
    const page = await this.callbacks.deliveries(app(p), p.callback_id, {
      pageSize: q.page_size ?? 50,
      pageToken: q.page_token,
      outcome: q.outcome,
    });
    return { deliveries: page.deliveries, next_page_token: page.nextPageToken };
  }

  @Post(':callback_id/deliveries/:event_id(^[^/:]+)::redeliver')
  @HttpCode(202)
  @RequireScope(Scope.ADMIN)
  @ApiOperation({
    summary: 'Send an event to this subscription again',
    description:
      "Queues the exact body of the event (same event id, sequence and times; signed afresh) as a new job with its own retries. It takes its place at the end of the identity's queue for this subscription: it is sent after the callbacks about that identity already queued, and later ones wait for it. The event must have at least one recorded attempt for this subscription, else 404.",
  })
  @ApiAcceptedResponse({ type: RedeliverResponseDto, description: 'The redelivery queued' })
  @ApiErrorResponse(400, 'Invalid request: each failing field named in a google.rpc.BadRequest')
  @ApiErrorResponse(
    404,
    'No such subscription, or no recorded delivery of this event to it',
    ApiError.notFound(
      'Callback 01JDQ0Z6Y1ZJ7J8T5V7M3Q9K2A has no recorded delivery of event 01JDQ10ZB6T8D2V3SA4Q0C7M5N.',
    ),
  )
  redeliverCallbackEvent(@Param() p: CallbackEventParams): Promise<RedeliverResponseDto> {
    return this.callbacks.redeliver(app(p), p.callback_id, p.event_id);
  }
}

function app(p: AppParams): { projectId: string; appId: string } {
  return { projectId: p.project_id, appId: p.app_id };
}
