import type { CallToolResult, ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
import * as z from 'zod';
import { ApiError, describeApiFailure, isApiError, type CertctlClient } from '@certctl/api-client';
import { fence } from './fence';
import { listOperations, type ApiOperation, type OpenApiDocument } from './openapi';
import { SchemaConverter } from './schema-to-zod';
import { destructiveEffect, toolName } from './tool-names';

/** One MCP tool: an API operation with its input schema and the text the model reads. */
export interface ToolDefinition {
  name: string;
  title: string;
  description: string;
  inputSchema: z.ZodObject;
  annotations: ToolAnnotations;
  operation: ApiOperation;
}

/**
 * Operations whose body is not JSON: the spec gives them no JSON request body, so the tool
 * takes the DER as base64 in a named field.
 */
const BINARY_BODIES: Readonly<Record<string, { field: string; mediaType: string; description: string }>> = {
  postOcsp: {
    field: 'request_der_base64',
    mediaType: 'application/ocsp-request',
    description: 'The DER OCSPRequest (RFC 6960), base64-encoded.',
  },
};

/** The field carrying a JSON request body, beside the path and query parameters. */
export const BODY_FIELD = 'body';

/** Media types whose bodies are text: returned as-is (fenced) rather than base64. */
function isTextual(mediaType: string): boolean {
  return /^text\/|^application\/(json|x-pem-file|problem\+json)|\+json$/.test(mediaType);
}

function resourceTitle(tag: string): string {
  const words = tag.replace(/[-_]+/g, ' ').trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** The tools for every operation of the document, in document order. */
export function buildTools(doc: OpenApiDocument): ToolDefinition[] {
  const converter = new SchemaConverter(doc);
  const tools = listOperations(doc).map((op) => buildTool(op, converter));
  const seen = new Map<string, string>();
  for (const t of tools) {
    const other = seen.get(t.name);
    if (other) throw new Error(`operations ${other} and ${t.operation.operationId} map to the same tool ${t.name}`);
    seen.set(t.name, t.operation.operationId);
  }
  return tools;
}

function buildTool(op: ApiOperation, converter: SchemaConverter): ToolDefinition {
  const shape: Record<string, z.ZodType> = {};
  const claim = (field: string, schema: z.ZodType): void => {
    if (field in shape) throw new Error(`${op.operationId}: two inputs are named ${field}`);
    shape[field] = schema;
  };
  for (const p of op.parameters) {
    const field = converter.convert(
      p.schema ?? {},
      p.description,
      p.in === 'path' ? 'Path parameter' : 'Query parameter',
    );
    claim(p.name, p.required || p.in === 'path' ? field : field.optional());
  }
  if (op.body) {
    const body = converter.convert(op.body.schema, op.body.description, 'The JSON request body');
    claim(BODY_FIELD, op.body.required ? body : body.optional());
  }
  const binary = BINARY_BODIES[op.operationId];
  if (binary) claim(binary.field, z.base64().describe(binary.description));

  const effect = op.method === 'get' ? undefined : destructiveEffect(op);
  const resource = resourceTitle(op.resource);
  const binaryOut = op.successMediaTypes.filter((m) => !isTextual(m));
  const description = [
    `[${resource}] ${op.summary.replace(/\.?$/, '.')}`,
    op.description,
    effect ? `DESTRUCTIVE: ${effect}. Confirm with the user before calling this tool.` : '',
    binaryOut.length ? `Returns the ${binaryOut.join(' / ')} body as base64 with its media type.` : '',
    op.permission ? `Requires the permission ${op.permission}.` : '',
    `API: ${op.method.toUpperCase()} ${op.path}`,
  ]
    .filter(Boolean)
    .join('\n');
  const title = `${resource}: ${op.summary}`;
  const annotations: ToolAnnotations =
    op.method === 'get'
      ? { title, readOnlyHint: true, openWorldHint: false }
      : {
          title,
          readOnlyHint: false,
          destructiveHint: effect !== undefined,
          idempotentHint: op.method === 'put' || op.method === 'delete',
          openWorldHint: false,
        };
  return {
    name: toolName(op.operationId),
    title,
    description,
    inputSchema: z.strictObject(shape),
    annotations,
    operation: op,
  };
}

interface RequestInit {
  params: { path: Record<string, unknown>; query: Record<string, unknown> };
  parseAs: 'arrayBuffer';
  body?: unknown;
  bodySerializer?: (b: unknown) => unknown;
  headers?: Record<string, string>;
}

/** openapi-fetch's `request` without the per-path typing (the path comes from the document at run time). */
type UntypedRequest = (
  method: string,
  path: string,
  init: RequestInit,
) => Promise<{ data?: ArrayBuffer; error?: unknown; response: Response }>;

/** Calls the tool's operation with the (already validated) arguments; never throws. */
export async function callTool(
  client: CertctlClient,
  tool: ToolDefinition,
  args: Record<string, unknown>,
): Promise<CallToolResult> {
  const op = tool.operation;
  const init: RequestInit = { params: { path: {}, query: {} }, parseAs: 'arrayBuffer' };
  for (const p of op.parameters) {
    if (args[p.name] !== undefined) init.params[p.in === 'path' ? 'path' : 'query'][p.name] = args[p.name];
  }
  if (op.body && args[BODY_FIELD] !== undefined) init.body = args[BODY_FIELD];
  const binary = BINARY_BODIES[op.operationId];
  if (binary) {
    init.body = Buffer.from(args[binary.field] as string, 'base64');
    init.bodySerializer = (b) => b;
    init.headers = { 'Content-Type': binary.mediaType };
  }
  try {
    const request = client.request as unknown as UntypedRequest;
    const r = await request(op.method.toUpperCase(), op.path, init);
    if (!r.response.ok) throw ApiError.from(r.response, r.error);
    return successResult(tool, r.response, r.data);
  } catch (e) {
    return errorResult(tool, e);
  }
}

function successResult(tool: ToolDefinition, response: Response, data: ArrayBuffer | undefined): CallToolResult {
  const status = `HTTP ${response.status}`;
  const bytes = data ? Buffer.from(data) : Buffer.alloc(0);
  const mediaType = (response.headers.get('content-type') ?? '').split(';')[0].trim().toLowerCase();
  let content: string;
  let what: string;
  if (bytes.length === 0) {
    content = JSON.stringify({ status: response.status, result: 'done, no content' });
    what = `${status}, no content`;
  } else if (mediaType === 'application/json' || mediaType.endsWith('+json')) {
    const text = bytes.toString('utf8');
    content = prettyJson(text);
    what = `${status}, application/json`;
  } else if (isTextual(mediaType)) {
    content = bytes.toString('utf8');
    what = `${status}, ${mediaType}`;
  } else {
    const media = mediaType || 'application/octet-stream';
    content = JSON.stringify({
      media_type: media,
      encoding: 'base64',
      size: bytes.length,
      data: bytes.toString('base64'),
    });
    what = `${status}, ${media} as base64 (JSON with media_type, encoding, size, data)`;
  }
  return { content: [{ type: 'text', text: fence(content, `Result of ${tool.name} (${what})`).text }] };
}

function prettyJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** An MCP tool error carrying the API's status and message (fenced: messages can echo input). */
function errorResult(tool: ToolDefinition, e: unknown): CallToolResult {
  if (isApiError(e)) {
    const body = JSON.stringify(
      { status: e.status, error: e.error, message: e.message, request_id: e.request_id, details: e.details },
      null,
      2,
    );
    const text = fence(body, `${tool.name} failed: the certctl API answered HTTP ${e.status} ${e.error}`).text;
    return { isError: true, content: [{ type: 'text', text }] };
  }
  return {
    isError: true,
    content: [{ type: 'text', text: `${tool.name} failed: cannot reach the certctl API: ${describeApiFailure(e)}` }],
  };
}
