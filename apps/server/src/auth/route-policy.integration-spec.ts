import { isPermission } from '@certctl/domain';
import { createTestApp, type TestApp } from '../../../../test/integration/test-app';
import { routeTable, type RouteInfo } from '../openapi/route-table';

describe('every route declares its access policy (deny by default)', () => {
  let t: TestApp;
  let routes: RouteInfo[];
  beforeAll(async () => {
    t = await createTestApp({ CERTCTL_BOOTSTRAP_TOKEN: 'route-walk-bootstrap-token-000' });
    routes = routeTable(t.app);
  });
  afterAll(async () => {
    await t.close();
  });

  it('finds the API routes', () => {
    const api = routes.filter((r) => r.path.startsWith('/api/v1'));
    expect(api.length).toBeGreaterThanOrEqual(8);
    expect(api).toContainEqual(expect.objectContaining({ method: 'GET', path: '/api/v1/auth/me' }));
  });

  it('gives every /api/v1 route a permission from the catalogue (or self-service), never public', () => {
    for (const r of routes.filter((x) => x.path.startsWith('/api/v1'))) {
      expect({ route: `${r.method} ${r.path}`, kind: r.policy?.kind }).toEqual({
        route: `${r.method} ${r.path}`,
        kind: expect.stringMatching(/^(permission|self|bootstrap)$/),
      });
      if (r.policy?.kind === 'permission' || r.policy?.kind === 'bootstrap') {
        expect(isPermission(r.policy.permission)).toBe(true);
      }
    }
  });

  it('gives every other route an explicit policy too', () => {
    for (const r of routes)
      expect({ route: `${r.method} ${r.path}`, has: !!r.policy }).toEqual({
        route: `${r.method} ${r.path}`,
        has: true,
      });
  });

  it('answers 401 on every /api/v1 route without credentials', async () => {
    for (const r of routes.filter((x) => x.path.startsWith('/api/v1'))) {
      const path = r.path.replace(/:[A-Za-z_]+/g, 'x-probe');
      const req = (t.http as unknown as Record<string, (p: string) => Promise<{ status: number }>>)[
        r.method.toLowerCase()
      ](path);
      const res = await req;
      expect({ route: `${r.method} ${r.path}`, status: res.status }).toEqual({
        route: `${r.method} ${r.path}`,
        status: 401,
      });
    }
  });
});
