import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiConflictResponse, ApiCreatedResponse, ApiForbiddenResponse, ApiProperty, ApiTags } from '@nestjs/swagger';
import { Client, ClientContext } from '../common/client-context';
import { AuthRateLimit } from '../auth/rate-limit';
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
  @AuthRateLimit()
  @ApiCreatedResponse({ type: RegisterResponse })
  @ApiConflictResponse({ description: 'email_taken' })
  @ApiForbiddenResponse({ description: 'forbidden: registration is closed' })
  async register(@Body() dto: RegisterDto, @Client() client: ClientContext): Promise<RegisterResponse> {
    return { user: toUserView(await this.users.register(dto, client)) };
  }
}
