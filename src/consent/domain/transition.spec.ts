import { describe, expect, it } from '@jest/globals';
import { ChangeAction, Operation, Outcome } from './consent-types.js';
import { planChange } from './transition.js';

const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));

describe('planChange', () => {
  it('inserts an opt-out for an unknown identity', () => {
    const p = planChange(null, { action: ChangeAction.OPT_OUT, eventTime: t(10) });
    expect(p).toEqual({
      outcome: Outcome.APPLIED,
      operation: Operation.OPERATION_INSERT,
      next: { opted_out: true, since: t(10), last_event_time: t(10) },
    });
  });

  it('records an opt-in of an unknown identity as a no-change that still sets the clock', () => {
    const p = planChange(null, { action: ChangeAction.OPT_IN, eventTime: t(10) });
    expect(p.outcome).toBe(Outcome.NO_CHANGE);
    expect(p.operation).toBe(Operation.OPERATION_DELETE);
    expect(p.next).toEqual({ opted_out: false, since: t(10), last_event_time: t(10) });
  });

  it('repeating an opt-out is a no-change UPDATE that keeps "since"', () => {
    const p = planChange(
      { opted_out: true, since: t(5), last_event_time: t(5) },
      { action: ChangeAction.OPT_OUT, eventTime: t(9) },
    );
    expect(p.outcome).toBe(Outcome.NO_CHANGE);
    expect(p.operation).toBe(Operation.OPERATION_UPDATE);
    expect(p.next).toEqual({ opted_out: true, since: t(5), last_event_time: t(9) });
  });

  it('an older change is superseded and changes nothing', () => {
    const p = planChange(
      { opted_out: false, since: t(20), last_event_time: t(20) },
      { action: ChangeAction.OPT_OUT, eventTime: t(10) },
    );
    expect(p).toEqual({ outcome: Outcome.SUPERSEDED, operation: Operation.OPERATION_INSERT });
  });

  it('an opt-in newer than the opt-out applies', () => {
    const p = planChange(
      { opted_out: true, since: t(10), last_event_time: t(10) },
      { action: ChangeAction.OPT_IN, eventTime: t(20) },
    );
    expect(p.outcome).toBe(Outcome.APPLIED);
    expect(p.next).toEqual({ opted_out: false, since: t(20), last_event_time: t(20) });
  });

  it('equal event times apply in arrival order', () => {
    const p = planChange(
      { opted_out: true, since: t(10), last_event_time: t(10) },
      { action: ChangeAction.OPT_IN, eventTime: t(10) },
    );
    expect(p.outcome).toBe(Outcome.APPLIED);
  });
});
