import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'supertest';
import { SEALING_ENV } from '../../../../test/integration/issued-certificates';
import {
  createPrivateDatabase,
  createTestApp,
  type PrivateDatabase,
  type TestApp,
} from '../../../../test/integration/test-app';

/**
 * Every operation of the OpenAPI document, with an admin key, fed bad input: hostile path
 * ids, nonsense query values, bodies of the wrong shape, and one property at a time set to a
 * value of the wrong type (on top of the schema's own examples, so the rest of the body can
 * reach the service's own checks). Every answer must be a 4xx naming the problem, or a 2xx
 * where the input turned out acceptable: never a 5xx. A database of its own, since the admin
 * key may create, change or delete things.
 */

interface Schema {
  $ref?: string;
  type?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  example?: unknown;
  default?: unknown;
  enum?: unknown[];
  allOf?: Schema[];
  oneOf?: Schema[];
  nullable?: boolean;
}
interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  schema?: Schema;
}
interface Operation {
  operationId: string;
  parameters?: Parameter[];
  requestBody?: { content: Record<string, { schema: Schema }> };
}

const doc = JSON.parse(readFileSync(join(__dirname, '../../../../docs/openapi.json'), 'utf8')) as {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
};

function resolve(schema: Schema | undefined): Schema {
  if (!schema) return {};
  if (schema.$ref) return resolve(doc.components.schemas[schema.$ref.replace('#/components/schemas/', '')]);
  if (schema.allOf?.length === 1) return resolve(schema.allOf[0]);
  return schema;
}

/** Values of the wrong type (or hostile values of the right one) for a property. */
function wrongValues(schema: Schema): unknown[] {
  const s = resolve(schema);
  const hostile = ['', '\u0000', 'x'.repeat(5_000), '../../etc/passwd', '💥'.repeat(50), '<script>'];
  switch (s.type ?? 'string') {
    case 'integer':
    case 'number':
      return ['12', 'abc', -1, 1.5, 1e308, -1e308, true, {}, []];
    case 'boolean':
      return ['true', 'yes', 1, null, {}];
    case 'array':
      return ['x', 5, {}, [null], [{}], [[]], Array.from({ length: 2_000 }, () => 'x'), hostile];
    case 'object':
      return ['x', 5, [], true, { nested: { deeper: {} } }];
    default:
      return [5, true, {}, [], ...hostile];
  }
}

/** A body from the schema's examples and defaults (empty where it has none). */
function exampleBody(schema: Schema): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const [name, prop] of Object.entries(resolve(schema).properties ?? {})) {
    const p = resolve(prop);
    const value = prop.example ?? p.example ?? prop.default ?? p.default ?? p.enum?.[0];
    if (value !== undefined) body[name] = value;
  }
  return body;
}

const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
  Object.entries(methods).map(([method, op]) => ({ path, method, op })),
);

describe('bad input on every API operation never reaches a 5xx', () => {
  let db: PrivateDatabase;
  let t: TestApp;
  let admin: string;

  beforeAll(async () => {
    db = await createPrivateDatabase(`bad_input_${randomBytes(3).toString('hex')}`);
    t = await createTestApp({ ...db.env, ...SEALING_ENV });
    admin = `Bearer ${(await t.mintKey(['admin'])).key}`;
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  it('reads the operations of the OpenAPI document', () => {
    expect(operations.length).toBeGreaterThan(100);
  });

  it('answers every hostile request with a 4xx and a message, or a 2xx', async () => {
    const ids = ['does-not-exist', '%00', 'x'.repeat(3_000), '..%2F..%2Fetc', '%F0%9F%92%A5', "'%20OR%201=1--", '-1'];
    const bad: string[] = [];
    let sent = 0;
    const send = async (method: string, url: string, body?: unknown, raw?: string) => {
      let req = (t.http as unknown as Record<string, (u: string) => Test>)[method](url).set('Authorization', admin);
      if (raw !== undefined) req = req.set('Content-Type', 'application/json').send(raw);
      else if (body !== undefined) req = req.send(body as object);
      const res = await req;
      sent++;
      const ok =
        (res.status >= 200 && res.status < 300) ||
        (res.status >= 400 &&
          res.status < 500 &&
          res.type === 'application/json' &&
          typeof res.body?.message === 'string' &&
          res.body.message.length > 0);
      if (!ok && bad.length < 25) {
        bad.push(
          `${method.toUpperCase()} ${url.slice(0, 120)} ${JSON.stringify(body)?.slice(0, 120) ?? raw?.slice(0, 60)} -> ${res.status} ${res.text.slice(0, 160)}`,
        );
      }
    };

    for (const { path, method, op } of operations) {
      const params = op.parameters ?? [];
      const hasPathParams = params.some((p) => p.in === 'path');
      const fill = (id: string) => path.replace(/\{[^}]+\}/g, id);
      const url = fill('does-not-exist');
      // Hostile path ids (each path parameter at once).
      if (hasPathParams) for (const id of ids) await send(method, fill(id));
      // Nonsense query values, one parameter at a time.
      for (const q of params.filter((p) => p.in === 'query')) {
        for (const v of ['-1', 'abc', '1e309', '%00', 'x'.repeat(3_000), '[]', "'%20OR%201=1"]) {
          await send(method, `${hasPathParams ? url : path}?${q.name}=${v}`);
        }
      }
      const schema = op.requestBody?.content['application/json']?.schema;
      if (!schema) continue;
      const target = hasPathParams ? url : path;
      // Bodies of the wrong shape.
      for (const raw of [
        '[]',
        '"x"',
        '42',
        'null',
        '{',
        '{"a":',
        '{"__proto__":{"polluted":true}}',
        '[[[[[[[[[[]]]]]]]]]]',
      ]) {
        await send(method, target, undefined, raw);
      }
      // One property at a time made wrong, over the examples.
      const base = exampleBody(schema);
      for (const [name, prop] of Object.entries(resolve(schema).properties ?? {})) {
        for (const value of wrongValues(prop)) await send(method, target, { ...base, [name]: value });
      }
    }
    expect(bad).toEqual([]);
    expect(sent).toBeGreaterThan(3_000);
    // The polluting body left Object.prototype alone.
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  }, 300_000);
});
