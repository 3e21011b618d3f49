// JSON Schema (as the OpenAPI document states it) → fast-check arbitraries, small and honest: the
// keywords our schemas use (type, enum, const, min/max, lengths, pattern, required,
// additionalProperties, items, oneOf/anyOf). `conforming` values satisfy the schema (the server may
// still refuse them for reasons the schema does not state: an unknown pool, a missing id);
// `mutants` certainly violate it, each with exactly one defect whose place it names, so a refusal
// can be checked to name that field. Values come in two modes: `json` for bodies, `text` for query
// strings and path parameters, where every value is a string (a number's "7" conforms there).
import fc from 'fast-check';
import { isStorable } from '../../src/db/storable.js';

export interface JsonSchema {
  type?: string | string[];
  enum?: readonly unknown[];
  const?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  properties?: Record<string, JsonSchema>;
  required?: readonly string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  oneOf?: readonly JsonSchema[];
  anyOf?: readonly JsonSchema[];
  default?: unknown;
}

export type Mode = 'json' | 'text';
export type Path = readonly (string | number)[];

/** A value with one defect: where it is, and what it is. */
export interface Mutant {
  value: unknown;
  path: Path;
  what: string;
}

/** Values of known fields (pool names, ids that exist), offered by property or parameter name, so valid requests reach the database too. */
export type Known = Readonly<Record<string, readonly string[]>>;

/** The characters PostgreSQL cannot store, in the shapes a client sends them: NUL, lone high and low surrogates, a reversed pair. */
export const UNSTORABLE = ['\u0000', '\ud800', '\udfff', '\udc00\ud800', '\ud83d'] as const;

/** A string of the given length in UTF-16 units that is storable and passes any length check the same way in every reading (code points or units). */
const plainChar = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.') },
  { weight: 2, arbitrary: fc.constantFrom(...' !"#$%&\'()*+,/:;<=>?@[\\]^`{|}~') },
  // BMP characters below the surrogates: one unit each, so lengths agree however they are counted.
  { weight: 1, arbitrary: fc.integer({ min: 0xa0, max: 0xd7ff }).map((c) => String.fromCharCode(c)) },
);
const plainString = (min: number, max: number) => fc.string({ unit: plainChar, minLength: min, maxLength: max });

/** JSON text spliced in as it is: nesting too deep for JSON.stringify (and, maybe, for the server). */
export class RawJson {
  constructor(readonly text: string) {}
}

/** JSON.stringify, but RawJson values go in as their text. */
export function toJson(value: unknown): string {
  if (value instanceof RawJson) return value.text;
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : toJson(v))).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${JSON.stringify(k)}:${toJson(v)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** Values at the edges: deep nesting, long and astral strings, extreme numbers, invisible characters. */
const edgeJson: fc.Arbitrary<unknown> = fc.oneof(
  fc.tuple(fc.constantFrom(10, 100, 1000, 5000, 20_000, 100_000), fc.boolean()).map(([depth, arrays]) => new RawJson(arrays ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth))),
  fc.constantFrom(1000, 30_000, 65_000).map((n) => '\u00e9'.repeat(n)),
  fc.constantFrom('\u{1F600}'.repeat(20), '\u2028\u2029', '\ufeff', 'e\u0301', '\uffff', '\u{10FFFF}', '\\u0000', '%00', '\u0001\u001f\u007f'),
  fc.constantFrom(1e308, -1e308, 5e-324, -0, Number.MAX_SAFE_INTEGER + 2, 0.1),
  fc.constant(new RawJson('1e400')),
  fc.constant(new RawJson('123456789012345678901234567890')),
);

/** Any JSON value PostgreSQL can store, with a share of edge values. */
export const storableJson: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 9, arbitrary: fc.jsonValue({ maxDepth: 3, depthSize: 'small' }).filter((v) => isStorableDeep(v)) },
  { weight: 1, arbitrary: edgeJson },
);

