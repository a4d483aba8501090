import { CanActivate, ExecutionContext, Injectable, UseGuards, applyDecorators, createParamDecorator } from '@nestjs/common';
import { ApiBasicAuth } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { ApiErrorResponse } from '../common/openapi';
import { ResourceServerInfo, ResourceServersService } from './resource-servers.service';

type WithResourceServer = FastifyRequest & { resourceServer?: ResourceServerInfo };

/** Lets in registered resource servers (HTTP Basic); anyone else gets 401 invalid_client. */
@Injectable()
export class ResourceServerGuard implements CanActivate {
  constructor(private readonly servers: ResourceServersService) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<WithResourceServer>();
    request.resourceServer = await this.servers.authenticate(request.headers.authorization);
    return true;
  }
}

/** One decorator for the guard and its OpenAPI security scheme and 401. */
export function ResourceServerAuth(): MethodDecorator & ClassDecorator {
  return applyDecorators(
    UseGuards(ResourceServerGuard),
    ApiBasicAuth('resource-server'),
    ApiErrorResponse(401, 'invalid_client: missing or wrong resource-server credentials (WWW-Authenticate: Basic realm="latchkey")'),
  );
}

/** The resource server that the guard let in. */
export const CurrentResourceServer = createParamDecorator(
  (_: unknown, ctx: ExecutionContext): ResourceServerInfo => ctx.switchToHttp().getRequest<WithResourceServer>().resourceServer!,
);
