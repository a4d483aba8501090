import { Module } from '@nestjs/common';
import { JwtModule } from '@nestjs/jwt';
import { PassportModule } from '@nestjs/passport';
import { AuditModule } from '../audit/audit.module';
import { RateLimitModule } from '../rate-limit/rate-limit.module';
import { SessionsModule } from '../sessions/sessions.module';
import { UsersModule } from '../users/users.module';
import { MailModule } from '../mail/mail.module';
import { MfaModule } from '../mfa/mfa.module';
import { FactorsController } from './factors.controller';
import { PasskeysController } from './passkeys.controller';
import { TrustedDeviceCookie } from './trusted-device-cookie';
import { LoginAnswer } from './login-answer';
import { AccessTokensService } from './access-tokens.service';
import { AccessTokenVerifier } from './access-token-verifier';
import { AccessTokenGuard } from './auth.guard';
import { AuthController } from './auth.controller';
import { AuthService } from './auth.service';
import { DiscoveryController } from './discovery.controller';
import { DpopService } from './dpop.service';
import { SessionEvents } from './session-events';
import { OpenStreams } from './open-streams';
import { JwtStrategy } from './jwt.strategy';
import { MeController } from './me.controller';
import { RefreshCookie } from './refresh-cookie';
import { SigningKeysRepository } from './signing-keys.repository';
import { SigningKeysService } from './signing-keys.service';
import { TokenSigner } from './token-signer';

@Module({
  imports: [PassportModule, JwtModule.register({}), UsersModule, SessionsModule, AuditModule, RateLimitModule, MailModule, MfaModule],
  controllers: [AuthController, MeController, FactorsController, PasskeysController, DiscoveryController],
  providers: [
    AuthService,
    DpopService,
    SessionEvents,
    OpenStreams,
    AccessTokensService,
    AccessTokenVerifier,
    SigningKeysRepository,
    SigningKeysService,
    TokenSigner,
    JwtStrategy,
    AccessTokenGuard,
    RefreshCookie,
    TrustedDeviceCookie,
    LoginAnswer,
  ],
  exports: [OpenStreams, AccessTokenGuard, DpopService, RefreshCookie, JwtStrategy, SigningKeysService, AccessTokenVerifier, TokenSigner, AuthService],
})
export class AuthModule {}
