import { ChangeAction, Operation, Outcome } from './consent-types.js';
import { effectiveEventTime } from './event-time.js';

export interface CurrentState {
  opted_out: boolean;
  since: Date;
  last_event_time: Date;
}

export interface ChangeRequest {
  action: ChangeAction;
  /** The claimed event time; none means the arrival. */
  eventTime?: Date;
  /** When the change reached the service (read after its row lock). */
  arrival: Date;
}

export interface PlannedChange {
  outcome: Outcome;
  operation: Operation;
  /** The event time stored and ordered by: min(claimed, arrival) (see event-time.ts). */
  eventTime: Date;
  /** The claim when it was in the future (clamped), for the audit record; else null. */
  claimedEventTime: Date | null;
  /** The state to store, or undefined when the stored row must not change. */
  next?: { opted_out: boolean; since: Date; last_event_time: Date };
}

/**
 * Decides what a requested change does to the stored state of one identity on one list.
 * Changes are ordered by event time, never later than their arrival: one older than the newest
 * applied change is superseded (recorded, not applied). Equal event times apply in arrival order,
 * so a change arriving after a clamped one (same or later arrival) is never superseded by it.
 */
export function planChange(current: CurrentState | null, req: ChangeRequest): PlannedChange {
  const times = effectiveEventTime(req.eventTime, req.arrival);
  const { eventTime } = times;
  const wantOptedOut = req.action === ChangeAction.OPT_OUT;
  const wasOptedOut = current?.opted_out ?? false;
  const operation = !wantOptedOut
    ? Operation.OPERATION_DELETE
    : wasOptedOut
      ? Operation.OPERATION_UPDATE
      : Operation.OPERATION_INSERT;

  if (current && eventTime.getTime() < current.last_event_time.getTime()) {
    return { outcome: Outcome.SUPERSEDED, operation, ...times };
  }
  if (wasOptedOut === wantOptedOut) {
    return {
      outcome: Outcome.NO_CHANGE,
      operation,
      ...times,
      // Keep the newest event time so that older changes arriving later stay superseded.
      next: {
        opted_out: wasOptedOut,
        since: current?.since ?? eventTime,
        last_event_time: eventTime,
      },
    };
  }
  return {
    outcome: Outcome.APPLIED,
    operation,
    ...times,
    next: { opted_out: wantOptedOut, since: eventTime, last_event_time: eventTime },
  };
}
