import { ArgumentMetadata, ValidationPipe } from '@nestjs/common';
import { defaultMetadataStorage } from 'class-transformer/cjs/storage.js';
import { getMetadataStorage, ValidationTypes } from 'class-validator';
import { ApiError, FieldViolation } from './api-error.js';

/**
 * A DTO class that validates itself with a hand-written `fromPlain` (throwing ApiError 400s in the
 * same shape as the ValidationPipe). Used on the send-check hot path, where class-transformer and
 * class-validator cost more than the database query. The class keeps its @ApiProperty decorators
 * for the OpenAPI document.
 */
export interface SelfValidating<T> {
  fromPlain(value: unknown): T;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * The start of every `fromPlain` of a body: the body as an object (else the 400), and one
 * violation per own key not in `known` (any key goes without it: a pass-through body).
 */
export function plainBody(
  value: unknown,
  known?: ReadonlySet<string>,
): { body: Record<string, unknown>; violations: FieldViolation[] } {
  if (!isPlainObject(value)) throw ApiError.field('', 'the body must be a JSON object');
  const violations: FieldViolation[] = [];
  if (known) {
    for (const key of Object.keys(value))
      if (!known.has(key))
        violations.push({ field: key, description: `property ${key} should not exist` });
  }
  return { body: value, violations };
}

function isSelfValidating(m: unknown): m is SelfValidating<unknown> {
  return typeof m === 'function' && Object.prototype.hasOwnProperty.call(m, 'fromPlain');
}

/** A DTO class. */
type DtoClass = abstract new (...args: never[]) => unknown;
/** A DTO's declared properties, each with the DTO class of its nested value (or null). */
type Properties = Map<string, DtoClass | null>;
const propertiesByClass = new WeakMap<DtoClass, Properties>();

function propertiesOf(dto: DtoClass): Properties {
  let props = propertiesByClass.get(dto);
  if (props) return props;
  props = new Map();
  for (const m of getMetadataStorage().getTargetValidationMetadatas(dto, '', true, false)) {
    const nested =
      m.type === ValidationTypes.NESTED_VALIDATION
        ? (defaultMetadataStorage.findTypeMetadata(dto, m.propertyName)?.typeFunction() ?? null)
        : null;
    if (nested || !props.has(m.propertyName)) props.set(m.propertyName, nested as DtoClass | null);
  }
  propertiesByClass.set(dto, props);
  return props;
}

/**
 * Every own key of `plain` that `dto` does not declare, at any depth of nested DTOs, whatever
 * its name: "constructor", "toString" or "prototype" are as unknown as "foo" (class-transformer
 * skips keys named like prototype members, and Nest strips some before validating, so
 * class-validator's whitelist never sees them).
 */
export function unknownProperties(plain: unknown, dto: DtoClass, path = ''): FieldViolation[] {
  const out: FieldViolation[] = [];
  if (!isPlainObject(plain)) return out;
  const props = propertiesOf(dto);
  for (const key of Object.keys(plain)) {
    const field = path ? `${path}.${key}` : key;
    if (!props.has(key)) {
      out.push({ field, description: `property ${key} should not exist` });
      continue;
    }
    const nested = props.get(key);
    const value = plain[key];
    if (!nested) continue;
    if (Array.isArray(value))
      value.forEach((item, i) => out.push(...unknownProperties(item, nested, `${field}[${i}]`)));
    else out.push(...unknownProperties(value, nested, field));
  }
  return out;
}

function violationsOf(e: ApiError): FieldViolation[] {
  return e.details.flatMap((d) => ('field_violations' in d ? d.field_violations : []));
}

/**
 * The global pipe: self-validating DTOs validate themselves, the rest go through class-validator,
 * after the unknown-property check above (the pipe's only whitelist).
 */
export class AppValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    const metatype = metadata.metatype;
    if (isSelfValidating(metatype)) return metatype.fromPlain(value);
    const unknown =
      metatype && this.toValidate(metadata) ? unknownProperties(value, metatype as DtoClass) : [];
    let result: unknown;
    try {
      result = await super.transform(value, metadata);
    } catch (e) {
      if (unknown.length > 0 && e instanceof ApiError)
        throw ApiError.invalidRequest([...unknown, ...violationsOf(e)]);
      throw e;
    }
    if (unknown.length > 0) throw ApiError.invalidRequest(unknown);
    return result;
  }
}
