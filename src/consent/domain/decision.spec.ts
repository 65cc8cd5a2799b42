import { describe, expect, it } from '@jest/globals';
import { ContentType, Decision, ListType } from './consent-types.js';
import { listsThatStop } from './decision-matrix.js';
import { PrimaryModeStrategy, SecondaryModeStrategy } from './mode-strategy.js';

const { OPT_OUT_ALL, OPT_OUT_MARKETING, OPT_OUT_NOTIFICATION } = ListType;
const { CONTENT_UNKNOWN, CONTENT_MARKETING, CONTENT_NOTIFICATION } = ContentType;

describe('decision matrix', () => {
  it.each([
    [CONTENT_UNKNOWN, [OPT_OUT_ALL]],
    [CONTENT_MARKETING, [OPT_OUT_ALL, OPT_OUT_MARKETING]],
    [CONTENT_NOTIFICATION, [OPT_OUT_ALL, OPT_OUT_NOTIFICATION]],
  ])('%s is stopped by %p', (type, lists) => {
    expect([...listsThatStop(type)].sort()).toEqual([...lists].sort());
  });

  it.each([
    [CONTENT_MARKETING, [OPT_OUT_NOTIFICATION], []],
    [CONTENT_MARKETING, [OPT_OUT_MARKETING, OPT_OUT_NOTIFICATION], [OPT_OUT_MARKETING]],
    [CONTENT_NOTIFICATION, [OPT_OUT_MARKETING], []],
    [CONTENT_NOTIFICATION, [OPT_OUT_NOTIFICATION], [OPT_OUT_NOTIFICATION]],
    [CONTENT_UNKNOWN, [OPT_OUT_MARKETING, OPT_OUT_NOTIFICATION], []],
    [CONTENT_UNKNOWN, [OPT_OUT_ALL], [OPT_OUT_ALL]],
    [CONTENT_MARKETING, [OPT_OUT_ALL], [OPT_OUT_ALL]],
  ])('%s for an identity on %p matches %p', (type, on, expected) => {
    expect(on.filter((l) => listsThatStop(type).includes(l))).toEqual(expected);
  });
});

describe('mode strategies', () => {
  const primary = new PrimaryModeStrategy();
  const secondary = new SecondaryModeStrategy();

  it('PRIMARY blocks a match and names the list', () => {
    const v = primary.decide({ contentType: CONTENT_MARKETING, matchedLists: [OPT_OUT_MARKETING] });
    expect(v.decision).toBe(Decision.BLOCK);
    expect(v.reason).toContain('OPT_OUT_MARKETING');
  });

  it('PRIMARY allows without a match', () => {
    expect(primary.decide({ contentType: CONTENT_MARKETING, matchedLists: [] }).decision).toBe(
      Decision.ALLOW,
    );
  });

  it('SECONDARY never blocks but reports the match', () => {
    const v = secondary.decide({ contentType: CONTENT_UNKNOWN, matchedLists: [OPT_OUT_ALL] });
    expect(v.decision).toBe(Decision.ALLOW);
    expect(v.reason).toContain('OPT_OUT_ALL');
    expect(v.reason).toContain('SECONDARY');
  });
});
