/**
 * Can a schema be validated from its JSON Schema alone? JSON Schema describes shape, not behaviour: a zod
 * schema with a transform, a refinement, a default, a coercion or a `trim()` produces output that a JSON Schema
 * check cannot reproduce (zod's `toJSONSchema` silently drops them). Such a schema is "impure" and Courier
 * validates it with the schema's own Standard Schema `validate` instead of the compiled fast path.
 *
 * This inspects zod 4's public-ish definition tree (`schema._zod.def`). Anything it does not recognise is
 * treated as impure: a slow correct path beats a fast wrong one.
 */
const PURE_TYPES = new Set([
  'string',
  'number',
  'int',
  'boolean',
  'bigint',
  'null',
  'undefined',
  'literal',
  'enum',
  'object',
  'array',
  'tuple',
  'union',
  'intersection',
  'record',
  'optional',
  'nullable',
  'readonly',
  'any',
  'unknown',
  'lazy',
  'template_literal',
  'nan',
]);

/** Check kinds that only reject (never change) a value. Everything else (e.g. `overwrite`, `custom`) is impure. */
const PURE_CHECKS = new Set([
  'less_than',
  'greater_than',
  'multiple_of',
  'number_format',
  'max_length',
  'min_length',
  'length_equals',
  'string_format',
  'regex',
  'lowercase',
  'uppercase',
  'includes',
  'starts_with',
  'ends_with',
  'max_size',
  'min_size',
  'size_equals',
  'bigint_format',
]);

interface ZodLike {
  _zod?: { def?: Record<string, any> };
}

/** True when `schema` is a zod 4 schema whose whole tree validates without transforming its input. */
export function isPureZodSchema(schema: unknown): boolean {
  return visit(schema, new Set());
}

function visit(node: unknown, seen: Set<unknown>): boolean {
  const def = (node as ZodLike)?._zod?.def;
  if (def === undefined) return false;
  if (seen.has(node)) return true; // recursive schema: the cycle itself adds nothing impure
  seen.add(node);
  if (!PURE_TYPES.has(def['type'])) return false;
  if (def['coerce'] === true) return false;
  for (const check of (def['checks'] as ZodLike[] | undefined) ?? []) {
    const checkDef = check?._zod?.def;
    if (!PURE_CHECKS.has(checkDef?.['check'])) return false;
    // JSON Schema's `pattern` keeps a regex's source but not its flags (`/abc/i` would become "abc").
    if (checkDef?.['pattern'] instanceof RegExp && checkDef['pattern'].flags !== '') return false;
  }
  switch (def['type']) {
    case 'object':
      if (def['catchall'] !== undefined && !visit(def['catchall'], seen)) return false;
      return Object.values(def['shape'] ?? {}).every((child) => visit(child, seen));
    case 'array':
      return visit(def['element'], seen);
    case 'tuple':
      return (
        (def['items'] as unknown[]).every((child) => visit(child, seen)) &&
        (def['rest'] == null || visit(def['rest'], seen))
      );
    case 'union':
      return (def['options'] as unknown[]).every((child) => visit(child, seen));
    case 'intersection':
      return visit(def['left'], seen) && visit(def['right'], seen);
    case 'record':
      return visit(def['keyType'], seen) && visit(def['valueType'], seen);
    case 'optional':
    case 'nullable':
    case 'readonly':
      return visit(def['innerType'], seen);
    case 'lazy':
      return visit(def['getter']?.(), seen);
    default:
      return true;
  }
}
