/**
 * The slice of an OpenAPI 3.0 document the MCP app reads: operations with their parameters,
 * JSON request body and response media types. The tools are generated from the committed
 * docs/openapi.json (bundled with the build), so they follow the API as it is served.
 */

export interface SchemaObject {
  $ref?: string;
  type?: 'string' | 'number' | 'integer' | 'boolean' | 'array' | 'object';
  format?: string;
  description?: string;
  enum?: unknown[];
  nullable?: boolean;
  default?: unknown;
  example?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  items?: SchemaObject;
  properties?: Record<string, SchemaObject>;
  required?: string[];
  additionalProperties?: boolean | SchemaObject;
  allOf?: SchemaObject[];
  oneOf?: SchemaObject[];
  anyOf?: SchemaObject[];
}

export interface ParameterObject {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  description?: string;
  schema?: SchemaObject;
}

interface MediaTypeObject {
  schema?: SchemaObject;
}

export interface OperationObject {
  operationId?: string;
  summary?: string;
  description?: string;
  tags?: string[];
  parameters?: ParameterObject[];
  requestBody?: { required?: boolean; description?: string; content?: Record<string, MediaTypeObject> };
  responses?: Record<string, { description?: string; content?: Record<string, MediaTypeObject> }>;
  'x-permission'?: string;
}

export interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Partial<Record<string, OperationObject>>>;
  components?: { schemas?: Record<string, SchemaObject> };
}

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

/** One operation of the document, flattened for tool generation. */
export interface ApiOperation {
  operationId: string;
  method: HttpMethod;
  path: string;
  /** The first tag: the resource the tool is grouped under. */
  resource: string;
  summary: string;
  description: string;
  permission?: string;
  parameters: ParameterObject[];
  /** The JSON request body schema, if the operation takes one. */
  body?: { schema: SchemaObject; required: boolean; description?: string };
  /** Media types of the 2xx responses (e.g. application/pkix-crl). */
  successMediaTypes: string[];
}

/** Every operation of the document, in path order; an operation without an operationId is an error. */
export function listOperations(doc: OpenApiDocument): ApiOperation[] {
  const ops: ApiOperation[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of HTTP_METHODS) {
      const op = item[method];
      if (!op) continue;
      if (!op.operationId) throw new Error(`OpenAPI operation ${method.toUpperCase()} ${path} has no operationId`);
      const json = op.requestBody?.content?.['application/json']?.schema;
      const successMediaTypes = Object.entries(op.responses ?? {})
        .filter(([status]) => status.startsWith('2'))
        .flatMap(([, r]) => Object.keys(r.content ?? {}));
      ops.push({
        operationId: op.operationId,
        method,
        path,
        resource: op.tags?.[0] ?? 'misc',
        summary: op.summary ?? op.operationId,
        description: op.description ?? '',
        permission: op['x-permission'],
        // Header and cookie parameters are the client's business (the API key), not the model's.
        parameters: (op.parameters ?? []).filter((p) => p.in === 'path' || p.in === 'query'),
        body: json
          ? { schema: json, required: op.requestBody?.required ?? false, description: op.requestBody?.description }
          : undefined,
        successMediaTypes: [...new Set(successMediaTypes)],
      });
    }
  }
  return ops;
}
