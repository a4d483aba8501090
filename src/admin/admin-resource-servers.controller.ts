import { Body, Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { Auth, CurrentPrincipal } from '../auth/auth.guard';
import type { Principal } from '../auth/jwt.strategy';
import { Client, ClientContext } from '../common/client-context';
import { IdPipe } from '../common/id.pipe';
import { ApiErrorResponse, Endpoint } from '../common/openapi';
import { iso } from '../common/time';
import { AddResourceServerDto, NewResourceServerView, ResourceServerList } from '../resource-servers/dto';
import { ResourceServersService } from '../resource-servers/resource-servers.service';

@ApiTags('admin')
@Controller('admin/resource-servers')
@Auth({ admin: true })
export class AdminResourceServersController {
  constructor(private readonly servers: ResourceServersService) {}

  @Get()
  @Endpoint('The registered resource servers (never their secrets)')
  @ApiOkResponse({ type: ResourceServerList })
  async list(): Promise<ResourceServerList> {
    return { items: (await this.servers.list()).map((s) => ({ ...s, createdAt: iso(s.createdAt)! })) };
  }

  @Post()
  @HttpCode(201)
  @Endpoint('Register a resource server: its client_id and, this once, its client_secret')
  @ApiCreatedResponse({ type: NewResourceServerView })
  async add(@Body() dto: AddResourceServerDto, @CurrentPrincipal() admin: Principal, @Client() client: ClientContext): Promise<NewResourceServerView> {
    const added = await this.servers.add(dto.name, { actorId: admin.userId, client });
    return { ...added, createdAt: iso(added.createdAt)! };
  }

  @Delete(':clientId')
  @HttpCode(204)
  @Endpoint('Remove a resource server: its credentials stop working')
  @ApiNoContentResponse()
  @ApiErrorResponse(404, 'not_found: no such resource server')
  remove(@Param('clientId', IdPipe) clientId: string, @CurrentPrincipal() admin: Principal, @Client() client: ClientContext): Promise<void> {
    return this.servers.remove(clientId, { actorId: admin.userId, client });
  }
}
