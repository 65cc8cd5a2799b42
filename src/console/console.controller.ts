import { Controller, Get, Header, OnModuleInit, Res } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { readFileSync } from 'node:fs';
import { Public } from '../auth/auth.decorators.js';

/**
 * What the console's pages may do: run and style only from its own files, talk only to this
 * service, never be framed. No inline script or style anywhere (the page builds its DOM with
 * textContent, never innerHTML with data).
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

const asset = (name: string): string =>
  readFileSync(new URL(`./assets/${name}`, import.meta.url), 'utf8');

/**
 * The compliance console: three static files (HTML, CSS, one ES module) that call the /v1 API
 * with the API key the user signs in with. The files need no token (they hold no data); every
 * answer with data comes from the API, with the key's scopes.
 */
@ApiExcludeController()
@Public()
@Controller('console')
export class ConsoleController implements OnModuleInit {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  /**
   * `/console/` (as typed, or as a browser completes it): a redirect to the console's one
   * address. A route of Fastify's own: Nest's router treats both paths as one.
   */
  onModuleInit(): void {
    // None in a CLI's application context (npm run keys, npm run import): nothing to serve.
    const adapter = this.adapterHost.httpAdapter as typeof this.adapterHost.httpAdapter | null;
    if (!adapter) return;
    const fastify = adapter.getInstance<FastifyInstance>();
    fastify.get('/console/', (_req, reply) => {
      secure(reply);
      return reply.redirect('/console', 301);
    });
  }

  private readonly files = {
    html: asset('index.html'),
    js: asset('console.js'),
    css: asset('console.css'),
  };

  @Get()
  @Header('content-type', 'text/html; charset=utf-8')
  index(@Res({ passthrough: true }) reply: FastifyReply): string {
    secure(reply);
    return this.files.html;
  }

  @Get('console.js')
  @Header('content-type', 'text/javascript; charset=utf-8')
  script(@Res({ passthrough: true }) reply: FastifyReply): string {
    secure(reply);
    return this.files.js;
  }

  @Get('console.css')
  @Header('content-type', 'text/css; charset=utf-8')
  style(@Res({ passthrough: true }) reply: FastifyReply): string {
    secure(reply);
    return this.files.css;
  }
}

function secure(reply: FastifyReply): void {
  void reply
    .header('content-security-policy', CONSOLE_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header('cache-control', 'no-cache');
}
