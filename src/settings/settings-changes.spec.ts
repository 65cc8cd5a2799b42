import { describe, expect, it } from '@jest/globals';
import { ConsentMode } from '../consent/domain/consent-types.js';
import { MatchingProfile } from '../keywords/domain/keyword-types.js';
import { changedSettings, type StoredSettings } from './settings-changes.js';

const stored: StoredSettings = {
  mode: ConsentMode.PRIMARY,
  webhook_secrets: ['secret-one-123'],
  matching_profile: MatchingProfile.SINCH_EXACT,
  auto_reply: true,
  replies: { EN: { OPT_OUT: 'Bye', HELP: 'Help' }, ES: { OPT_OUT: 'Adiós' } },
};

describe('changedSettings', () => {
  it('names nothing when nothing changes, whatever the order of reply keys', () => {
    expect(
      changedSettings(stored, {
        ...stored,
        webhook_secrets: ['secret-one-123'],
        replies: { ES: { OPT_OUT: 'Adiós' }, EN: { HELP: 'Help', OPT_OUT: 'Bye' } },
      }),
    ).toEqual([]);
  });

  it('names every setting of an app that had none stored', () => {
    expect(changedSettings(null, stored)).toEqual([
      'mode',
      'matching_profile',
      'auto_reply',
      'replies',
      'webhook_secrets',
    ]);
  });

  it.each<[string, Partial<StoredSettings>, string[]]>([
    ['the mode', { mode: ConsentMode.SECONDARY }, ['mode']],
    ['the profile', { matching_profile: MatchingProfile.US_FCC }, ['matching_profile']],
    ['auto-reply', { auto_reply: false }, ['auto_reply']],
    [
      'a reply text',
      { replies: { EN: { OPT_OUT: 'Bye!', HELP: 'Help' }, ES: { OPT_OUT: 'Adiós' } } },
      ['replies'],
    ],
    ['a reply language less', { replies: { EN: { OPT_OUT: 'Bye', HELP: 'Help' } } }, ['replies']],
    ['a secret (same count)', { webhook_secrets: ['secret-two-456'] }, ['webhook_secrets']],
    [
      'a second secret',
      { webhook_secrets: ['secret-one-123', 'secret-two-456'] },
      ['webhook_secrets'],
    ],
    ['no secret', { webhook_secrets: [] }, ['webhook_secrets']],
    [
      'mode and secrets',
      { mode: ConsentMode.SECONDARY, webhook_secrets: [] },
      ['mode', 'webhook_secrets'],
    ],
  ])('names %s', (_, change, expected) => {
    expect(changedSettings(stored, { ...stored, ...change })).toEqual(expected);
  });
});
