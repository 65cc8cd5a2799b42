import { ChangeAction, Operation, Outcome } from './consent-types.js';

export interface CurrentState {
  opted_out: boolean;
  since: Date;
  last_event_time: Date;
}

export interface ChangeRequest {
  action: ChangeAction;
  eventTime: Date;
}

export interface PlannedChange {
  outcome: Outcome;
  operation: Operation;
  /** The state to store, or undefined when the stored row must not change. */
  next?: { opted_out: boolean; since: Date; last_event_time: Date };
}

/**
 * Decides what a requested change does to the stored state of one identity on one list.
 * Changes are ordered by event time: one older than the newest applied change is superseded
 * (recorded, not applied). Equal event times apply in arrival order.
 */
export function planChange(current: CurrentState | null, req: ChangeRequest): PlannedChange {
  const wantOptedOut = req.action === ChangeAction.OPT_OUT;
  const wasOptedOut = current?.opted_out ?? false;
  const operation = !wantOptedOut
    ? Operation.OPERATION_DELETE
    : wasOptedOut
      ? Operation.OPERATION_UPDATE
      : Operation.OPERATION_INSERT;

  if (current && req.eventTime.getTime() < current.last_event_time.getTime()) {
    return { outcome: Outcome.SUPERSEDED, operation };
  }
  if (wasOptedOut === wantOptedOut) {
    return {
      outcome: Outcome.NO_CHANGE,
      operation,
      // Keep the newest event time so that older changes arriving later stay superseded.
      next: {
        opted_out: wasOptedOut,
        since: current?.since ?? req.eventTime,
        last_event_time: req.eventTime,
      },
    };
  }
  return {
    outcome: Outcome.APPLIED,
    operation,
    next: { opted_out: wantOptedOut, since: req.eventTime, last_event_time: req.eventTime },
  };
}
