import { QueryRunnerAlreadyReleasedError, QueryRunnerProviderAlreadyReleasedError } from 'typeorm';

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
]);
// SQLSTATE: 08xxx connection exceptions, 57P0x shutdown, 57014 statement timeout, 53300 too many
// connections; 40001 and 40P01 (a transaction that lost a conflict: a deadlock, or a change of an
// identity erased meanwhile, see isTransactionConflict) once its own retries are spent.
const UNAVAILABLE_SQLSTATE = /^(08|57P0)|^(57014|53300|53400|40001|40P01)$/;
const CONFLICT_SQLSTATE = new Set(['40001', '40P01']);

/**
 * Runs `work` (a whole transaction) again when it lost a conflict (isTransactionConflict), at
 * most `attempts` times in all; any other error, or the last conflict, is thrown.
 */
export async function retryOnConflict<T>(work: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (e) {
      if (attempt >= attempts || !isTransactionConflict(e)) throw e;
    }
  }
}

/**
 * True when a transaction failed only because a concurrent one won a conflict (serialization
 * failure, deadlock): the same work, run again from the start, can succeed.
 */
export function isTransactionConflict(error: unknown, depth = 0): boolean {
  if (error === null || typeof error !== 'object' || depth > 4) return false;
  const e = error as { code?: unknown; driverError?: unknown; cause?: unknown };
  if (typeof e.code === 'string' && CONFLICT_SQLSTATE.has(e.code)) return true;
  return (
    isTransactionConflict(e.driverError, depth + 1) || isTransactionConflict(e.cause, depth + 1)
  );
}
const UNAVAILABLE_MESSAGE =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection is not established|the database system is (starting up|shutting down)|Too many connections|Client was closed/i;

/** True when an error means "the database cannot be reached or answer now" (→ 503), not a bug. */
export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (error === null || typeof error !== 'object' || depth > 4) return false;
  // A transaction whose connection was lost between two statements (backend terminated, network
  // cut): TypeORM released its query runner on the connection's error, and the next statement
  // of the transaction (or its COMMIT) fails with one of these instead of a driver error.
  if (
    error instanceof QueryRunnerAlreadyReleasedError ||
    error instanceof QueryRunnerProviderAlreadyReleasedError
  )
    return true;
  const e = error as { code?: unknown; message?: unknown; driverError?: unknown; cause?: unknown };
  if (
    typeof e.code === 'string' &&
    (NETWORK_CODES.has(e.code) || UNAVAILABLE_SQLSTATE.test(e.code))
  )
    return true;
  if (typeof e.message === 'string' && UNAVAILABLE_MESSAGE.test(e.message)) return true;
  return (
    isDatabaseUnavailable(e.driverError, depth + 1) || isDatabaseUnavailable(e.cause, depth + 1)
  );
}
