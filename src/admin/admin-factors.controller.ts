import { Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiNoContentResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { Auth, CurrentPrincipal } from '../auth/auth.guard';
import type { Principal } from '../auth/jwt.strategy';
import { Client, ClientContext } from '../common/client-context';
import { IdPipe } from '../common/id.pipe';
import { ApiErrorResponse, Endpoint } from '../common/openapi';
import { FactorsService, FactorView } from '../mfa/factors.service';

/** An admin's view of users' second factors, and the reset for a user who lost theirs. */
@ApiTags('admin')
@Controller('admin/users/:id')
@Auth({ admin: true })
export class AdminFactorsController {
  constructor(private readonly factors: FactorsService) {}

  @Get('factors')
  @Endpoint("A user's second factors (never their secrets)")
  @ApiOkResponse({ description: '{items: [{id, type, name, createdAt, lastUsedAt, active, locked, backedUp?}]}' })
  @ApiErrorResponse(404, 'not_found: no such user')
  async list(@Param('id', IdPipe) id: string): Promise<{ items: FactorView[] }> {
    return { items: await this.factors.listForUser(id) };
  }

  @Delete('factors/:factorId')
  @HttpCode(204)
  @Endpoint("Remove one of a user's second factors")
  @ApiNoContentResponse()
  @ApiErrorResponse(403, 'forbidden: not on your own account')
  @ApiErrorResponse(404, 'not_found: no such user, or no such factor of this user')
  remove(
    @Param('id', IdPipe) id: string,
    @Param('factorId', IdPipe) factorId: string,
    @CurrentPrincipal() admin: Principal,
    @Client() client: ClientContext,
  ): Promise<void> {
    return this.factors.removeForUser(admin, id, factorId, client);
  }

  @Post('mfa/reset')
  @HttpCode(200)
  @Endpoint('Reset a user who lost their second factor: every factor, recovery code and trusted device goes, every session is signed out (mfa_reset)')
  @ApiOkResponse({ description: '{removed}: how many factors went. The user is told by mail.' })
  @ApiErrorResponse(403, 'forbidden: not on your own account')
  @ApiErrorResponse(404, 'not_found: no such user')
  reset(@Param('id', IdPipe) id: string, @CurrentPrincipal() admin: Principal, @Client() client: ClientContext): Promise<{ removed: number }> {
    return this.factors.resetByAdmin(id, { actorId: admin.userId, client });
  }
}
