import { RequestMethod, type INestApplication } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { ModulesContainer } from '@nestjs/core';
import { ACCESS_POLICY, type AccessPolicy } from '../auth/access-policy.decorator';

export interface RouteInfo {
  method: string;
  /** Express form: `/api/v1/teams/:id`. */
  path: string;
  policy?: AccessPolicy;
}

/** Every controller route the app serves, read from Nest's metadata (works in preview mode). */
export function routeTable(app: INestApplication): RouteInfo[] {
  const routes: RouteInfo[] = [];
  for (const mod of app.get(ModulesContainer).values()) {
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

/** `GET /api/v1/teams/{id}` and `GET /api/v1/teams/:team_id` compare equal. */
export function routeKey(method: string, path: string): string {
  return `${method.toUpperCase()} ${path.replace(/\{[^}]+\}|:[A-Za-z_][A-Za-z0-9_]*/g, '{}').replace(/\/$/, '')}`;
}
