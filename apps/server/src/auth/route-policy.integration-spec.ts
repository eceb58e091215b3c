import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { ModulesContainer } from '@nestjs/core';
import { isPermission } from '@certctl/domain';
import { createTestApp, type TestApp } from '../../../../test/integration/test-app';
import { ACCESS_POLICY, type AccessPolicy } from './access-policy.decorator';

interface RouteInfo {
  method: string;
  path: string;
  policy?: AccessPolicy;
}

/** Every route the app serves, read from the controllers' metadata. */
function routesOf(t: TestApp): RouteInfo[] {
  const routes: RouteInfo[] = [];
  for (const mod of t.app.get(ModulesContainer).values()) {
    for (const wrapper of mod.controllers.values()) {
      const ctrl = wrapper.metatype as (new (...a: unknown[]) => object) | null;
      if (!ctrl) continue;
      const base = String(Reflect.getMetadata(PATH_METADATA, ctrl) ?? '');
      const proto = ctrl.prototype as Record<string, unknown>;
      for (const name of Object.getOwnPropertyNames(proto)) {
        const handler = proto[name];
        if (name === 'constructor' || typeof handler !== 'function') continue;
        const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
        if (method === undefined) continue;
        const sub = String(Reflect.getMetadata(PATH_METADATA, handler) ?? '');
        const path = ('/' + [base, sub].filter((s) => s && s !== '/').join('/')).replace(/\/+/g, '/');
        const policy = (Reflect.getMetadata(ACCESS_POLICY, handler) ?? Reflect.getMetadata(ACCESS_POLICY, ctrl)) as
          AccessPolicy | undefined;
        routes.push({ method: RequestMethod[method], path, policy });
      }
    }
  }
  return routes;
}

describe('every route declares its access policy (deny by default)', () => {
  let t: TestApp;
  let routes: RouteInfo[];
  beforeAll(async () => {
    t = await createTestApp({ CERTCTL_BOOTSTRAP_TOKEN: 'route-walk-bootstrap-token-000' });
    routes = routesOf(t);
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
