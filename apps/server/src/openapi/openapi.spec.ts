import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../config/config.schema';
import { renderOpenApiDocument } from './openapi-export';

describe('docs/openapi.json', () => {
  it('matches the controllers (run `npm run openapi` after changing the API)', async () => {
    const committed = readFileSync(join(__dirname, '../../../../docs/openapi.json'), 'utf8');
    const current = await renderOpenApiDocument(loadConfig({}));
    expect(current).toBe(committed);
  });

  it('gives every operation a unique operationId, a response schema and an access rule', async () => {
    const doc = JSON.parse(await renderOpenApiDocument(loadConfig({}))) as {
      paths: Record<
        string,
        Record<string, { operationId?: string; responses: Record<string, unknown>; 'x-permission'?: string }>
      >;
    };
    const ids = new Set<string>();
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        expect({ path, method, operationId: op.operationId }).toEqual({
          path,
          method,
          operationId: expect.any(String),
        });
        expect(ids.has(op.operationId!)).toBe(false);
        ids.add(op.operationId!);
        expect(Object.keys(op.responses).some((s) => s.startsWith('2'))).toBe(true);
        if (path.startsWith('/api/v1'))
          expect({ path, method, perm: op['x-permission'] }).toEqual({ path, method, perm: expect.any(String) });
      }
    }
  });
});
