import { Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiNoContentResponse, ApiNotFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { Auth, CurrentPrincipal } from '../auth/auth.guard';
import type { Principal } from '../auth/jwt.strategy';
import { Client, ClientContext } from '../common/client-context';
import { IdPipe } from '../common/id.pipe';
import { SessionList } from '../sessions/session.view';
import { AdminService } from './admin.service';
import { AdminUserPage, AdminUserView, AuditEventPage, RevokedCount } from './admin.view';
import { ListEventsQuery, ListUsersQuery, UserSessionsQuery } from './dto';

/** API.md "Admin". Every route needs an access token with role admin (401 / 403 otherwise). */
@ApiTags('admin')
@Controller('admin')
@Auth({ admin: true })
export class AdminController {
  constructor(private readonly admin: AdminService) {}

  @Get('users')
  @ApiOkResponse({ type: AdminUserPage })
  listUsers(@Query() query: ListUsersQuery): Promise<AdminUserPage> {
    return this.admin.listUsers(query);
  }

  @Get('users/:id')
  @ApiOkResponse({ type: AdminUserView })
  @ApiNotFoundResponse({ description: 'not_found' })
  getUser(@Param('id', IdPipe) id: string): Promise<AdminUserView> {
    return this.admin.getUser(id);
  }

  @Get('users/:id/sessions')
  @ApiOkResponse({ type: SessionList })
  @ApiNotFoundResponse({ description: 'not_found: no such user' })
  userSessions(@Param('id', IdPipe) id: string, @Query() query: UserSessionsQuery): Promise<SessionList> {
    return this.admin.userSessions(id, query.include === 'revoked');
  }

  @Delete('users/:id/sessions')
  @HttpCode(200)
  @ApiOkResponse({ type: RevokedCount })
  @ApiNotFoundResponse({ description: 'not_found: no such user' })
  revokeAllSessions(@Param('id', IdPipe) id: string, @CurrentPrincipal() admin: Principal, @Client() client: ClientContext): Promise<RevokedCount> {
    return this.admin.revokeAllSessions(id, { adminId: admin.userId, client });
  }

  @Delete('sessions/:sessionId')
  @HttpCode(204)
  @ApiNoContentResponse({ description: 'Revoked (reason admin_revoked).' })
  @ApiNotFoundResponse({ description: 'not_found: no such active session' })
  revokeSession(@Param('sessionId', IdPipe) sessionId: string, @CurrentPrincipal() admin: Principal, @Client() client: ClientContext): Promise<void> {
    return this.admin.revokeSession(sessionId, { adminId: admin.userId, client });
  }

  @Post('users/:id/disable')
  @HttpCode(200)
  @ApiOkResponse({ type: AdminUserView, description: 'Disabled; every session revoked (reason user_disabled).' })
  @ApiNotFoundResponse({ description: 'not_found' })
  disable(@Param('id', IdPipe) id: string, @CurrentPrincipal() admin: Principal, @Client() client: ClientContext): Promise<AdminUserView> {
    return this.admin.disable(id, { adminId: admin.userId, client });
  }

  @Post('users/:id/enable')
  @HttpCode(200)
  @ApiOkResponse({ type: AdminUserView })
  @ApiNotFoundResponse({ description: 'not_found' })
  enable(@Param('id', IdPipe) id: string, @CurrentPrincipal() admin: Principal, @Client() client: ClientContext): Promise<AdminUserView> {
    return this.admin.enable(id, { adminId: admin.userId, client });
  }

  @Get('events')
  @ApiOkResponse({ type: AuditEventPage })
  listEvents(@Query() query: ListEventsQuery): Promise<AuditEventPage> {
    return this.admin.listEvents(query);
  }
}
