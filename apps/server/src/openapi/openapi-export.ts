import type { AppConfig } from '../config/config.schema';
import { createServerApp } from '../server-app';
import { buildOpenApiDocument } from './openapi';

/**
 * The committed docs/openapi.json, rendered from a preview app: Nest scans the modules and
 * controllers without instantiating providers, so no database or Redis is touched.
 */
export async function renderOpenApiDocument(config: AppConfig): Promise<string> {
  const app = await createServerApp(config, undefined, { preview: true, logger: false, swagger: false });
  try {
    return JSON.stringify(buildOpenApiDocument(app), null, 2) + '\n';
  } finally {
    await app.close();
  }
}
