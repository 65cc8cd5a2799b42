import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { Scope } from './api-key.entity.js';
import { ANY_SCOPE_KEY, PUBLIC_KEY, SCOPE_KEY } from './auth.decorators.js';
import { BearerAuthenticator } from './bearer-authenticator.js';
import type { Principal } from './principal.js';

export type AuthedRequest = FastifyRequest & { principal?: Principal };

/** Global guard: every route needs a bearer token with its scope unless marked @Public(). */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly authenticator: BearerAuthenticator,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const targets = [ctx.getHandler(), ctx.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) return true;
    const required = this.reflector.getAllAndOverride<boolean>(ANY_SCOPE_KEY, targets)
      ? null
      : (this.reflector.getAllAndOverride<Scope>(SCOPE_KEY, targets) ?? Scope.ADMIN);
    const req = ctx.switchToHttp().getRequest<AuthedRequest>();
    req.principal = await this.authenticator.authenticate(req.headers.authorization, required);
    return true;
  }
}