function isStorableDeep(value: unknown): boolean {
  if (typeof value === 'string') return isStorable(value);
  if (Array.isArray(value)) return value.every(isStorableDeep);
  if (value && typeof value === 'object') return Object.entries(value).every(([k, v]) => isStorable(k) && isStorableDeep(v));
  return true;
}

const typesOf = (schema: JsonSchema): string[] => (schema.type === undefined ? [] : Array.isArray(schema.type) ? schema.type : [schema.type]);

function stringConforming(schema: JsonSchema, known: readonly string[] | undefined): fc.Arbitrary<string> {
  if (schema.enum) return fc.constantFrom(...(schema.enum as string[]));
  const min = schema.minLength ?? 0;
  const max = schema.maxLength ?? Math.max(min, 40);
  const fits = (s: string) => s.length >= min && s.length <= max && isStorable(s);
  let generated: fc.Arbitrary<string>;
  if (schema.pattern) {
    const pattern = new RegExp(schema.pattern);
    generated = fc.stringMatching(pattern).filter(fits);
  } else {
    generated = fc.oneof(
      { weight: 4, arbitrary: plainString(min, Math.min(max, min + 20)) },
      // The bounds themselves.
      { weight: 1, arbitrary: fc.constantFrom(min, max).chain((n) => plainString(n, n)) },
    );
  }
  const usable = known?.filter((k) => fits(k) && (!schema.pattern || new RegExp(schema.pattern).test(k)));
  return usable?.length ? fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...usable) }, { weight: 1, arbitrary: generated }) : generated;
}

function integerConforming(schema: JsonSchema): fc.Arbitrary<number> {
  const min = schema.minimum ?? -1_000_000;
  const max = schema.maximum ?? 1_000_000;
  return fc.oneof({ weight: 3, arbitrary: fc.integer({ min, max }) }, { weight: 1, arbitrary: fc.constantFrom(min, max) });
}

/** Values the schema accepts. In text mode, everything is the string a query or path would carry. */
export function conforming(schema: JsonSchema, mode: Mode, known: Known = {}, name = ''): fc.Arbitrary<unknown> {
  const asText = (a: fc.Arbitrary<unknown>) => (mode === 'text' ? a.map((v) => String(v)) : a);
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.oneOf ?? schema.anyOf) return fc.oneof(...(schema.oneOf ?? schema.anyOf ?? []).map((s) => conforming(s, mode, known, name)));
  const [type] = typesOf(schema);
  switch (type) {
    case 'string':
      return stringConforming(schema, known[name]);
    case 'integer':
      return asText(schema.enum ? fc.constantFrom(...schema.enum) : integerConforming(schema));
    case 'number':
      return asText(fc.double({ min: schema.minimum ?? -1e9, max: schema.maximum ?? 1e9, noNaN: true, noDefaultInfinity: true }));
    case 'boolean':
      return asText(fc.boolean());
    case 'null':
      return fc.constant(null);
    case 'array': {
      const items = conforming(schema.items ?? {}, mode, known, name);
      const min = schema.minItems ?? 0;
      const max = schema.maxItems ?? min + 4;
      return fc.oneof({ weight: 4, arbitrary: fc.array(items, { minLength: min, maxLength: Math.min(max, min + 4) }) }, { weight: 1, arbitrary: fc.array(items, { minLength: max, maxLength: max }) });
    }
    case 'object':
      return objectConforming(schema, mode, known);
    default:
      // No type: anything storable.
      return storableJson;
  }
}

function objectConforming(schema: JsonSchema, mode: Mode, known: Known): fc.Arbitrary<Record<string, unknown>> {
  const properties = schema.properties ?? {};
  if (Object.keys(properties).length === 0 && schema.additionalProperties !== false) {
    // A free-form map (a task's payload): storable keys and values.
    return fc.dictionary(plainString(1, 12), storableJson, { maxKeys: 6 });
  }
  const record: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [key, sub] of Object.entries(properties)) record[key] = conforming(sub, mode, known, key);
  return fc.record(record, { requiredKeys: [...(schema.required ?? [])].filter((k) => k in properties) });
}

