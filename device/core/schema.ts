/** JSON Schema validation (Ajv) for signed payloads: one place, readable errors naming the field. */
import { Ajv, type ErrorObject } from 'ajv';
import { PassgateError } from '../../base/errors.js';

const ajv = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true });

export type Validator<T> = (value: unknown) => T;

/** Compiles once; the returned function throws BAD_ENCODING with the failing field in the message. */
export function compileSchema<T>(what: string, schema: object): Validator<T> {
  const validate = ajv.compile(schema);
  return (value: unknown): T => {
    if (!validate(value)) throw new PassgateError('BAD_ENCODING', `${what}: ${describe(validate.errors)}`);
    return value as T;
  };
}

function describe(errors: ErrorObject[] | null | undefined): string {
  const e = errors?.[0];
  if (!e) return 'invalid';
  const at = e.instancePath === '' ? '(top)' : e.instancePath;
  const extra = e.keyword === 'enum' ? ` (${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')})` : '';
  return `${at} ${e.message ?? 'invalid'}${extra}`;
}
