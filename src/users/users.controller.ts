import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiCreatedResponse, ApiProperty, ApiTags } from '@nestjs/swagger';
import { Client, ClientContext } from '../common/client-context';
import { ApiErrorResponse, Endpoint } from '../common/openapi';
import { HashesPassword } from '../common/route-flags';
import { AuthRateLimit } from '../rate-limit/rate-limit.module';
import { RegisterDto } from './dto';
import { toUserView, UserView } from './user.view';
import { UsersService } from './users.service';

class RegisterResponse {
  @ApiProperty({ type: UserView }) user: UserView;
}

@ApiTags('auth')
@Controller('auth')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @Post('register')
  @HttpCode(201)
  @Endpoint('Create an account (self sign-up)')
  @HashesPassword()
  @AuthRateLimit()
  @ApiCreatedResponse({ type: RegisterResponse })
  @ApiErrorResponse(409, 'email_taken')
  @ApiErrorResponse(403, 'forbidden: registration is closed (REGISTRATION=closed)')
  async register(@Body() dto: RegisterDto, @Client() client: ClientContext): Promise<RegisterResponse> {
    return { user: toUserView(await this.users.register(dto, { actorId: null, client })) };
  }
}
