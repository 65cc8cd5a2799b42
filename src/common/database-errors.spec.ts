import { describe, expect, it } from '@jest/globals';
import {
  QueryFailedError,
  QueryRunnerAlreadyReleasedError,
  QueryRunnerProviderAlreadyReleasedError,
} from 'typeorm';
import { isDatabaseUnavailable } from './database-errors.js';

describe('isDatabaseUnavailable', () => {
  it.each([
    [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })],
    [new Error('Connection terminated unexpectedly')],
    [new Error('timeout exceeded when trying to connect')],
    [{ message: 'query failed', driverError: { code: '57P01' } }],
    [{ message: 'canceling statement due to statement timeout', code: '57014' }],
    [{ message: 'wrapped', cause: { code: '08006' } }],
    // A transaction whose connection dropped between two statements: TypeORM released its runner.
    [new QueryRunnerAlreadyReleasedError()],
    [new QueryRunnerProviderAlreadyReleasedError()],
  ])('recognises %p', (e) => {
    expect(isDatabaseUnavailable(e)).toBe(true);
  });

  it.each([
    [new Error('duplicate key value violates unique constraint')],
    [{ code: '23505' }],
    [new QueryFailedError('INSERT', [], new Error('value too long for type character varying'))],
    [new TypeError('x is undefined')],
    [null],
    ['string'],
  ])('does not treat %p as an outage', (e) => {
    expect(isDatabaseUnavailable(e)).toBe(false);
  });
});
