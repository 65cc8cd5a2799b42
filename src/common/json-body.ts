import { ApiError, FieldViolation } from './api-error.js';

/**
 * The one guard on what a request may carry, whatever the endpoint: every JSON body (Fastify's
 * parser, the send check's hot path, hence also Sinch webhooks) and every page token is parsed
 * here. Beyond JSON syntax it refuses, as a 400 naming the field path, what would otherwise
 * reach the database or a recursive library and end as a 500:
 * - nesting deeper than MAX_JSON_DEPTH (class-transformer and PostgreSQL recurse on it);
 * - NUL characters and lone UTF-16 surrogates in any string or key (PostgreSQL cannot store
 *   them in text or jsonb);
 * - a `__proto__` key, or `constructor.prototype`, anywhere (as Fastify's default parser does:
 *   copied onto an object, they would replace or reach its prototype).
 * Field lengths are the DTOs' business (matching the column sizes).
 */
export const MAX_JSON_DEPTH = 32;

// eslint-disable-next-line no-control-regex
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
// eslint-disable-next-line no-control-regex
const ANY_UNSTORABLE = /\u0000|[\ud800-\udfff]/g;
/** Inside JSON text NUL and surrogates can only be written as \u escapes. */
const ESCAPE = Buffer.from('\\u');

/** Why a string cannot be stored, or null when it can. */
export function unstorable(s: string): string | null {
  const m = UNSTORABLE.exec(s);
  if (!m) return null;
  return m[0] === '\u0000'
    ? 'must not contain NUL characters'
    : 'must not contain lone UTF-16 surrogates';
}

/** JSON.parse of a request body, then the guard; a 400 for anything it refuses. */
export function parseJsonBody(raw: Buffer | string): unknown {
  const text = typeof raw === 'string' ? raw : raw.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw malformedJson();
  }
  // Strings are scanned only when the text holds an escape: a 10,000-identity check does not pay.
  const scanStrings = typeof raw === 'string' ? raw.includes('\\u') : raw.includes(ESCAPE);
  const violation = guard(value, 0, scanStrings);
  if (violation) throw ApiError.invalidRequest([toViolation(violation)]);
  return value;
}

/** The 400 for a body that is not JSON. */
export function malformedJson(): ApiError {
  return new ApiError(400, 'INVALID_ARGUMENT', 'Malformed JSON in request body.');
}

/** The first thing the guard refuses in a parsed value, with its field path. */
export function guardJson(value: unknown): FieldViolation | null {
  const found = guard(value, 0, true);
  return found && toViolation(found);
}

/** What the guard found; its path (keys and indexes, innermost first) is built only then. */
interface Found {
  path: (string | number)[];
  description: string;
}

function toViolation({ path, description }: Found): FieldViolation {
  let field = '';
  for (let i = path.length - 1; i >= 0; i--) {
    const seg = path[i]!;
    field +=
      typeof seg === 'number'
        ? `[${seg}]`
        : // The path itself must stay storable and loggable: bad characters become U+FFFD.
          `${field ? '.' : ''}${seg.replace(ANY_UNSTORABLE, '\ufffd')}`;
  }
  return { field, description };
}

function guard(value: unknown, depth: number, scanStrings: boolean): Found | null {
  if (typeof value === 'string') {
    if (!scanStrings) return null;
    const problem = unstorable(value);
    return problem ? { path: [], description: problem } : null;
  }
  if (value === null || typeof value !== 'object') return null;
  if (depth >= MAX_JSON_DEPTH)
    return { path: [], description: `must not nest deeper than ${MAX_JSON_DEPTH} levels` };
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item === null || (typeof item !== 'object' && !scanStrings)) continue;
      const found = guard(item, depth + 1, scanStrings);
      if (found) {
        found.path.push(i);
        return found;
      }
    }
    return null;
  }
  for (const key of Object.keys(value)) {
    const child = (value as Record<string, unknown>)[key];
    let found: Found | null;
    if (key === '__proto__') found = { path: [], description: 'is a forbidden property name' };
    else if (
      key === 'constructor' &&
      child !== null &&
      typeof child === 'object' &&
      'prototype' in child
    )
      found = { path: ['prototype'], description: 'is a forbidden property name' };
    else if (scanStrings && unstorable(key) !== null)
      found = { path: [], description: `property name ${unstorable(key)!}` };
    else found = guard(child, depth + 1, scanStrings);
    if (found) {
      found.path.push(key);
      return found;
    }
  }
  return null;
}
