import { Module } from '@nestjs/common';
import { JwtModule } from '@nestjs/jwt';
import { PassportModule } from '@nestjs/passport';
import { AuditModule } from '../audit/audit.module';
import { SessionsModule } from '../sessions/sessions.module';
import { UsersModule } from '../users/users.module';
import { AccessTokensService } from './access-tokens.service';
import { AccessTokenGuard } from './auth.guard';
import { AuthController } from './auth.controller';
import { AuthService } from './auth.service';
import { DiscoveryController } from './discovery.controller';
import { JwtStrategy } from './jwt.strategy';
import { RateLimitModule } from './rate-limit';
import { MeController } from './me.controller';
import { RefreshCookie } from './refresh-cookie';
import { SigningKeysService } from './signing-keys.service';

@Module({
  imports: [PassportModule, JwtModule.register({}), UsersModule, SessionsModule, AuditModule, RateLimitModule],
  controllers: [AuthController, MeController, DiscoveryController],
  providers: [AuthService, AccessTokensService, SigningKeysService, JwtStrategy, AccessTokenGuard, RefreshCookie],
  exports: [AccessTokenGuard, SigningKeysService, AuthService],
})
export class AuthModule {}
