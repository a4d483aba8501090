/**
 * "The usual stack" for comparison (issue 7): NestJS on Express with @nestjs/passport and
 * passport-jwt, HS256 with the secret passed as a string (as most tutorials do), serving the
 * same two routes as latchkey's guard scenario: GET /health (open) and GET /auth/session
 * (protected, no I/O). Started as a child process by bench/guard.ts.
 */
import 'reflect-metadata';
import { Controller, Get, Injectable, Module, Req, UseGuards } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { AuthGuard, PassportModule, PassportStrategy } from '@nestjs/passport';
import { ExtractJwt, Strategy } from 'passport-jwt';

const SECRET = process.env.BASELINE_JWT_SECRET ?? '';
if (SECRET.length < 32) throw new Error('BASELINE_JWT_SECRET must be set (32+ characters)');

@Injectable()
class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor() {
    super({
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      secretOrKey: SECRET,
      algorithms: ['HS256'],
      issuer: 'http://localhost:3000',
      audience: 'latchkey',
      ignoreExpiration: false,
    });
  }

  validate(claims: { sub: string; sid: string; role: string }) {
    return { userId: claims.sub, sessionId: claims.sid, role: claims.role };
  }
}

@Controller()
class AppController {
  @Get('health')
  health() {
    return { status: 'ok' };
  }

  @Get('auth/session')
  @UseGuards(AuthGuard('jwt'))
  session(@Req() req: { user: { userId: string; sessionId: string; role: string } }) {
    return { userId: req.user.userId, sessionId: req.user.sessionId, role: req.user.role };
  }
}

@Module({ imports: [PassportModule], controllers: [AppController], providers: [JwtStrategy] })
class AppModule {}

async function main() {
  const app = await NestFactory.create(AppModule, new ExpressAdapter(), { logger: ['error', 'warn'] });
  await app.listen(Number(process.env.PORT ?? 3999), process.env.HOST ?? '127.0.0.1');
}

void main();
