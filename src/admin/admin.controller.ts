import { Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiAcceptedResponse, ApiNoContentResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { AccountService } from '../account/account.service';
import { Auth, CurrentPrincipal } from '../auth/auth.guard';
import type { Principal } from '../auth/jwt.strategy';
import { Actor, Client, ClientContext } from '../common/client-context';
import { IdPipe } from '../common/id.pipe';
import { ApiErrorResponse, Endpoint } from '../common/openapi';
import { SessionList } from '../sessions/session.view';
import { AdminService } from './admin.service';
import { AdminUserPage, AdminUserView, AuditEventPage, EventsPerHourView, RevokedCount } from './admin.view';
import { EventsPerHourQuery, ListEventsQuery, ListUsersQuery, UserSessionsQuery } from './dto';

const NO_USER = () => ApiErrorResponse(404, 'not_found: no such user');
const as = (admin: Principal, client: ClientContext): Actor => ({ actorId: admin.userId, client });

/** Every route needs an access token with role admin (401 / 403 otherwise). */
@ApiTags('admin')
@Controller('admin')
@Auth({ admin: true })
export class AdminController {
  constructor(
    private readonly admin: AdminService,
    private readonly account: AccountService,
  ) {}

  @Get('users')
  @Endpoint('Find users by e-mail or name, newest first, one page at a time')
  @ApiOkResponse({ type: AdminUserPage })
  listUsers(@Query() query: ListUsersQuery): Promise<AdminUserPage> {
    return this.admin.listUsers(query);
  }

  @Get('users/:id')
  @Endpoint('One user, with the number of active sessions')
  @ApiOkResponse({ type: AdminUserView })
  @NO_USER()
  getUser(@Param('id', IdPipe) id: string): Promise<AdminUserView> {
    return this.admin.getUser(id);
  }

  @Get('users/:id/sessions')
  @Endpoint("A user's devices (active only, unless include=revoked)")
  @ApiOkResponse({ type: SessionList })
  @NO_USER()
  userSessions(@Param('id', IdPipe) id: string, @Query() query: UserSessionsQuery): Promise<SessionList> {
    return this.admin.userSessions(id, query.include === 'revoked');
  }

  @Delete('users/:id/sessions')
  @HttpCode(200)
  @Endpoint('Sign out every device of a user')
  @ApiOkResponse({ type: RevokedCount })
  @NO_USER()
  revokeAllSessions(@Param('id', IdPipe) id: string, @CurrentPrincipal() admin: Principal, @Client() client: ClientContext): Promise<RevokedCount> {
    return this.admin.revokeAllSessions(id, as(admin, client));
  }

  @Delete('sessions/:sessionId')
  @HttpCode(204)
  @Endpoint('Sign out one device of any user')
  @ApiNoContentResponse({ description: 'Revoked (reason admin_revoked).' })
  @ApiErrorResponse(404, 'not_found: no such active session')
  revokeSession(@Param('sessionId', IdPipe) sessionId: string, @CurrentPrincipal() admin: Principal, @Client() client: ClientContext): Promise<void> {
    return this.admin.revokeSession(sessionId, as(admin, client));
  }

  @Post('users/:id/disable')
  @HttpCode(200)
  @Endpoint('Disable an account: every device signed out, no new sign-in')
  @ApiOkResponse({ type: AdminUserView, description: 'Disabled; every session revoked (reason user_disabled).' })
  @ApiErrorResponse(403, 'forbidden: an admin cannot disable their own account')
  @NO_USER()
  disable(@Param('id', IdPipe) id: string, @CurrentPrincipal() admin: Principal, @Client() client: ClientContext): Promise<AdminUserView> {
    return this.admin.disable(id, as(admin, client));
  }

  @Post('users/:id/enable')
  @HttpCode(200)
  @Endpoint('Enable a disabled account')
  @ApiOkResponse({ type: AdminUserView })
  @NO_USER()
  enable(@Param('id', IdPipe) id: string, @CurrentPrincipal() admin: Principal, @Client() client: ClientContext): Promise<AdminUserView> {
    return this.admin.enable(id, as(admin, client));
  }

  @Delete('users/:id')
  @HttpCode(202)
  @Endpoint(
    "Delete a user's account: as DELETE /me (every session revoked, factors, links and pending mail gone, the log stripped of their e-mail, IPs and browsers), recorded with the admin as actor",
  )
  @ApiAcceptedResponse({ description: '{}: the account is gone; the user is mailed.' })
  @ApiErrorResponse(403, 'forbidden: the last administrator cannot be deleted')
  @NO_USER()
  async deleteUser(@Param('id', IdPipe) id: string, @CurrentPrincipal() admin: Principal, @Client() client: ClientContext): Promise<Record<string, never>> {
    await this.admin.deleteUser(id, as(admin, client));
    return {};
  }

  @Post('users/:id/password-reset')
  @HttpCode(202)
  @Endpoint('Send the user a password-reset mail (the link never passes through the admin)')
  @ApiAcceptedResponse({ description: '{}: the mail is on its way (none for a disabled account).' })
  @NO_USER()
  async sendPasswordReset(
    @Param('id', IdPipe) id: string,
    @CurrentPrincipal() admin: Principal,
    @Client() client: ClientContext,
  ): Promise<Record<string, never>> {
    await this.account.sendPasswordReset(id, as(admin, client));
    return {};
  }

  @Get('events')
  @Endpoint('The security log, newest first, filtered by user or type')
  @ApiOkResponse({ type: AuditEventPage })
  listEvents(@Query() query: ListEventsQuery): Promise<AuditEventPage> {
    return this.admin.listEvents(query);
  }

  @Get('events/hourly')
  @Endpoint('Security events per hour over a range of at most 31 days, of one type or all (the dashboard chart)')
  @ApiOkResponse({ type: EventsPerHourView })
  eventsPerHour(@Query() query: EventsPerHourQuery): Promise<EventsPerHourView> {
    return this.admin.eventsPerHour(query);
  }
}
