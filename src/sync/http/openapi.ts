import type { JsonSchema } from '../../schema/json-schema.js';
import { toJsonSchema } from '../../schema/json-schema.js';
import { HEADER } from './headers.js';
import { PROBLEM_CONTENT_TYPE } from './problem.js';
import type { HttpRoute } from './routes.js';

/**
 * OpenAPI 3.1 from the routes a server hosts: the same `HttpRoute`s the server registers and the client
 * calls, so the document cannot drift from the wire. OpenAPI 3.1's schema dialect is JSON Schema 2020-12,
 * which is what `toJsonSchema` produces, so operation schemas are embedded as they are (minus `$schema`).
 *
 * Per operation: `operationId` `<service>.<operation>`, the service as tag, the description as summary;
 * query-string or path parameters, or a JSON request body; a 200 JSON response with the output schema;
 * every error as `application/problem+json` (RFC 9457 plus Courier's `code`/`retryable` members); and the
 * headers Courier reads: `Idempotency-Key` on commands, the deadline headers and trace context.
 */
export interface OpenApiInfo {
  readonly title: string;
  readonly version: string;
  readonly description?: string;
}

export type OpenApiDocument = Record<string, unknown>;

export function openApiDocument(routes: readonly HttpRoute[], info: OpenApiInfo): OpenApiDocument {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = route.url.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');
    (paths[path] ??= {})[route.method.toLowerCase()] = operationObject(route);
  }
  return {
    openapi: '3.1.0',
    info,
    paths,
    components: {
      schemas: { Problem: PROBLEM_SCHEMA },
      parameters: {
        IdempotencyKey: headerParameter(
          'Idempotency-Key',
          'Makes a retried command run once: the first response is stored and replayed (draft-ietf-httpapi-idempotency-key-header).',
        ),
        Timeout: headerParameter(HEADER.timeout, 'Time budget left for this call, in ms; the server stops the work when it runs out.'),
        Deadline: headerParameter(HEADER.deadline, 'Absolute deadline, epoch ms; used only without courier-timeout-ms.'),
        Traceparent: headerParameter('traceparent', 'W3C trace context.'),
      },
    },
  };
}

function operationObject(route: HttpRoute): Record<string, unknown> {
  const op = route.operation;
  const input = stripDialect(toJsonSchema(op.input));
  const output = stripDialect(toJsonSchema(op.output));
  const parameters: unknown[] = [];
  const properties = (input?.['properties'] ?? {}) as Record<string, JsonSchema>;
  const required = new Set((input?.['required'] as string[] | undefined) ?? []);
  for (const param of route.pathParams) {
    parameters.push({ name: param.name, in: 'path', required: true, schema: properties[param.name] ?? {} });
  }
  if (route.query !== undefined) {
    for (const field of route.query.fields) {
      if (route.pathParams.some((p) => p.name === field.name)) continue;
      parameters.push({ name: field.name, in: 'query', required: required.has(field.name), schema: properties[field.name] ?? {} });
    }
  }
  if (op.kind === 'command') parameters.push({ $ref: '#/components/parameters/IdempotencyKey' });
  parameters.push(
    { $ref: '#/components/parameters/Timeout' },
    { $ref: '#/components/parameters/Deadline' },
    { $ref: '#/components/parameters/Traceparent' },
  );
  const problem = { description: 'Error (RFC 9457)', content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: '#/components/schemas/Problem' } } } };
  return {
    operationId: `${op.service}.${op.name}`,
    tags: [op.service],
    ...(op.description === undefined ? {} : { summary: op.description }),
    parameters,
    ...(route.query === undefined
      ? { requestBody: { required: true, content: { 'application/json': { schema: input ?? {} } } } }
      : {}),
    responses: {
      '200': { description: 'OK', content: { 'application/json': { schema: output ?? {} } } },
      '204': { description: 'OK, no output' },
      '4XX': problem,
      '5XX': problem,
    },
  };
}

function stripDialect(schema: JsonSchema | undefined): JsonSchema | undefined {
  if (schema === undefined) return undefined;
  const { $schema: _dialect, ...rest } = schema;
  return rest;
}

function headerParameter(name: string, description: string): Record<string, unknown> {
  return { name, in: 'header', required: false, description, schema: { type: 'string' } };
}

const PROBLEM_SCHEMA = {
  type: 'object',
  required: ['type', 'title', 'status', 'code', 'retryable'],
  properties: {
    type: { type: 'string', format: 'uri-reference' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    code: { type: 'string', description: 'Stable Courier error code, e.g. VALIDATION_FAILED, DEADLINE_EXCEEDED.' },
    retryable: { type: 'boolean' },
    retryAfterMs: { type: 'number' },
    details: { type: 'object' },
    issues: {
      type: 'array',
      items: {
        type: 'object',
        properties: { path: { type: 'array', items: { type: ['string', 'integer'] } }, message: { type: 'string' } },
      },
    },
    fields: { type: 'object' },
  },
};
