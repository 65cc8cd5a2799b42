import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnModuleInit,
} from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Scope } from '../auth/api-key.entity.js';
import { BearerAuthenticator } from '../auth/bearer-authenticator.js';
import { toErrorBody } from '../common/api-error.js';
import { toApiError } from '../common/api-exception.filter.js';
import { parseJsonBody } from '../common/json-body.js';
import { HotPaths } from '../common/hot-paths.js';
import { AppParams } from '../common/params.dto.js';
import { AppConfig } from '../config/app-config.js';
import { ConsentService } from './consent.service.js';
import { ContentType } from './domain/consent-types.js';
import { CheckRequestDto } from './dto/native-consents.dto.js';

const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';
/** POST /v1/projects/{project_id}/apps/{app_id}/consents:check, with an optional query string. */
const CHECK_PATH = /^\/v1\/projects\/([^/?#]+)\/apps\/([^/?#]+)\/consents:check(?:\?.*)?$/;
const JSON_MEDIA_TYPE = /^application\/json\s*(?:;|$)/i;
/** Fastify's router refuses longer path parameters (bootstrap's maxParamLength). */
const MAX_PARAM_LENGTH = 1024;

/**
 * The send check is the hot path: one call per message sent. Fastify's and Nest's per-request
 * pipeline (routing, a dozen hooks, the body parser, guards, pipes, execution contexts) costs more
 * CPU than the check itself, so plain requests to this route are answered straight from the
 * node:http server (see HotPaths), with the same authenticator, the same self-validating DTOs,
 * the same service and the same error mapping as the controller.
 *
 * "Plain" means: POST, the exact route, `Content-Type: application/json`, a Content-Length within
 * BODY_LIMIT_BYTES, path parameters that decode. Anything else (chunked bodies, other media
 * types, an empty or oversized body, shutdown in progress) is declined before a byte is read and
 * goes through Fastify to ConsentController.checkConsents, which stays the route's declaration
 * and OpenAPI documentation and answers the same (a test compares both).
 */
@Injectable()
export class CheckFastPath implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger('Errors');
  private readonly bodyLimit: number;
  private closing = false;

  constructor(
    @Inject(HotPaths) private readonly hotPaths: HotPaths,
    private readonly authenticator: BearerAuthenticator,
    private readonly consents: ConsentService,
    config: AppConfig,
  ) {
    this.bodyLimit = config.BODY_LIMIT_BYTES;
  }

  onModuleInit(): void {
    this.hotPaths.add((req, res) => this.take(req, res));
  }

  /** From here on Nest answers (503 while it shuts down). */
  beforeApplicationShutdown(): void {
    this.closing = true;
  }

  private take(req: IncomingMessage, res: ServerResponse): boolean {
    if (req.method !== 'POST' || this.closing) return false;
    const match = CHECK_PATH.exec(req.url ?? '');
    if (!match) return false;
    const contentType = req.headers['content-type'];
    if (contentType === undefined || !JSON_MEDIA_TYPE.test(contentType)) return false;
    if (req.headers['transfer-encoding'] !== undefined) return false;
    const length = Number(req.headers['content-length']);
    if (!(length > 0 && length <= this.bodyLimit)) return false;
    const projectId = decodeParam(match[1]!);
    const appId = decodeParam(match[2]!);
    if (projectId === null || appId === null) return false;

    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      void this.answer(req, res, projectId, appId, body);
    });
    // An aborted upload: nothing to answer.
    req.on('error', () => res.destroy());
    return true;
  }

  private async answer(
    req: IncomingMessage,
    res: ServerResponse,
    projectId: string,
    appId: string,
    body: Buffer,
  ): Promise<void> {
    try {
      const authorization = req.headers.authorization;
      if (!this.authenticator.isCachedWithScope(authorization, Scope.READ))
        await this.authenticator.authenticate(authorization, Scope.READ);
      const params = AppParams.fromPlain({ project_id: projectId, app_id: appId });
      const dto = CheckRequestDto.fromPlain(parseJsonBody(body));
      const app = { projectId: params.project_id, appId: params.app_id };
      const contentType = dto.message_content_type ?? ContentType.CONTENT_UNKNOWN;
      // As ConsentController.checkConsents: the point-in-time check when `at` is given.
      const answer =
        dto.at === undefined
          ? await this.consents.check(app, dto.identities, contentType)
          : await this.consents.checkAt(app, dto.identities, contentType, dto.at);
      // Serialised by the answer itself: no result object per identity (see CheckAnswer.toJson).
      send(res, 200, answer.toJson());
    } catch (e) {
      const error = toApiError(e, this.logger);
      send(res, error.httpStatus, JSON.stringify(toErrorBody(error)), error.headers);
    }
  }
}

/** A path parameter as Fastify's router gives it (percent-decoded), or null when it cannot be. */
function decodeParam(raw: string): string | null {
  if (raw.length > MAX_PARAM_LENGTH) return null;
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return null;
  }
}

function send(
  res: ServerResponse,
  status: number,
  body: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, {
    ...headers,
    'content-type': JSON_CONTENT_TYPE,
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}
