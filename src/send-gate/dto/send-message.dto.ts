import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ApiError, FieldViolation } from '../../common/api-error.js';
import { RESOURCE_ID_PATTERN } from '../../common/ids.js';
import { invalidId } from '../../common/params.dto.js';
import { plainBody } from '../../common/self-validating.js';
import { ContentType } from '../../consent/domain/consent-types.js';
import { InvalidIdentityError, normalizeIdentity } from '../../consent/domain/identity.js';

/** More channel identities than any recipient has channels; keeps the check bounded. */
export const MAX_CHANNEL_IDENTITIES = 100;
/** send_attempts.channel and contact_identities.channel are varchar(32). */
export const MAX_CHANNEL_CHARS = 32;
const MAX_CONTACT_ID_CHARS = 128;

const CONTENT_TYPES = new Set<string>(Object.values(ContentType));

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Self-validating (see SelfValidating): the send gate is a hot path. */
export class SendMessageParams {
  @ApiProperty({
    description:
      'Sinch project id. The request is forwarded to this project at Sinch (transparent proxy), with the service credentials (SINCH_KEY_ID / SINCH_KEY_SECRET), which must be allowed to send for it.',
    example: 'c36f3d3d-1523-4edd-ae42-11995557ff61',
  })
  project_id: string;

  static fromPlain(value: unknown): SendMessageParams {
    const v = isObj(value) ? value : {};
    const id = v.project_id;
    if (typeof id !== 'string' || !RESOURCE_ID_PATTERN.test(id)) {
      throw ApiError.invalidRequest([invalidId('project_id')]);
    }
    return Object.assign(new SendMessageParams(), { project_id: id });
  }
}

export class ChannelRecipientIdentityDto {
  @ApiProperty({
    description: 'Conversation API channel (SMS, WHATSAPP, RCS, ...), at most 32 characters',
    example: 'SMS',
  })
  channel: string;

  @ApiProperty({
    description:
      'The channel identity; checked in its normalised form (phone numbers: digits only)',
    example: '+46732001122',
  })
  identity: string;

  @ApiPropertyOptional({
    description: 'For app-scoped channel identities (Messenger, ...); forwarded as given',
  })
  app_id?: string;
}

export class IdentifiedByDto {
  @ApiProperty({
    type: [ChannelRecipientIdentityDto],
    minItems: 1,
    maxItems: MAX_CHANNEL_IDENTITIES,
    description: 'Every identity is checked; in PRIMARY mode one blocked identity blocks the send',
  })
  channel_identities: ChannelRecipientIdentityDto[];
}

export class RecipientDto {
  @ApiPropertyOptional({
    description:
      'A Sinch contact. Checked against the channel identities this service has seen for the contact in Sinch webhooks (MESSAGE_INBOUND, OPT_IN, OPT_OUT with a contact_id). A contact never seen has no identity known to be opted out: the send is forwarded.',
    example: '01EQ4174TGGY5B1VPTPGHW19R0',
  })
  contact_id?: string;

  @ApiPropertyOptional({ type: IdentifiedByDto })
  identified_by?: IdentifiedByDto;
}

/** A channel identity of the recipient, as the gate checks it. */
export interface RecipientIdentity {
  channel: string;
  /** Normalised. */
  identity: string;
}

/**
 * Sinch's SendMessageRequest. Only what the gate needs is validated; every other field (and any
 * field Sinch adds later) is forwarded as received, in the exact bytes received.
 */
export class SendMessageRequestDto {
  @ApiProperty({ description: 'Conversation API app id', example: '01EB37HMH1M6SV18ABNS3G135H' })
  app_id: string;

