import { describe, expect, it } from '@jest/globals';
import { isDatabaseUnavailable } from './database-errors.js';

describe('isDatabaseUnavailable', () => {
  it.each([
    [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })],
    [new Error('Connection terminated unexpectedly')],
    [new Error('timeout exceeded when trying to connect')],
    [{ message: 'query failed', driverError: { code: '57P01' } }],
    [{ message: 'canceling statement due to statement timeout', code: '57014' }],
    [{ message: 'wrapped', cause: { code: '08006' } }],
  ])('recognises %p', (e) => {
    expect(isDatabaseUnavailable(e)).toBe(true);
  });

  it.each([
    [new Error('duplicate key value violates unique constraint')],
    [{ code: '23505' }],
    [new TypeError('x is undefined')],
    [null],
    ['string'],
  ])('does not treat %p as an outage', (e) => {
    expect(isDatabaseUnavailable(e)).toBe(false);
  });
});
