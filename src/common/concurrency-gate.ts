import { ApiError } from './api-error.js';

/** Seconds a caller refused by a full gate is asked to wait (Retry-After). */
const BUSY_RETRY_AFTER_S = 5;

/** The 429 of a full gate: `running` of `what` on this instance, the limit set by `setting`. */
export function tooBusy(running: number, what: string, setting: string): ApiError {
  return new ApiError(
    429,
    'RESOURCE_EXHAUSTED',
    `${running} ${what} on this instance (${setting}); retry later.`,
    [],
    { 'retry-after': String(BUSY_RETRY_AFTER_S) },
  );
}

/**
 * A per-instance limit on long requests that each hold a database connection for their whole
 * duration (an export streaming out, an import streaming in), so that they cannot take the pool
 * from the send checks: `enter` gives a release function, or refuses with a 429 (Retry-After)
 * naming the setting that sets the limit.
 */
export class ConcurrencyGate {
  private running = 0;

  constructor(
    private readonly limit: () => number,
    /** Plural noun for the message, e.g. "exports are streaming". */
    private readonly what: string,
    private readonly setting: string,
  ) {}

  /** Takes a place, or throws the 429. The function returned gives it back (once). */
  enter(): () => void {
    if (this.running >= this.limit()) {
      throw tooBusy(this.running, this.what, this.setting);
    }
    this.running++;
    let released = false;
    return () => {
      if (!released) this.running--;
      released = true;
    };
  }
}
