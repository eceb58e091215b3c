import * as z from 'zod';
import type { OpenApiDocument, SchemaObject } from './openapi';

/**
 * OpenAPI 3.0 schema -> zod 4 schema, for the MCP tools' input schemas. The SDK turns the
 * zod schema back into the JSON Schema the model sees, so what matters here is that every
 * field keeps its description (plus format, default and example, folded into the text an LLM
 * reads) and its constraints (enum, bounds, required). The server validates again: the
 * conversion errs on the permissive side (unknown body keys pass through so the API, not the
 * proxy, names what is wrong).
 */
export class SchemaConverter {
  constructor(private readonly doc: Pick<OpenApiDocument, 'components'>) {}

  /**
   * The zod schema of `schema`; `$ref`s resolve against the document's components. `lead` and
   * `tail` are sentences put before and after the schema's own description (a parameter's
   * description, where it goes).
   */
  convert(schema: SchemaObject, lead?: string, tail?: string): z.ZodType {
    return this.describe(this.build(schema, []), schema, lead, tail);
  }

  private resolve(ref: string): { name: string; schema: SchemaObject } {
    const m = /^#\/components\/schemas\/(.+)$/.exec(ref);
    const schema = m ? this.doc.components?.schemas?.[m[1]] : undefined;
    if (!m || !schema) throw new Error(`unresolvable $ref ${ref}`);
    return { name: m[1], schema };
  }

  private build(s: SchemaObject, seen: string[]): z.ZodType {
    const base = this.buildBase(s, seen);
    return s.nullable ? base.nullable() : base;
  }

  private buildBase(s: SchemaObject, seen: string[]): z.ZodType {
    if (s.$ref) {
      const { name, schema } = this.resolve(s.$ref);
      // A schema that contains itself: stop at the second visit rather than recurse forever.
      if (seen.includes(name)) return z.unknown();
      return this.describe(this.build(schema, [...seen, name]), schema);
    }
    if (s.allOf?.length) {
      const parts = s.allOf.map((p) => this.convertPart(p, seen));
      return parts.reduce((acc, p) => z.intersection(acc, p));
    }
    const alternatives = s.oneOf ?? s.anyOf;
    if (alternatives?.length) {
      const parts = alternatives.map((p) => this.convertPart(p, seen));
      return parts.length === 1 ? parts[0] : z.union(parts as [z.ZodType, z.ZodType, ...z.ZodType[]]);
    }
    if (s.enum?.length) return enumOf(s.enum);
    switch (s.type) {
      case 'string':
        return stringOf(s);
      case 'integer':
      case 'number':
        return numberOf(s);
      case 'boolean':
        return z.boolean();
      case 'array': {
        let a = z.array(s.items ? this.convertPart(s.items, seen) : z.unknown());
        if (s.minItems !== undefined) a = a.min(s.minItems);
        if (s.maxItems !== undefined) a = a.max(s.maxItems);
        return a;
      }
      case 'object':
        return this.objectOf(s, seen);
      case undefined:
        return s.properties ? this.objectOf(s, seen) : z.unknown();
    }
  }

  private convertPart(s: SchemaObject, seen: string[]): z.ZodType {
    return this.describe(this.build(s, seen), s);
  }

  private objectOf(s: SchemaObject, seen: string[]): z.ZodType {
    const props = Object.entries(s.properties ?? {});
    const extra = s.additionalProperties;
    if (!props.length && extra !== false) {
      // A map (e.g. tags: string -> string) or a free-form object (connector config).
      const value = typeof extra === 'object' ? this.convertPart(extra, seen) : z.unknown();
      return z.record(z.string(), value);
    }
    const required = new Set(s.required ?? []);
    const shape: Record<string, z.ZodType> = {};
    for (const [name, prop] of props) {
      const field = this.convertPart(prop, seen);
      shape[name] = required.has(name) ? field : field.optional();
    }
    return extra === false ? z.strictObject(shape) : z.looseObject(shape);
  }

  /** Adds the schema's description, with its format, default and example, for the model to read. */
  private describe(t: z.ZodType, s: SchemaObject, lead?: string, tail?: string): z.ZodType {
    const text = describeSchema(s, lead, tail);
    return text ? t.describe(text) : t;
  }
}

/** The description text of a field: the spec's own words, then format/default/example hints. */
export function describeSchema(s: SchemaObject, lead?: string, tail?: string): string {
  const parts = [lead, s.description].filter((x): x is string => !!x?.trim()).map(sentence);
  if (s.format === 'date-time') parts.push('RFC 3339 date-time.');
  else if (s.format === 'date') parts.push('Date (YYYY-MM-DD).');
  else if (s.format === 'email') parts.push('Email address.');
  if (s.default !== undefined) parts.push(`Default: ${JSON.stringify(s.default)}.`);
  if (s.example !== undefined) parts.push(`Example: ${JSON.stringify(s.example)}.`);
  if (tail?.trim()) parts.push(sentence(tail));
  return parts.join(' ');
}

/** Trimmed, ending in a full stop unless it already ends a sentence. */
function sentence(text: string): string {
  const t = text.trim();
  return /[.!?]$/.test(t) ? t : `${t}.`;
}

function enumOf(values: unknown[]): z.ZodType {
  if (values.every((v): v is string => typeof v === 'string')) return z.enum(values as [string, ...string[]]);
  const literals: z.ZodType[] = values.map((v) => z.literal(v as string | number | boolean | null));
  return literals.length === 1 ? literals[0] : z.union(literals as [z.ZodType, z.ZodType, ...z.ZodType[]]);
}

function stringOf(s: SchemaObject): z.ZodType {
  let t = z.string();
  if (s.minLength !== undefined) t = t.min(s.minLength);
  if (s.maxLength !== undefined) t = t.max(s.maxLength);
  return t;
}

function numberOf(s: SchemaObject): z.ZodType {
  let t = s.type === 'integer' ? z.number().int() : z.number();
  if (s.minimum !== undefined) t = t.min(s.minimum);
  if (s.maximum !== undefined) t = t.max(s.maximum);
  return t;
}
