import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { APP_VERSION } from '../version/app-version';

/** The OpenAPI document, built from the controllers' decorators. */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('certctl API')
    .setDescription(
      'Certificate lifecycle platform. Every /api/v1 operation needs `Authorization: Bearer <api key>` and ' +
        'the permission named in its `x-permission` extension. Errors have the shape ' +
        '`{error, message, request_id}`. Lists take `page`/`per_page` or `cursor`/`page_size`, `sort` and `fields`.',
    )
    .setVersion(APP_VERSION)
    .setLicense('Apache-2.0', 'https://www.apache.org/licenses/LICENSE-2.0')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'API key' })
    .build();
  const doc = SwaggerModule.createDocument(app, config, {
    operationIdFactory: (controllerKey, methodKey) => `${controllerKey}_${methodKey}`,
  });
  // Stable output: sort paths so regenerating never reorders the committed file.
  doc.paths = Object.fromEntries(Object.entries(doc.paths).sort(([a], [b]) => a.localeCompare(b)));
  return doc;
}

export function setupSwagger(app: INestApplication): OpenAPIObject {
  const doc = buildOpenApiDocument(app);
  SwaggerModule.setup('api/docs', app, doc, {
    jsonDocumentUrl: 'api/openapi.json',
    yamlDocumentUrl: 'api/openapi.yaml',
    customSiteTitle: 'certctl API',
  });
  return doc;
}
