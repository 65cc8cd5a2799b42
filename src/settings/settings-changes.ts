import type { AppSettingsEntity } from './app-settings.entity.js';

export type StoredSettings = Pick<
  AppSettingsEntity,
  'mode' | 'webhook_secrets' | 'matching_profile' | 'auto_reply' | 'replies'
>;

/**
 * The settings `next` sets to another value than `current` (all of them for an app's first
 * settings), in a fixed order. Secrets and reply texts are compared, never recorded.
 */
export function changedSettings(current: StoredSettings | null, next: StoredSettings): string[] {
  const differs: Record<keyof StoredSettings, boolean> = {
    mode: current?.mode !== next.mode,
    matching_profile: current?.matching_profile !== next.matching_profile,
    auto_reply: current?.auto_reply !== next.auto_reply,
    replies: !current || !sameJson(current.replies, next.replies),
    webhook_secrets:
      !current ||
      current.webhook_secrets.length !== next.webhook_secrets.length ||
      current.webhook_secrets.some((s, i) => s !== next.webhook_secrets[i]),
  };
  return Object.entries(differs)
    .filter(([, d]) => d)
    .map(([k]) => k);
}

/** Same JSON value, whatever the order of object keys. */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return (
    ka.length === kb.length &&
    ka.every((k) => sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
  );
}
