/** Sinch's three consent lists. All are opt-OUT lists; opting in takes an identity off one. */
export enum ListType {
  OPT_OUT_ALL = 'OPT_OUT_ALL',
  OPT_OUT_MARKETING = 'OPT_OUT_MARKETING',
  OPT_OUT_NOTIFICATION = 'OPT_OUT_NOTIFICATION',
}
export const LIST_TYPES = Object.values(ListType);

/** Sinch's message_content_type. Absent means CONTENT_UNKNOWN. */
export enum ContentType {
  CONTENT_UNKNOWN = 'CONTENT_UNKNOWN',
  CONTENT_MARKETING = 'CONTENT_MARKETING',
  CONTENT_NOTIFICATION = 'CONTENT_NOTIFICATION',
}

/** Per-app consent processing mode (Sinch's "consent processing type"). */
export enum ConsentMode {
  PRIMARY = 'PRIMARY',
  SECONDARY = 'SECONDARY',
}

/**
 * Where a change came from, in Sinch's enum (the API, or a mobile-originated message), plus
 * ORIGIN_IMPORT for a bulk import (Sinch's SDKs tolerate enum values they do not know).
 */
export enum Origin {
  ORIGIN_API = 'ORIGIN_API',
  ORIGIN_MO = 'ORIGIN_MO',
  ORIGIN_IMPORT = 'ORIGIN_IMPORT',
}

/** Sinch's audit operation. */
export enum Operation {
  OPERATION_INSERT = 'OPERATION_INSERT',
  OPERATION_UPDATE = 'OPERATION_UPDATE',
  OPERATION_DELETE = 'OPERATION_DELETE',
}

/** What a requested change did to the stored state (our addition to Sinch's audit record). */
export enum Outcome {
  /** The state changed. */
  APPLIED = 'APPLIED',
  /** The identity was already in the requested state; only the audit record was written. */
  NO_CHANGE = 'NO_CHANGE',
  /** A newer change (by event_time) was already applied; this one was recorded and ignored. */
  SUPERSEDED = 'SUPERSEDED',
}

/**
 * What an audit record is about. Consent changes carry list_type, origin, operation and outcome;
 * the other kinds are facts about an identity that change no consent, kept as proof next to the
 * changes (those four fields are null where they do not apply), and changes of the app's
 * settings (no identity).
 */
export enum AuditRecordKind {
  /** A requested consent change (whatever its outcome). The only kind Sinch's API knows. */
  CONSENT_CHANGE = 'CONSENT_CHANGE',
  /** A FAILED Sinch delivery report whose reason says the recipient refused the message. */
  DELIVERY_REFUSED = 'DELIVERY_REFUSED',
  /** A confirmation reply (opt-out, opt-in, HELP) accepted by Sinch. */
  REPLY_SENT = 'REPLY_SENT',
  /** A confirmation reply given up: refused by Sinch, or not delivered in time. */
  REPLY_FAILED = 'REPLY_FAILED',
  /**
   * A stored event time that lay in the future, set back to when its change was recorded
   * (migration 1764300000000; claimed_event_time keeps the old value).
   */
  EVENT_TIME_REPAIRED = 'EVENT_TIME_REPAIRED',
  /**
   * An opt-out confirmation whose attempt was interrupted (the worker stopped during the send):
   * it may or may not have reached the recipient, and it is not sent again (at most once).
   */
  REPLY_IN_DOUBT = 'REPLY_IN_DOUBT',
  /**
   * A change of an app's consent settings (PUT consent-settings): the settings after it, never a
   * secret. The one kind about the app, not an identity: its identity and list_type are null.
   */
  SETTINGS_CHANGE = 'SETTINGS_CHANGE',
  /**
   * An erasure of the identity (POST .../identities/{identity}:erase): its clear value and free
   * texts were removed everywhere; it stays on its lists by its keyed hash (identity
   * `erased:<key>`). reason: the request's reference, if given.
   */
  ERASURE = 'ERASURE',
}
export const AUDIT_RECORD_KINDS = Object.values(AuditRecordKind);

/** The answer of a send check. */
export enum Decision {
  ALLOW = 'ALLOW',
  BLOCK = 'BLOCK',
}

/** Add to an opt-out list, or take off it. */
export enum ChangeAction {
  OPT_OUT = 'OPT_OUT',
  OPT_IN = 'OPT_IN',
}
