/**
 * Can a zod schema be validated from its JSON Schema alone? JSON Schema describes shape, not behaviour: a
 * transform, refinement, default, coercion, `trim()`, a URL or JWT check (zod runs code, not a pattern) produce
 * verdicts or outputs that a JSON Schema check cannot reproduce, and zod's `toJSONSchema` silently drops them.
 * Such a schema is "impure" and Courier validates it with the schema's own Standard Schema `validate`.
 *
 * This walks zod 4's definition tree (`schema._zod.def`). Anything it does not recognise is impure: a slow
 * correct path beats a fast wrong one. Two shape rules are subtle:
 * - `.optional()` is pure only as the value of an object property, where JSON Schema expresses it by leaving
 *   the key out of `required`. Elsewhere (an array item, a record value, a union member) zod accepts
 *   `undefined` and the JSON Schema does not say so.
 * - A record's keys must be strings (zod converts numeric keys); enum/literal keys must be string values.
 */
const PURE_TYPES = new Set([
  'string',
  'number',
  'boolean',
  'null',
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
  'never',
  'lazy',
  'template_literal',
]);

/** Check kinds that only reject a value, and that zod's JSON Schema states exactly. */
const PURE_CHECKS = new Set([
  'less_than',
  'greater_than',
  'multiple_of',
  'number_format',
  'max_length',
  'min_length',
  'length_equals',
  'string_format',
]);

/**
 * String formats zod checks with its regular expression alone, the same one it writes as the JSON Schema
 * `pattern`. Not here: url, jwt, ipv6, cidrv6, base64(url), credit cards, IBAN (zod runs code), emoji (needs
 * the `u` flag), custom formats.
 */
const PATTERN_FORMATS = new Set([
  'guid',
  'uuid',
  'email',
  'nanoid',
  'cuid',
  'cuid2',
  'ulid',
  'xid',
  'ksuid',
  'datetime',
  'date',
  'time',
  'duration',
  'ipv4',
  'cidrv4',
  'mac',
  'e164',
  'hex',
  'hostname',
  'lowercase',
  'uppercase',
  'starts_with',
  'ends_with',
  'includes',
  'regex',
]);

type Def = Record<string, any>;
interface ZodLike {
  _zod?: { def?: Def; traits?: Set<string> };
}
type Position = 'property' | 'value';

/** True when `schema` is a zod 4 schema whose whole tree validates without transforming its input. */
export function isPureZodSchema(schema: unknown): boolean {
  return visit(schema, 'value', { property: new Set(), value: new Set() });
}

function visit(node: unknown, position: Position, seen: Record<Position, Set<unknown>>): boolean {
  const zod = (node as ZodLike | undefined)?._zod;
  const def = zod?.def;
  if (def === undefined) return false;
  if (seen[position].has(node)) return true; // recursive schema: the cycle itself adds nothing impure
  seen[position].add(node);
  if (!PURE_TYPES.has(def['type']) || def['coerce'] === true) return false;
  if (zod?.traits?.has('$ZodExactOptional')) return false; // rejects a present `undefined`: not expressible
  if (!formatIsPure(def)) return false;
  for (const check of (def['checks'] as ZodLike[] | undefined) ?? []) {
    const checkDef = check?._zod?.def;
    if (checkDef === undefined || !PURE_CHECKS.has(checkDef['check']) || !formatIsPure(checkDef)) return false;
  }
  const inner = (child: unknown, at: Position = 'value') => visit(child, at, seen);
  switch (def['type']) {
    case 'object':
      if (def['catchall'] !== undefined && !inner(def['catchall'])) return false;
      return Object.values(def['shape'] ?? {}).every((child) => inner(child, 'property'));
    case 'array':
      return inner(def['element']);
    case 'tuple':
      return (def['items'] as unknown[]).every((child) => inner(child)) && (def['rest'] == null || inner(def['rest']));
    case 'union':
      return (def['options'] as unknown[]).every((child) => inner(child));
    case 'intersection':
      return inner(def['left']) && inner(def['right']);
    case 'record':
      return isStringKey(def['keyType']) && inner(def['keyType']) && inner(def['valueType']);
    case 'optional':
      return position === 'property' && inner(def['innerType']);
    case 'nullable':
    case 'readonly':
      return inner(def['innerType'], position);
    case 'lazy':
      return inner(def['getter']?.(), position);
    case 'literal':
      return (def['values'] as unknown[]).every(isJsonPrimitive);
    case 'enum':
      return Object.values(def['entries'] ?? {}).every(isJsonPrimitive);
    default:
      return true;
  }
}

/** A format or pattern on a schema or check: its format must be pattern-only and its regex flagless. */
function formatIsPure(def: Def): boolean {
  // JSON Schema's `pattern` keeps a regex's source but not its flags (`/abc/i` would become "abc").
  if (def['pattern'] instanceof RegExp && def['pattern'].flags !== '') return false;
  if (def['format'] !== undefined && def['check'] === 'string_format' && !PATTERN_FORMATS.has(def['format'])) return false;
  if (def['format'] === 'includes' && def['position'] !== undefined) return false; // the pattern ignores position
  return true;
}

function isStringKey(key: unknown): boolean {
  const def = (key as ZodLike | undefined)?._zod?.def;
  switch (def?.['type']) {
    case 'string':
    case 'template_literal':
      return true;
    case 'enum':
      return Object.values(def['entries'] ?? {}).every((v) => typeof v === 'string');
    case 'literal':
      return (def['values'] as unknown[]).every((v) => typeof v === 'string');
    default:
      return false;
  }
}

function isJsonPrimitive(v: unknown): boolean {
  return v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
}
