import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { ApiError, ErrorDetail } from '../common/api-error.js';
import { hashForLog } from '../common/log-safe.js';
import { AppConfig } from '../config/app-config.js';
import { CallbackEmitter } from '../callbacks/callback-emitter.js';
import { ContactsRepository } from '../contacts/contacts.repository.js';
import { ConsentService } from '../consent/consent.service.js';
import { ConsentMode, Decision, ListType } from '../consent/domain/consent-types.js';
import type { AppRef } from '../kernel/app-ref.js';
import { SinchClient } from '../sinch/sinch-client.js';
import { SINCH_CLIENT } from '../sinch/sinch.module.js';
import type { RecipientIdentity, SendMessageRequestDto } from './dto/send-message.dto.js';
import {
  NewSendAttempt,
  SendAttemptContext,
  SendAttemptDecision,
  SendGateRepository,
  StoredSendAttempt,
} from './send-gate.repository.js';

/** What the caller gets back when the send was forwarded: Sinch's answer as it came. */
export interface ForwardedAnswer {
  status: number;
  body: string;
  contentType: string;
}

/** google.rpc.ErrorInfo reason of a send blocked by consent. */
export const RECIPIENT_OPTED_OUT = 'RECIPIENT_OPTED_OUT';
/** HTTP status of a send blocked by consent (rpc status PERMISSION_DENIED). */
export const BLOCKED_HTTP_STATUS = 403;
/** At most this many ErrorInfo details in a blocked answer (one per blocked identity). */
const MAX_BLOCKED_DETAILS = 20;

/**
 * The send gate: Sinch's messages:send, checked against the consent lists first.
 *
 * - PRIMARY and any recipient identity blocked: nothing is forwarded; one send_attempts row
 *   (BLOCKED) and one SEND_BLOCKED callback per blocked identity, in one transaction; 403.
 * - Otherwise the exact request body goes to Sinch (the caller's project id, the service's
 *   credentials) and Sinch's status and body come back unchanged. In SECONDARY mode, opted-out
 *   identities of a send that Sinch accepted (2xx) get a SENT_TO_OPTED_OUT row and callback.
 */
