// Ordering keys of outbox jobs (outbox_jobs.ordering_key): jobs with equal keys are done strictly
// one after another, oldest first (see JobQueueRepository.claimDue). A key only needs equality, so
// it is a SHA-256 hex digest of its parts: identities never appear in clear in the table's
// indexes, in query plans or in logs that print a job row.
import { createHash } from 'node:crypto';
import { normalizeIdentity } from '../consent/domain/identity.js';

/** The key of `parts` within `scope` (the scopes keep one kind's keys from meeting another's). */
export function orderingKey(scope: string, ...parts: string[]): string {
  return createHash('sha256')
    .update(JSON.stringify([scope, ...parts]))
    .digest('hex');
}

/**
 * A confirmation reply's key: project, app, channel and the recipient's normalised identity, so
 * that one recipient's replies go out in the order they were queued ("+46 73-200 11 22" and
 * "46732001122" are one recipient).
 */
export function replyOrderingKey(
  projectId: string,
  appId: string,
  channel: string,
  identity: string,
): string {
  return orderingKey('reply', projectId, appId, channel, sameIdentity(identity));
}

/**
 * A callback's key: the subscription and the identity the event is about. Per subscription, so
 * that a slow or failing target never holds back another subscription's callbacks.
 */
export function callbackOrderingKey(subscriptionId: string, identity: string): string {
  return orderingKey('callback', subscriptionId, sameIdentity(identity));
}

/** The normalised identity; one that does not normalise is used as given (it still orders). */
function sameIdentity(identity: string): string {
  try {
    return normalizeIdentity(identity);
  } catch {
    return identity;
  }
}
