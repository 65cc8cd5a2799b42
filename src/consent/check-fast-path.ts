import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Scope } from '../auth/api-key.entity.js';
import { BearerAuthenticator } from '../auth/bearer-authenticator.js';
import { toErrorBody } from '../common/api-error.js';
import { toApiError } from '../common/api-exception.filter.js';
import { AppParams } from '../common/params.dto.js';
import { ConsentService } from './consent.service.js';
import { ContentType } from './domain/consent-types.js';
import { CheckRequestDto } from './dto/native-consents.dto.js';

const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/** The route of ConsentsController.checkConsents, as Fastify knows it. */
export const CHECK_ROUTE = '/v1/projects/:project_id/apps/:app_id/consents::check';

/**
 * The send check is the hot path (one call per message sent). Nest's per-request pipeline
 * (guard and pipe lookups, execution contexts) cost more CPU than the check's own work, so this
 * Fastify preHandler answers the route directly, with the same authenticator, the same
 * self-validating DTOs, the same service and the same error mapping as the controller, which
 * stays the route's declaration and OpenAPI documentation.
 */
@Injectable()
export class CheckFastPath implements OnModuleInit {
  private readonly logger = new Logger('Errors');

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly authenticator: BearerAuthenticator,
    private readonly consents: ConsentService,
  ) {}

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    fastify.addHook('preHandler', (req, reply, done) => {
      if (req.routeOptions.url !== CHECK_ROUTE || req.method !== 'POST') {
        done();
        return;
      }
      // Answered here; Fastify skips the route handler once the reply is sent.
      void this.answer(req, reply);
    });
  }

  private async answer(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    try {
      const authorization = req.headers.authorization;
      if (!this.authenticator.isCachedWithScope(authorization, Scope.READ))
        await this.authenticator.authenticate(authorization, Scope.READ);
      const params = AppParams.fromPlain(req.params);
      const dto = CheckRequestDto.fromPlain(req.body);
      const answer = await this.consents.check(
        { projectId: params.project_id, appId: params.app_id },
        dto.identities,
        dto.message_content_type ?? ContentType.CONTENT_UNKNOWN,
      );
      // Serialised by the answer itself: no result object per identity (see CheckAnswer.toJson).
      await reply.header('content-type', JSON_CONTENT_TYPE).send(answer.toJson());
    } catch (e) {
      const error = toApiError(e, this.logger);
      for (const [name, value] of Object.entries(error.headers)) void reply.header(name, value);
      await reply
        .status(error.httpStatus)
        .header('content-type', JSON_CONTENT_TYPE)
        .send(toErrorBody(error));
    }
  }
}
