import { ExecutionContext, Injectable, SetMetadata, UseGuards, applyDecorators, createParamDecorator } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import { ApiBearerAuth, ApiForbiddenResponse, ApiUnauthorizedResponse } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../common/api-error';
import type { Principal } from './jwt.strategy';

export interface AuthOptions {
  admin?: boolean;
}

const AUTH_OPTIONS = 'latchkey:auth';

@Injectable()
export class AccessTokenGuard extends AuthGuard('jwt') {
  constructor(private readonly reflector: Reflector) {
    super();
  }

  override handleRequest<T = Principal>(err: unknown, principal: Principal | false, _info: unknown, context: ExecutionContext): T {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    // RFC 6750 §3.1: no error code when the request carried no bearer credential at all.
    if (err || !principal) throw ApiError.invalidToken(/^bearer(\s|$)/i.test(request.headers.authorization ?? ''));
    const options = this.reflector.getAllAndOverride<AuthOptions | undefined>(AUTH_OPTIONS, [context.getHandler(), context.getClass()]);
    if (options?.admin && principal.role !== 'admin') throw ApiError.forbidden('This needs an administrator.');
    return principal as T;
  }
}

/** One decorator drives both the guard and the OpenAPI security annotation. */
export function Auth(options: AuthOptions = {}): MethodDecorator & ClassDecorator {
  return applyDecorators(
    SetMetadata(AUTH_OPTIONS, options),
    UseGuards(AccessTokenGuard),
    ApiBearerAuth(),
    ApiUnauthorizedResponse({ description: 'invalid_token: missing, invalid, expired or revoked access token' }),
    ...(options.admin ? [ApiForbiddenResponse({ description: 'forbidden: not an administrator' })] : []),
  );
}

/** The verified caller, set by AccessTokenGuard. */
export const CurrentPrincipal = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => ctx.switchToHttp().getRequest<FastifyRequest & { user: Principal }>().user);