@Injectable()
export class SendGateService {
  private readonly logger = new Logger('SendGate');

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly consents: ConsentService,
    private readonly repo: SendGateRepository,
    private readonly contacts: ContactsRepository,
    private readonly callbacks: CallbackEmitter,
    @Inject(SINCH_CLIENT) private readonly sinch: SinchClient | null,
    private readonly config: AppConfig,
  ) {}

  async send(
    projectId: string,
    req: SendMessageRequestDto,
    rawBody: string,
    actor: string,
  ): Promise<ForwardedAnswer> {
    const app: AppRef = { projectId, appId: req.app_id };
    const targets = dedupe(
      req.contactId !== null
        ? await this.contacts.identitiesOf(app, req.contactId)
        : req.identities,
    );

    // One consent query for all the recipient's identities (an unknown contact has none).
    const flagged: (NewSendAttempt & { decision: Decision; reason: string })[] = [];
    let mode: ConsentMode | null = null;
    if (targets.length > 0) {
      const checked = await this.consents.check(
        app,
        targets.map((t) => t.identity),
        req.contentType,
      );
      mode = checked.mode;
      checked.results.forEach((r, i) => {
        if (r.opted_out)
          flagged.push({
            identity: r.identity,
            channel: targets[i]!.channel,
            lists: r.lists,
            decision: r.decision,
            reason: r.reason,
          });
      });
    }

    const blocked = flagged.filter((f) => f.decision === Decision.BLOCK);
    if (blocked.length > 0) {
      const rows = await this.record(app, req, actor, 'BLOCKED', blocked);
      this.logger.log(
        `send blocked app=${app.appId} actor=${actor} content=${req.contentType} identities=${rows
          .map((r) => `#${this.hash(r.identity)}`)
          .join(',')}`,
      );
      throw blockedError(req.contentType, mode ?? ConsentMode.PRIMARY, rows);
    }

    if (!this.sinch) {
      throw sinchNotConfigured();
    }
    const out = await this.sinch.forward(
      `/v1/projects/${encodeURIComponent(projectId)}/messages:send`,
      rawBody,
    );
    if (!out.ok) {
      this.logger.warn(`send not forwarded app=${app.appId}: ${out.error}`);
      throw new ApiError(
        502,
        'UNAVAILABLE',
        out.stage === 'network'
          ? `Sinch did not answer (${out.error}); the message may or may not have been accepted.`
          : `Could not get a Sinch access token (${out.error}); the message was not sent.`,
      );
    }
    if (out.status === 401) {
      // Sinch refused the service's own credentials (after one renewal): not the caller's token.
      this.logger.warn(`send not forwarded app=${app.appId}: Sinch answered 401 to our token`);
      throw sinchRefusedCredentials();
    }

    if (flagged.length > 0 && out.status >= 200 && out.status < 300) {
      // Sinch has the message: a failure to record must not turn into an error (the caller
      // would send again).
      try {
        await this.record(app, req, actor, 'SENT_TO_OPTED_OUT', flagged);
      } catch (e) {
        this.logger.error(
          `send to opted-out identities forwarded but not recorded app=${app.appId}: ${(e as Error).message}`,
        );
      }
    }
    return {
      status: out.status,
      body: out.body,
      contentType: out.contentType ?? 'application/json',
    };
  }

  /** send_attempts rows and their callbacks, in one transaction. */
  private record(
    app: AppRef,
    req: SendMessageRequestDto,
    actor: string,
    decision: SendAttemptDecision,
    attempts: NewSendAttempt[],
  ): Promise<StoredSendAttempt[]> {
    const ctx: SendAttemptContext = {
      app,
      messageContentType: req.contentType,
      decision,
      actor,
      correlationId: req.correlationId,
    };
    return this.dataSource.transaction(async (tx) => {
      const rows = await this.repo.insertAttempts(tx, ctx, attempts);
      for (const row of rows) {
        await this.callbacks.emit(tx, app, {
          trigger: decision === 'BLOCKED' ? 'SEND_BLOCKED' : 'SENT_TO_OPTED_OUT',
          identity: row.identity,
          channel: row.channel,
          lists: row.lists,
          messageContentType: req.contentType,
          sendAttemptId: row.id,
          eventTime: row.created_at,
          correlationId: req.correlationId,
        });
      }
      return rows;
    });
  }

  private hash(identity: string): string {
    return hashForLog(identity, this.config.LOG_HASH_SALT);
  }
}

/** One (channel, identity) pair once. */
function dedupe(targets: RecipientIdentity[]): RecipientIdentity[] {
  if (targets.length < 2) return targets;
  const seen = new Set<string>();
  return targets.filter((t) => {
    const key = `${t.channel}\0${t.identity}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** 503: the service has no Sinch credentials to forward with. */
export function sinchNotConfigured(): ApiError {
  return new ApiError(
    503,
    'UNAVAILABLE',
    'Sinch credentials are not configured (SINCH_PROJECT_ID, SINCH_KEY_ID, SINCH_KEY_SECRET): the send gate cannot forward messages.',
  );
}

/** 502: Sinch answered 401 to the service's own token (after one renewal). */
export function sinchRefusedCredentials(): ApiError {
  return new ApiError(
    502,
    'UNAVAILABLE',
    'Sinch refused the credentials of the service (HTTP 401 on messages:send); the message was not sent.',
  );
}

/**
 * 403 PERMISSION_DENIED, with one google.rpc.ErrorInfo (reason RECIPIENT_OPTED_OUT) per blocked
 * identity: its lists, channel, identity and the id of the send_attempts row.
 */
export function blockedError(
  contentType: string,
  mode: ConsentMode,
  rows: StoredSendAttempt[],
): ApiError {
  const lists = [...new Set(rows.flatMap((r) => r.lists))].sort() as ListType[];
  const who = rows.length === 1 ? 'the recipient is' : `${rows.length} recipient identities are`;
  const message = `Blocked by consent (${mode} mode): ${who} on ${lists.join(', ')}, which blocks ${contentType}. The message was not sent.`;
  const details: ErrorDetail[] = rows.slice(0, MAX_BLOCKED_DETAILS).map((r) => ({
    '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
    reason: RECIPIENT_OPTED_OUT,
    metadata: {
      list_type: r.lists.join(','),
      message_content_type: contentType,
      identity: r.identity,
      ...(r.channel ? { channel: r.channel } : {}),
      send_attempt_id: r.id,
    },
  }));
  return new ApiError(BLOCKED_HTTP_STATUS, 'PERMISSION_DENIED', message, details);
}
