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
  const violation = guard(value, '', 0, scanStrings);
  if (violation) throw ApiError.invalidRequest([violation]);
  return value;
}

/** The 400 for a body that is not JSON. */
export function malformedJson(): ApiError {
  return new ApiError(400, 'INVALID_ARGUMENT', 'Malformed JSON in request body.');
}

/** The first thing the guard refuses in a parsed value, with its field path. */
export function guardJson(value: unknown): FieldViolation | null {
  return guard(value, '', 0, true);
}

function guard(
  value: unknown,
  path: string,
  depth: number,
  scanStrings: boolean,
): FieldViolation | null {
  if (typeof value === 'string') {
    if (!scanStrings) return null;
    const problem = unstorable(value);
    return problem ? { field: path, description: problem } : null;
  }
  if (value === null || typeof value !== 'object') return null;
  if (depth >= MAX_JSON_DEPTH)
    return { field: path, description: `must not nest deeper than ${MAX_JSON_DEPTH} levels` };
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item === null || (typeof item !== 'object' && !scanStrings)) continue;
      const v = guard(item, `${path}[${i}]`, depth + 1, scanStrings);
      if (v) return v;
    }
    return null;
  }
  for (const key of Object.keys(value)) {
    const at = path ? `${path}.${key}` : key;
    if (key === '__proto__') return { field: at, description: 'is a forbidden property name' };
    const child = (value as Record<string, unknown>)[key];
    if (
      key === 'constructor' &&
      child !== null &&
      typeof child === 'object' &&
      'prototype' in child
    )
      return { field: `${at}.prototype`, description: 'is a forbidden property name' };
    if (scanStrings) {
      const problem = unstorable(key);
      // The path itself must stay storable and loggable: the bad characters become U+FFFD.
      if (problem)
        return {
          field: at.replace(ANY_UNSTORABLE, '\ufffd'),
          description: `property name ${problem}`,
        };
    }
    const v = guard(child, at, depth + 1, scanStrings);
    if (v) return v;
  }
  return null;
}
