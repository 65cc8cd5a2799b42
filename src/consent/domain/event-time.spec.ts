import { describe, expect, it } from '@jest/globals';
import { effectiveEventTime, isTooFarAhead, MAX_FUTURE_SKEW_MS } from './event-time.js';

const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));

describe('effectiveEventTime', () => {
  it('keeps a past claimed time as it is', () => {
    expect(effectiveEventTime(t(5), t(10))).toEqual({ eventTime: t(5), claimedEventTime: null });
  });

  it('keeps a claim equal to the arrival', () => {
    expect(effectiveEventTime(t(10), t(10))).toEqual({ eventTime: t(10), claimedEventTime: null });
  });

  it('clamps a future claim to the arrival and keeps the claim', () => {
    const claim = new Date('2999-01-01T00:00:00Z');
    expect(effectiveEventTime(claim, t(10))).toEqual({ eventTime: t(10), claimedEventTime: claim });
  });

  it('without a claim, the event time is the arrival', () => {
    expect(effectiveEventTime(undefined, t(10))).toEqual({
      eventTime: t(10),
      claimedEventTime: null,
    });
  });
});

describe('isTooFarAhead', () => {
  const now = t(0).getTime();
  it('accepts up to the skew and refuses beyond', () => {
    expect(isTooFarAhead(new Date(now + MAX_FUTURE_SKEW_MS), now)).toBe(false);
    expect(isTooFarAhead(new Date(now + MAX_FUTURE_SKEW_MS + 1), now)).toBe(true);
  });
});