  @ApiProperty({
    type: RecipientDto,
    description: 'Exactly one of contact_id and identified_by',
  })
  recipient: RecipientDto;

  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    description:
      "Sinch's AppMessage (text_message, media_message, template_message, ...), forwarded as is",
    example: { text_message: { text: 'Spring sale: 20% off this weekend' } },
  })
  message: Record<string, unknown>;

  @ApiPropertyOptional({
    enum: ContentType,
    enumName: 'MessageContentType',
    default: ContentType.CONTENT_UNKNOWN,
    description:
      'Decides which lists apply: OPT_OUT_ALL always, OPT_OUT_MARKETING for CONTENT_MARKETING, OPT_OUT_NOTIFICATION for CONTENT_NOTIFICATION',
    example: ContentType.CONTENT_MARKETING,
  })
  message_content_type?: ContentType;

  @ApiPropertyOptional({
    description: 'Kept with the record of a blocked or opted-out send (at most 128 characters)',
  })
  correlation_id?: string;

  @ApiPropertyOptional({ type: [String], example: ['SMS'] })
  channel_priority_order?: string[];

  @ApiPropertyOptional()
  message_metadata?: string;

  @ApiPropertyOptional()
  callback_url?: string;

  @ApiPropertyOptional({ example: '86400s' })
  ttl?: string;

  @ApiPropertyOptional({ example: 'DEFAULT' })
  processing_strategy?: string;

  @ApiPropertyOptional({ example: 'NORMAL_PRIORITY' })
  queue?: string;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true })
  channel_properties?: Record<string, string>;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true })
  conversation_metadata?: Record<string, unknown>;

  @ApiPropertyOptional()
  conversation_metadata_update_strategy?: string;

  /** The recipient as the gate checks it (not part of the wire format). */
  contactId: string | null;
  identities: RecipientIdentity[];
  contentType: ContentType;
  correlationId: string | null;

  static fromPlain(plain: unknown): SendMessageRequestDto {
    // Any other field is forwarded to Sinch as received.
    const { body: value, violations: v } = plainBody(plain);
    // Sinch (protobuf JSON) also accepts lowerCamelCase names: a gated field spelt that way
    // would reach Sinch unchecked, so it is refused.
    const camel = (o: Obj, alias: string, name: string, at: string): void => {
      if (alias in o)
        v.push({ field: `${at}${alias}`, description: `use the snake_case name ${name}` });
    };
    camel(value, 'appId', 'app_id', '');
    camel(value, 'messageContentType', 'message_content_type', '');
    camel(value, 'correlationId', 'correlation_id', '');

    const appId = value.app_id;
    if (typeof appId !== 'string' || !RESOURCE_ID_PATTERN.test(appId)) v.push(invalidId('app_id'));

    let contactId: string | null = null;
    const identities: RecipientIdentity[] = [];
    const recipient = value.recipient;
    if (!isObj(recipient)) {
      v.push({ field: 'recipient', description: 'recipient must be an object' });
    } else {
      camel(recipient, 'contactId', 'contact_id', 'recipient.');
      camel(recipient, 'identifiedBy', 'identified_by', 'recipient.');
      const rawContact = recipient.contact_id ?? undefined;
      const identifiedBy = recipient.identified_by ?? undefined;
      if ((rawContact === undefined) === (identifiedBy === undefined)) {
        v.push({
          field: 'recipient',
          description: 'recipient must have exactly one of contact_id and identified_by',
        });
      } else if (rawContact !== undefined) {
        if (
          typeof rawContact !== 'string' ||
          rawContact.length === 0 ||
          rawContact.length > MAX_CONTACT_ID_CHARS
        ) {
          v.push({
            field: 'recipient.contact_id',
            description: `contact_id must be a string of 1 to ${MAX_CONTACT_ID_CHARS} characters`,
          });
        } else {
          contactId = rawContact;
        }
      } else {
        parseIdentifiedBy(identifiedBy, identities, v, camel);
      }
    }

    const message = value.message;
    if (!isObj(message)) v.push({ field: 'message', description: 'message must be an object' });

    const rawType = value.message_content_type ?? undefined;
    if (rawType !== undefined && !CONTENT_TYPES.has(rawType as string)) {
      v.push({
        field: 'message_content_type',
        description:
          'message_content_type must be one of CONTENT_UNKNOWN, CONTENT_MARKETING, CONTENT_NOTIFICATION',
      });
    }
    if (v.length > 0) throw ApiError.invalidRequest(v);

    const dto = new SendMessageRequestDto();
    dto.app_id = appId as string;
    dto.message = message as Record<string, unknown>;
    dto.contactId = contactId;
    dto.identities = identities;
    dto.contentType = (rawType as ContentType | undefined) ?? ContentType.CONTENT_UNKNOWN;
    const correlationId = value.correlation_id;
    dto.correlationId =
      typeof correlationId === 'string' && correlationId.length > 0
        ? correlationId.slice(0, 128)
        : null;
    return dto;
  }
}

function parseIdentifiedBy(
  identifiedBy: unknown,
  out: RecipientIdentity[],
  v: FieldViolation[],
  camel: (o: Obj, alias: string, name: string, at: string) => void,
): void {
  const at = 'recipient.identified_by';
  if (!isObj(identifiedBy)) {
    v.push({ field: at, description: 'identified_by must be an object' });
    return;
  }
  camel(identifiedBy, 'channelIdentities', 'channel_identities', `${at}.`);
  const list = identifiedBy.channel_identities;
  if (!Array.isArray(list) || list.length < 1 || list.length > MAX_CHANNEL_IDENTITIES) {
    v.push({
      field: `${at}.channel_identities`,
      description: `channel_identities must be an array of 1 to ${MAX_CHANNEL_IDENTITIES} {channel, identity} objects`,
    });
    return;
  }
  for (let i = 0; i < list.length && v.length < 100; i++) {
    const field = `${at}.channel_identities[${i}]`;
    const item: unknown = list[i];
    if (!isObj(item)) {
      v.push({ field, description: 'must be a {channel, identity} object' });
      continue;
    }
    const channel = item.channel;
    if (typeof channel !== 'string' || channel.length === 0 || channel.length > MAX_CHANNEL_CHARS) {
      v.push({
        field: `${field}.channel`,
        description: `channel must be a string of 1 to ${MAX_CHANNEL_CHARS} characters`,
      });
      continue;
    }
    try {
      out.push({ channel, identity: normalizeIdentity(item.identity) });
    } catch (e) {
      if (!(e instanceof InvalidIdentityError)) throw e;
      v.push({ field: `${field}.identity`, description: `identity ${e.message}` });
    }
  }
}

/** Sinch's SendMessageResponse, passed through from Sinch. */
export class SendMessageResponseDto {
  @ApiProperty({ example: '01EQ8235TD19N21XQTH12B145D' })
  message_id: string;

  @ApiProperty({ format: 'date-time', example: '2026-11-22T10:00:00.123Z' })
  accepted_time: string;
}