// ——— mutants ———

const mutant = (value: unknown, path: Path, what: string): Mutant => ({ value, path, what });

/** A storable string made unstorable: one of UNSTORABLE somewhere inside it. */
const unstorableString: fc.Arbitrary<string> = fc
  .tuple(plainString(0, 6), fc.constantFrom(...UNSTORABLE), plainString(0, 6))
  .map(([a, bad, b]) => a + bad + b)
  // A lone low surrogate after a high one would pair up; the generated halves are plain, so only guard the join.
  .filter((s) => !isStorable(s));

/** JSON values of every type but the schema's own. */
function otherTypes(types: readonly string[]): fc.Arbitrary<unknown> {
  const all: Record<string, unknown[]> = {
    string: ['7', 'true', ''],
    number: [1.5, -1, 1e300],
    integer: [7, 0],
    boolean: [true, false],
    null: [null],
    array: [[], [1]],
    object: [{}, { a: 1 }],
  };
  const allowed = new Set(types.flatMap((t) => (t === 'number' ? ['number', 'integer'] : [t])));
  const values = Object.entries(all)
    .filter(([t]) => !allowed.has(t))
    .flatMap(([, v]) => v)
    // Whole numbers are numbers too: 7 is no wrong type for a number.
    .filter((v) => !(allowed.has('number') && typeof v === 'number'));
  return fc.constantFrom(...values);
}

/**
 * Values the schema refuses, each with exactly one defect at `path`. In text mode only defects a
 * string can carry: out of range, not a number, not in the enum, too long or short, off-pattern,
 * unstorable; in json mode also wrong types, missing and unknown fields, too many items.
 */
export function mutants(schema: JsonSchema, mode: Mode, path: Path = [], known: Known = {}, name = ''): fc.Arbitrary<Mutant> {
  const options: fc.Arbitrary<Mutant>[] = [unstorableString.map((s) => mutant(s, path, 'unstorable string'))];
  const types = typesOf(schema);
  const branches = schema.oneOf ?? schema.anyOf;
  if (mode === 'json' && (types.length > 0 || branches)) {
    const branchTypes = branches ? branches.flatMap(typesOf) : types;
    if (branchTypes.length > 0) options.push(otherTypes(branchTypes).map((v) => mutant(v, path, 'wrong type')));
  }
  if (schema.enum) {
    const miss = fc.constantFrom(...schema.enum.map((v) => `${String(v)}x`), 'NOPE', ...schema.enum.map((v) => String(v).toUpperCase())).filter((v) => !schema.enum?.map(String).includes(v));
    options.push(miss.map((v) => mutant(v, path, 'not in the enum')));
  }
  const [type] = types;
  if (type === 'string' && !schema.enum) {
    const min = schema.minLength ?? 0;
    if (min > 0) options.push(fc.constant(mutant('', path, 'shorter than minLength')));
    if (schema.maxLength !== undefined) {
      const over = schema.maxLength + 1;
      options.push(fc.constantFrom(over, over * 10, 100_000).map((n) => mutant('x'.repeat(n), path, `longer than maxLength (${n})`)));
    }
    if (schema.pattern) {
      const pattern = new RegExp(schema.pattern);
      const candidates = ['!!!', 'a b', '%', '\u00e9t\u00e9', '..', '../etc', 'a/b', 'DROP TABLE tasks;', '\t'].filter(
        (s) => !pattern.test(s) && s.length >= min && s.length <= (schema.maxLength ?? Infinity),
      );
      if (candidates.length > 0) options.push(fc.constantFrom(...candidates).map((s) => mutant(s, path, 'off-pattern')));
    }
  }
  if (type === 'integer' || type === 'number') {
    const outside: number[] = [];
    if (schema.minimum !== undefined) outside.push(schema.minimum - 1, -1e15);
    if (schema.maximum !== undefined) outside.push(schema.maximum + 1, 1e15);
    if (type === 'integer') outside.push((schema.minimum ?? 0) + 0.5);
    const texts = ['ten', 'NaN', 'Infinity', '1,5', '7abc'];
    const values = mode === 'text' ? [...outside.map(String), ...texts] : outside;
    if (values.length > 0) options.push(fc.constantFrom(...values).map((v) => mutant(v, path, 'out of range or not a number')));
  }
  if (type === 'array' && mode === 'json') {
    const items = schema.items ?? {};
    if (schema.maxItems !== undefined) {
      const max = schema.maxItems;
      options.push(fc.array(conforming(items, mode, known, name), { minLength: max + 1, maxLength: max + 1 }).map((v) => mutant(v, path, 'more than maxItems')));
    }
    options.push(
      fc
        .tuple(fc.array(conforming(items, mode, known, name), { maxLength: 2 }), mutants(items, mode, [], known, name))
        .map(([before, bad]) => mutant([...before, bad.value], [...path, before.length, ...bad.path], `item: ${bad.what}`)),
    );
  }
  if (type === 'object' && mode === 'json' && !branches) options.push(...objectMutants(schema, path, known));
  if (branches && mode === 'json') {
    // A field no branch knows, where every branch refuses unknown fields.
    const knownKeys = new Set(branches.flatMap((b) => Object.keys(b.properties ?? {})));
    if (branches.every((b) => b.additionalProperties === false)) {
      options.push(
        fc.tuple(fc.oneof(...branches.map((b) => objectConforming(b, mode, known))), unknownKey(knownKeys)).map(([value, key]) => mutant({ ...value, [key]: 1 }, [...path, key], 'unknown field')),
      );
    }
  }
  return fc.oneof(...options);
}

