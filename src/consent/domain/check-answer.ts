import { ConsentMode, ContentType, Decision, ListType } from './consent-types.js';

/**
 * What a check decides for one set of matched lists, under one mode and content type. Shared by
 * every identity (and every check) with that set, so never mutated.
 */
export interface Verdict {
  readonly decision: Decision;
  readonly opted_out: boolean;
  readonly lists: readonly ListType[];
  readonly reason: string;
}

/** One identity's answer, as the API returns it. */
export interface CheckResult {
  identity: string;
  decision: Decision;
  opted_out: boolean;
  lists: ListType[];
  reason: string;
  /** Point in time only: the audit record ids that put the identity on `lists`, in their order. */
  decided_by?: string[];
}

/** The response body of a check (the keys in this order). */
export interface CheckBody {
  /** Point in time only: the instant answered for. */
  at?: string;
  mode: ConsentMode;
  message_content_type: ContentType;
  results: CheckResult[];
}

/** What a point-in-time answer adds: the instant, and per identity its deciding records. */
export interface PointInTime {
  at: Date;
  /** Per identity, in the order asked: the record ids that put it on its verdict's lists. */
  decidedBy: readonly (readonly string[])[];
}

/** A verdict's JSON after its result's identity, made once per (immutable, shared) verdict. */
const TAILS = new WeakMap<Verdict, string>();
/** The same without its closing brace, up to `"decided_by":` (point-in-time answers). */
const OPEN_TAILS = new WeakMap<Verdict, string>();

/**
 * The answer to a send check: the identities in the order asked, each with its (shared) verdict.
 * A 10,000-identity check has at most a handful of distinct verdicts, so results are kept as two
 * parallel arrays and only turned into objects, or JSON, when asked.
 */
export class CheckAnswer {
  constructor(
    readonly mode: ConsentMode,
    readonly contentType: ContentType,
    readonly identities: readonly string[],
    readonly verdicts: readonly Verdict[],
    /** Set for an answer about an instant in the past (consents:check with `at`). */
    readonly pointInTime?: PointInTime,
  ) {}

  /** One object per identity, in the order asked (each with its own copy of the lists). */
  get results(): CheckResult[] {
    const out = new Array<CheckResult>(this.identities.length);
    const decidedBy = this.pointInTime?.decidedBy;
    for (let i = 0; i < out.length; i++) {
      const v = this.verdicts[i]!;
      out[i] = {
        identity: this.identities[i]!,
        decision: v.decision,
        opted_out: v.opted_out,
        lists: [...v.lists],
        reason: v.reason,
      };
      if (decidedBy) out[i]!.decided_by = [...decidedBy[i]!];
    }
    return out;
  }

  /** The response body as an object: what toJson serialises. */
  toBody(): CheckBody {
    return {
      ...(this.pointInTime ? { at: this.pointInTime.at.toISOString() } : {}),
      mode: this.mode,
      message_content_type: this.contentType,
      results: this.results,
    };
  }

  /**
   * The response body, byte for byte what `JSON.stringify(this.toBody())` gives, built without a
   * result object per identity: each distinct verdict is serialised once.
   */
  toJson(): string {
    const decidedBy = this.pointInTime?.decidedBy;
    let out = `{${this.pointInTime ? `"at":${JSON.stringify(this.pointInTime.at.toISOString())},` : ''}"mode":${JSON.stringify(this.mode)},"message_content_type":${JSON.stringify(this.contentType)},"results":[`;
    for (let i = 0; i < this.identities.length; i++) {
      const v = this.verdicts[i]!;
      let tail = TAILS.get(v);
      if (tail === undefined) {
        // `{"decision":…}` without its opening brace: the rest of the result after its identity.
        tail = `,${JSON.stringify({ decision: v.decision, opted_out: v.opted_out, lists: v.lists, reason: v.reason }).slice(1)}`;
        TAILS.set(v, tail);
      }
      out += `${i === 0 ? '' : ','}{"identity":${JSON.stringify(this.identities[i])}`;
      if (decidedBy) {
        // The tail without its closing brace, then the deciding records: audit record ids,
        // digits only, so quoted as they are.
        let open = OPEN_TAILS.get(v);
        if (open === undefined) {
          open = `${tail.slice(0, -1)},"decided_by":`;
          OPEN_TAILS.set(v, open);
        }
        const ids = decidedBy[i]!;
        out += ids.length === 0 ? `${open}[]}` : `${open}["${ids.join('","')}"]}`;
      } else {
        out += tail;
      }
    }
    return `${out}]}`;
  }
}
