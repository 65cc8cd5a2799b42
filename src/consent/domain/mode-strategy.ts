import { ConsentMode, ContentType, Decision, ListType } from './consent-types.js';

/** What a strategy is told: the lists that apply to this send (empty = not opted out). */
export interface SendContext {
  contentType: ContentType;
  matchedLists: readonly ListType[];
}

export interface StrategyVerdict {
  decision: Decision;
  reason: string;
}

/** One class per consent mode, chosen by the app's settings. */
export interface ModeStrategy {
  readonly mode: ConsentMode;
  decide(ctx: SendContext): StrategyVerdict;
}

function notOptedOut(ctx: SendContext): StrategyVerdict {
  return {
    decision: Decision.ALLOW,
    reason: `no opt-out list applies to ${ctx.contentType}`,
  };
}

/** PRIMARY: a matching opt-out blocks the send. */
export class PrimaryModeStrategy implements ModeStrategy {
  readonly mode = ConsentMode.PRIMARY;

  decide(ctx: SendContext): StrategyVerdict {
    if (ctx.matchedLists.length === 0) return notOptedOut(ctx);
    return {
      decision: Decision.BLOCK,
      reason: `identity is on ${ctx.matchedLists.join(', ')}, which blocks ${ctx.contentType}`,
    };
  }
}

/** SECONDARY: never blocks; reports the match so the caller can act on it. */
export class SecondaryModeStrategy implements ModeStrategy {
  readonly mode = ConsentMode.SECONDARY;

  decide(ctx: SendContext): StrategyVerdict {
    if (ctx.matchedLists.length === 0) return notOptedOut(ctx);
    return {
      decision: Decision.ALLOW,
      reason: `identity is on ${ctx.matchedLists.join(', ')}; SECONDARY mode reports without blocking`,
    };
  }
}