const unknownKey = (taken: ReadonlySet<string>) => fc.oneof(fc.constantFrom('x_fuzz', 'Pool', '__proto__x', 'constructor', ''), plainString(1, 10)).filter((k) => !taken.has(k));

function objectMutants(schema: JsonSchema, path: Path, known: Known): fc.Arbitrary<Mutant>[] {
  const properties = schema.properties ?? {};
  const base = objectConforming(schema, 'json', known);
  const options: fc.Arbitrary<Mutant>[] = [];
  // An unstorable key wherever keys are taken (a strict object refuses it twice: the storable check names it first).
  options.push(fc.tuple(base, unstorableString).map(([value, key]) => mutant({ ...value, [key]: 1 }, [...path, key], 'unstorable key')));
  for (const key of schema.required ?? []) {
    options.push(
      base.map((value) => {
        const { [key]: _gone, ...rest } = value;
        return mutant(rest, [...path, key], 'missing required field');
      }),
    );
  }
  if (schema.additionalProperties === false) {
    const taken = new Set(Object.keys(properties));
    options.push(fc.tuple(base, unknownKey(taken), storableJson).map(([value, key, v]) => mutant({ ...value, [key]: v }, [...path, key], 'unknown field')));
  }
  for (const [key, sub] of Object.entries(properties)) {
    options.push(fc.tuple(base, mutants(sub, 'json', [...path, key], known, key)).map(([value, bad]) => mutant({ ...value, [key]: bad.value }, bad.path, `${key}: ${bad.what}`)));
  }
  return options;
}

/**
 * Percent-encodes for a URL, lone surrogates included: those go as the three bytes UTF-8 would
 * give them (WTF-8), which decode to no character at all, as a careless client sends them.
 */
export function percentEncode(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    const next = text.charCodeAt(i + 1);
    if (unit >= 0xd800 && unit <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
      out += encodeURIComponent(text.slice(i, i + 2));
      i++;
    } else if (unit >= 0xd800 && unit <= 0xdfff) {
      out += [0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f)].map((b) => `%${b.toString(16).toUpperCase()}`).join('');
    } else {
      out += encodeURIComponent(text[i]!);
    }
  }
  return out;
}
