import * as z from 'zod';
import type { OpenApiDocument, SchemaObject } from './openapi';
import { SchemaConverter, describeSchema } from './schema-to-zod';

const doc: Pick<OpenApiDocument, 'components'> = {
  components: {
    schemas: {
      Reason: { type: 'string', enum: ['keyCompromise', 'superseded'], description: 'RFC 5280 reason' },
      Node: {
        type: 'object',
        properties: { name: { type: 'string' }, child: { $ref: '#/components/schemas/Node' } },
        required: ['name'],
      },
      Create: {
        type: 'object',
        properties: {
          name: { type: 'string', maxLength: 5, description: 'Display name' },
          owner_id: { type: 'string', nullable: true, description: 'An existing owner' },
          ttl: { type: 'integer', minimum: 1, maximum: 10, default: 5 },
          sans: { type: 'array', items: { type: 'string' }, maxItems: 2 },
          tags: { type: 'object', additionalProperties: { type: 'string' } },
          config: { type: 'object', description: 'Connector settings' },
          reason: { allOf: [{ $ref: '#/components/schemas/Reason' }], description: 'Why' },
          expires_at: { type: 'string', format: 'date-time' },
        },
        required: ['name'],
      },
    },
  },
};
const converter = new SchemaConverter(doc);
const schemaOf = (s: SchemaObject) => converter.convert(s);
/** A JSON Schema node, loosely typed for reading in assertions. */
interface Js {
  type?: string | string[];
  description?: string;
  required?: string[];
  properties: Record<string, Js>;
  [k: string]: unknown;
}
const jsonSchema = (s: SchemaObject) => z.toJSONSchema(schemaOf(s), { io: 'input' }) as unknown as Js;

describe('SchemaConverter', () => {
  const create = schemaOf({ $ref: '#/components/schemas/Create' });

  it('keeps required and optional fields, bounds, enums, nullables and maps', () => {
    expect(create.safeParse({ name: 'web' }).success).toBe(true);
    const ok = { name: 'web', owner_id: null, ttl: 10, sans: ['a', 'b'], tags: { a: 'b' }, reason: 'superseded' };
    expect(create.parse(ok)).toEqual(ok);
    const bad = (v: object) => create.safeParse({ name: 'web', ...v }).success;
    expect(create.safeParse({}).success).toBe(false); // name is required
    expect(bad({ name: 'toolong' })).toBe(false); // maxLength
    expect(bad({ ttl: 11 })).toBe(false); // maximum
    expect(bad({ ttl: 1.5 })).toBe(false); // integer
    expect(bad({ sans: ['a', 'b', 'c'] })).toBe(false); // maxItems
    expect(bad({ tags: { a: 1 } })).toBe(false); // map values are strings
    expect(bad({ reason: 'because' })).toBe(false); // enum
    expect(bad({ config: { anything: [1, { x: true }] } })).toBe(true); // free-form object
  });

  it('lets unknown body keys through for the API to judge, unless the schema forbids them', () => {
    expect(create.parse({ name: 'web', surprise: 1 })).toEqual({ name: 'web', surprise: 1 });
    const closed = schemaOf({ type: 'object', properties: { a: { type: 'string' } }, additionalProperties: false });
    expect(closed.safeParse({ a: 'x', b: 1 }).success).toBe(false);
  });

  it('carries descriptions, formats, defaults and examples into the JSON Schema the model reads', () => {
    const js = jsonSchema({ $ref: '#/components/schemas/Create' });
    expect(js.required).toEqual(['name']);
    expect(js.properties.name).toMatchObject({ type: 'string', maxLength: 5, description: 'Display name.' });
    expect(js.properties.ttl).toMatchObject({ type: 'integer', minimum: 1, maximum: 10, description: 'Default: 5.' });
    expect(js.properties.expires_at.description).toBe('RFC 3339 date-time.');
    expect(js.properties.reason.description).toBe('Why.');
    expect(JSON.stringify(js.properties.reason)).toContain('keyCompromise');
    expect(js.properties.owner_id.type).toEqual(['string', 'null']);
    expect(js.properties.config.description).toBe('Connector settings.');
  });

  it('describes with the lead (a parameter description) and tail around the schema text', () => {
    expect(describeSchema({ type: 'integer', default: 50, example: 10 }, 'Items per page', 'Query parameter')).toBe(
      'Items per page. Default: 50. Example: 10. Query parameter.',
    );
    expect(describeSchema({ type: 'string' })).toBe('');
    const js = z.toJSONSchema(
      converter.convert({ type: 'string' }, 'Certificate id.', 'Path parameter'),
    ) as unknown as Js;
    expect(js.description).toBe('Certificate id. Path parameter.');
  });

  it('stops at a schema that contains itself instead of recursing forever', () => {
    const node = schemaOf({ $ref: '#/components/schemas/Node' });
    expect(node.parse({ name: 'a', child: { name: 'b', child: { anything: 1 } } })).toMatchObject({ name: 'a' });
    expect(node.safeParse({ child: { name: 'b' } }).success).toBe(false);
  });

  it('rejects a $ref the document does not define', () => {
    expect(() => schemaOf({ $ref: '#/components/schemas/Nope' })).toThrow(
      'unresolvable $ref #/components/schemas/Nope',
    );
  });

  it('converts unions and mixed enums', () => {
    const u = schemaOf({ oneOf: [{ type: 'string' }, { type: 'integer' }] });
    expect([u.safeParse('a').success, u.safeParse(3).success, u.safeParse(true).success]).toEqual([true, true, false]);
    const e = schemaOf({ enum: [1, 'two'] });
    expect([e.safeParse(1).success, e.safeParse('two').success, e.safeParse(2).success]).toEqual([true, true, false]);
  });
});
