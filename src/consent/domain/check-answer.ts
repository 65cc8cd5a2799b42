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
}

/** A verdict's JSON after its result's identity, made once per (immutable, shared) verdict. */
const TAILS = new WeakMap<Verdict, string>();

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
  ) {}

  /** One object per identity, in the order asked (each with its own copy of the lists). */
  get results(): CheckResult[] {
    const out = new Array<CheckResult>(this.identities.length);
    for (let i = 0; i < out.length; i++) {
      const v = this.verdicts[i]!;
      out[i] = {
        identity: this.identities[i]!,
        decision: v.decision,
        opted_out: v.opted_out,
        lists: [...v.lists],
        reason: v.reason,
      };
    }
    return out;
  }

  /**
   * The response body, byte for byte what `JSON.stringify({ mode, message_content_type, results })`
   * gives, built without a result object per identity: each distinct verdict is serialised once.
   */
  toJson(): string {
    let out = `{"mode":${JSON.stringify(this.mode)},"message_content_type":${JSON.stringify(this.contentType)},"results":[`;
    for (let i = 0; i < this.identities.length; i++) {
      const v = this.verdicts[i]!;
      let tail = TAILS.get(v);
      if (tail === undefined) {
        // `{"decision":…}` without its opening brace: the rest of the result after its identity.
        tail = `,${JSON.stringify({ decision: v.decision, opted_out: v.opted_out, lists: v.lists, reason: v.reason }).slice(1)}`;
        TAILS.set(v, tail);
      }
      out += `${i === 0 ? '' : ','}{"identity":${JSON.stringify(this.identities[i])}${tail}`;
    }
    return `${out}]}`;
  }
}
