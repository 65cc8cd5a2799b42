import { describe, expect, it } from '@jest/globals';
import { ChangeAction, Operation, Outcome } from './consent-types.js';
import { planChange } from './transition.js';

const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
/** Every change below arrives at t(100) unless it says otherwise. */
const arrival = t(100);
const future = new Date('2999-01-01T00:00:00Z');

describe('planChange', () => {
  it('inserts an opt-out for an unknown identity', () => {
    const p = planChange(null, { action: ChangeAction.OPT_OUT, eventTime: t(10), arrival });
    expect(p).toEqual({
      outcome: Outcome.APPLIED,
      operation: Operation.OPERATION_INSERT,
      eventTime: t(10),
      claimedEventTime: null,
      next: { opted_out: true, since: t(10), last_event_time: t(10) },
    });
  });

  it('records an opt-in of an unknown identity as a no-change that still sets the clock', () => {
    const p = planChange(null, { action: ChangeAction.OPT_IN, eventTime: t(10), arrival });
    expect(p.outcome).toBe(Outcome.NO_CHANGE);
    expect(p.operation).toBe(Operation.OPERATION_DELETE);
    expect(p.next).toEqual({ opted_out: false, since: t(10), last_event_time: t(10) });
  });

  it('repeating an opt-out is a no-change UPDATE that keeps "since"', () => {
    const p = planChange(
      { opted_out: true, since: t(5), last_event_time: t(5) },
      { action: ChangeAction.OPT_OUT, eventTime: t(9), arrival },
    );
    expect(p.outcome).toBe(Outcome.NO_CHANGE);
    expect(p.operation).toBe(Operation.OPERATION_UPDATE);
    expect(p.next).toEqual({ opted_out: true, since: t(5), last_event_time: t(9) });
  });

  it('an older change is superseded and changes nothing', () => {
    const p = planChange(
      { opted_out: false, since: t(20), last_event_time: t(20) },
      { action: ChangeAction.OPT_OUT, eventTime: t(10), arrival },
    );
    expect(p).toEqual({
      outcome: Outcome.SUPERSEDED,
      operation: Operation.OPERATION_INSERT,
      eventTime: t(10),
      claimedEventTime: null,
    });
  });

  it('an opt-in newer than the opt-out applies', () => {
    const p = planChange(
      { opted_out: true, since: t(10), last_event_time: t(10) },
      { action: ChangeAction.OPT_IN, eventTime: t(20), arrival },
    );
    expect(p.outcome).toBe(Outcome.APPLIED);
    expect(p.next).toEqual({ opted_out: false, since: t(20), last_event_time: t(20) });
  });

  it('equal event times apply in arrival order', () => {
    const p = planChange(
      { opted_out: true, since: t(10), last_event_time: t(10) },
      { action: ChangeAction.OPT_IN, eventTime: t(10), arrival },
    );
    expect(p.outcome).toBe(Outcome.APPLIED);
  });

  it('a future claim is stored as its arrival, and the claim is reported', () => {
    const p = planChange(
      { opted_out: true, since: t(10), last_event_time: t(10) },
      { action: ChangeAction.OPT_IN, eventTime: future, arrival },
    );
    expect(p).toMatchObject({ outcome: Outcome.APPLIED, eventTime: arrival });
    expect(p.claimedEventTime).toEqual(future);
    expect(p.next).toEqual({ opted_out: false, since: arrival, last_event_time: arrival });
  });

  it('a STOP arriving after a clamped START wins, also at the same arrival time', () => {
    const afterClampedStart = { opted_out: false, since: arrival, last_event_time: arrival };
    for (const later of [arrival, t(101)]) {
      const p = planChange(afterClampedStart, {
        action: ChangeAction.OPT_OUT,
        eventTime: future,
        arrival: later,
      });
      expect(p.outcome).toBe(Outcome.APPLIED);
      const unclaimed = planChange(afterClampedStart, {
        action: ChangeAction.OPT_OUT,
        arrival: later,
      });
      expect(unclaimed).toMatchObject({ outcome: Outcome.APPLIED, eventTime: later });
    }
  });

  it('genuine reordering: START(t2) before STOP(t1), t1 < t2 < arrival, supersedes the STOP', () => {
    const start = planChange(null, { action: ChangeAction.OPT_IN, eventTime: t(20), arrival });
    const stop = planChange(start.next!, {
      action: ChangeAction.OPT_OUT,
      eventTime: t(10),
      arrival: t(101),
    });
    expect(stop.outcome).toBe(Outcome.SUPERSEDED);
  });
});
