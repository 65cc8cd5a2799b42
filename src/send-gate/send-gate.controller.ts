import { Body, Controller, Param, Post, Req, Res } from '@nestjs/common';
import type { RawBodyRequest } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Scope } from '../auth/api-key.entity.js';
import { RequireScope } from '../auth/auth.decorators.js';
import { CurrentPrincipal } from '../auth/current-principal.decorator.js';
import type { Principal } from '../auth/principal.js';
import { ApiError } from '../common/api-error.js';
import { ApiErrorResponse } from '../common/api-error-response.js';
import { invalidId } from '../common/params.dto.js';
import { ConsentMode, ContentType, ListType } from '../consent/domain/consent-types.js';
import {
  SendMessageParams,
  SendMessageRequestDto,
  SendMessageResponseDto,
} from './dto/send-message.dto.js';
import {
  blockedError,
  SendGateService,
  sinchNotConfigured,
  sinchRefusedCredentials,
} from './send-gate.service.js';

/** Sinch's messages:send, behind the consent check (see SendGateService). */
@ApiTags('Send gate')
@Controller('v1/projects/:project_id')
export class SendGateController {
  constructor(private readonly gate: SendGateService) {}

  @Post('messages::send')
  @ApiOperation({
    summary: "Sinch's messages:send, checked against the consent lists first",
    description: [
      "Wire-compatible with Sinch's Conversation API messages:send: a service using the official Sinch SDK switches to it by pointing `conversationHostname` (and `authHostname`, for POST /oauth2/token) at this service.",
      'The app (`app_id`) and `message_content_type` (absent: CONTENT_UNKNOWN) are decided with the consent check of POST .../consents:check: every identity in `recipient.identified_by.channel_identities` is checked. A `recipient.contact_id` is checked against the channel identities this service has seen for that contact in Sinch webhooks (MESSAGE_INBOUND, OPT_IN, OPT_OUT); **a contact never seen has no identity known to be opted out, and the send is forwarded**.',
      '**PRIMARY mode, any identity blocked**: nothing is sent. The answer is 403 with status PERMISSION_DENIED and one `google.rpc.ErrorInfo` per blocked identity: reason `RECIPIENT_OPTED_OUT`, metadata `list_type`, `message_content_type`, `identity`, `channel`, `send_attempt_id`. The blocked attempt is recorded (append-only) and a SEND_BLOCKED callback is queued.',
      "**Otherwise** the request body is forwarded byte for byte to Sinch's messages:send for the same project id, with the service's own Sinch credentials, and Sinch's HTTP status and body come back unchanged, errors included. In SECONDARY mode a send that Sinch accepted (2xx) to an opted-out identity is recorded and a SENT_TO_OPTED_OUT callback is queued.",
      "Fields other than those checked are not validated and are forwarded as received (Sinch's own validation answers for them). Gated fields spelt in lowerCamelCase (`appId`, `messageContentType`, `contactId`, `identifiedBy`, `channelIdentities`, `correlationId`) are refused: Sinch would read them, the gate would not.",
      "Errors of the gate itself: 400 invalid recipient / app_id / content type, 401, 403 (missing write scope, or blocked), 502 UNAVAILABLE when Sinch does not answer (network error, timeout; the message may have been accepted) or refuses the service's credentials, 503 when the service has no Sinch credentials.",
    ].join('\n\n'),
  })
  @ApiBody({ type: SendMessageRequestDto })
  @ApiOkResponse({ type: SendMessageResponseDto, description: "Sinch's answer, passed through" })
  @ApiErrorResponse(
    400,
    'Invalid request (from the gate, or passed through from Sinch)',
    ApiError.invalidRequest([invalidId('project_id')]),
  )
  @ApiErrorResponse(
    403,
    'Or blocked by consent (PRIMARY mode): PERMISSION_DENIED with one google.rpc.ErrorInfo per blocked identity, reason RECIPIENT_OPTED_OUT',
    blockedError(ContentType.CONTENT_MARKETING, ConsentMode.PRIMARY, [
      {
        id: '1042',
        identity: '46732001122',
        channel: 'WHATSAPP',
        lists: [ListType.OPT_OUT_MARKETING],
        created_at: new Date(0),
      },
    ]),
  )
  @ApiErrorResponse(
    502,
    "Sinch did not answer, or refused the service's credentials",
    sinchRefusedCredentials(),
  )
  @ApiErrorResponse(
    503,
    'No Sinch credentials configured, or the database is unavailable',
    sinchNotConfigured(),
  )
  @RequireScope(Scope.WRITE)
  async sendMessage(
    @Param() p: SendMessageParams,
    @Body() dto: SendMessageRequestDto,
    @CurrentPrincipal() by: Principal,
    @Req() req: RawBodyRequest<FastifyRequest>,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const raw = req.rawBody ? req.rawBody.toString('utf8') : JSON.stringify(req.body);
    const answer = await this.gate.send(p.project_id, dto, raw, by.keyId);
    void reply.status(answer.status).header('content-type', answer.contentType).send(answer.body);
  }
}
