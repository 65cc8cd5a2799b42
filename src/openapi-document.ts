import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import type { OpenAPIObject } from '@nestjs/swagger';
import { AppModule } from './app.module.js';
import { buildOpenApi } from './bootstrap.js';
import { loadConfig } from './config/app-config.js';

/** The OpenAPI document, from the DTOs and decorators, without a database (preview mode). */
export async function openApiDocument(): Promise<OpenAPIObject> {
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(loadConfig({ DATA_DIR: 'memory://' })),
    new FastifyAdapter(),
    { preview: true, logger: false },
  );
  try {
    return buildOpenApi(app);
  } finally {
    await app.close();
  }
}

/** Terminus answers the readiness 503 with its own body (documented by it), not ours. */
const OWN_ERROR_BODY = new Set(['/health', '/health/ready', '/health/live']);

interface ParameterLike {
  in?: string;
  name?: string;
  example?: unknown;
  examples?: unknown;
  schema?: { example?: unknown };
}

interface ResponseLike {
  description?: string;
  content?: Record<string, { example?: unknown }>;
}

/**
 * What the document lacks for a reader: a response without a description, an error response
 * without an application/json example of its own status (the service's error body, see
 * ApiErrorResponse), a path parameter without an example.
 */
export function openApiProblems(doc: OpenAPIObject): string[] {
  const problems: string[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, value] of Object.entries(item)) {
      const op = value as { responses?: Record<string, ResponseLike>; parameters?: unknown[] };
      if (!op || typeof op !== 'object' || !op.responses) continue;
      const where = `${method.toUpperCase()} ${path}`;
      for (const [status, response] of Object.entries(op.responses)) {
        if (!response.description?.trim()) problems.push(`${where} ${status}: no description`);
        if (Number(status) < 400 || OWN_ERROR_BODY.has(path)) continue;
        const example = response.content?.['application/json']?.example as
          { error?: { code?: unknown } } | undefined;
        if (example?.error?.code !== Number(status)) {
          problems.push(
            `${where} ${status}: the application/json example's error.code is ${String(example?.error?.code)}`,
          );
        }
      }
      for (const p of (op.parameters ?? []) as ParameterLike[]) {
        if (p.in !== 'path') continue;
        if (p.example === undefined && p.examples === undefined && p.schema?.example === undefined)
          problems.push(`${where}: path parameter ${p.name} has no example`);
      }
    }
  }
  return problems;
}
