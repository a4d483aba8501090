import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, PickType } from '@nestjs/swagger';
import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import { IsBoolean, IsIn, IsOptional, IsString, Length } from 'class-validator';
import { SECOND_FACTOR_METHODS } from '../mfa/second-factor-methods';
import { IsAssertionCredential } from '../mfa/passkey.dto';
import { PASSWORD_MAX, PASSWORD_MIN } from '../common/password-policy';
import { IsDeviceId, IsDeviceName, IsDisplayText, IsEmailLookup, IsNewPassword, IsPresentedPassword } from '../common/validators';

/**
 * A second factor's code (TOTP's digits or a recovery code), where the chosen method takes one.
 * Listed in the order stacked decorators run (bottom up), so that a field's messages keep theirs.
 */
function IsFactorCode(description?: string): PropertyDecorator {
  return applyDecorators(
    Length(1, 32),
    IsString(),
    IsOptional(),
    ApiPropertyOptional({ ...(description === undefined ? {} : { description }), maxLength: 32 }),
  );
}

export class LoginDto {
  @ApiProperty({ example: 'ada@example.com' })
  @IsEmailLookup()
  email: string;

  @ApiProperty({ maxLength: PASSWORD_MAX })
  @IsPresentedPassword()
  password: string;

  @ApiPropertyOptional({ description: "The client's stable random id for this installation; generated when absent.", maxLength: 64 })
  @IsOptional()
  @IsDeviceId()
  deviceId?: string;

  @ApiPropertyOptional({ example: "Ada's phone", maxLength: 100 })
  @IsOptional()
  @IsDeviceName(100)
  deviceName?: string;

  @ApiPropertyOptional({ description: 'Put the refresh token in an HttpOnly cookie instead of the body.' })
  @IsOptional()
  @IsBoolean()
  useCookie?: boolean;

  @ApiPropertyOptional({
    description:
      'The `trustedDevice` token an earlier second step with `trustDevice: true` returned for this deviceId: the second step is skipped (the session stays aal1). Browsers in cookie mode send it as a cookie instead.',
    maxLength: 100,
  })
  @IsOptional()
  @IsString()
  @Length(1, 100)
  trustedDevice?: string;
}

/** The second step of a login. */
/** Password-less sign-in: an assertion instead of the e-mail and password, and the login's device fields. */
export class PasskeyLoginDto extends PickType(LoginDto, ['deviceId', 'deviceName', 'useCookie'] as const) {
  @IsAssertionCredential()
  credential: AuthenticationResponseJSON;
}

export class MfaVerifyDto {
  @ApiProperty({ description: 'The mfaToken of the login answer.', maxLength: 100 })
  @IsString()
  @Length(1, 100)
  mfaToken: string;

  @ApiProperty({ enum: SECOND_FACTOR_METHODS })
  @IsIn(SECOND_FACTOR_METHODS)
  method: (typeof SECOND_FACTOR_METHODS)[number];

  @IsFactorCode('totp: the 6 digits; recovery_code: one of the codes.')
  code?: string;

  @IsAssertionCredential({ optional: true })
  credential?: Record<string, unknown>;

  @ApiPropertyOptional({ description: 'Remember this device: its next logins skip the second step (as aal1) for TRUSTED_DEVICE_TTL.' })
  @IsOptional()
  @IsBoolean()
  trustDevice?: boolean;
}

export const STEP_UP_METHODS = [...SECOND_FACTOR_METHODS, 'password'] as const;

export class StepUpDto {
  @ApiProperty({ enum: STEP_UP_METHODS, description: 'A second factor, or `password` for an account without one.' })
  @IsIn(STEP_UP_METHODS)
  method: (typeof STEP_UP_METHODS)[number];

  @IsFactorCode()
  code?: string;

  @IsAssertionCredential({ optional: true })
  credential?: Record<string, unknown>;

  @ApiPropertyOptional({ maxLength: PASSWORD_MAX })
  @IsOptional()
  @IsPresentedPassword()
  password?: string;

  @ApiPropertyOptional({ description: 'Browser clients in cookie mode: set the new refresh token as the cookie.' })
  @IsOptional()
  @IsBoolean()
  useCookie?: boolean;
}

export class NewTotpDto {
  @ApiPropertyOptional({ example: 'Phone', maxLength: 100 })
  @IsOptional()
  @IsDisplayText(100)
  name?: string;
}

export class FactorCodeDto {
  @ApiProperty({ description: 'The 6 digits the authenticator shows now.', maxLength: 32 })
  @IsString()
  @Length(1, 32)
  code: string;
}

export class RenameFactorDto {
  @ApiProperty({ maxLength: 100 })
  @IsDisplayText(100)
  name: string;
}

export class MfaRequiredView {
  @ApiProperty({ enum: [true] }) mfaRequired: true;
  @ApiProperty({ description: 'Opaque, single use, for POST /auth/mfa/verify.' }) mfaToken: string;
  @ApiProperty({ description: 'Seconds the mfaToken lives (MFA_TOKEN_TTL).' }) expiresIn: number;
  @ApiProperty({ enum: SECOND_FACTOR_METHODS, isArray: true }) methods: string[];
  @ApiPropertyOptional({ type: Object, description: 'With a passkey: {publicKey: WebAuthn request options}.' }) passkey?: Record<string, unknown>;
}

export const LOGOUT_SCOPES = ['local', 'others', 'global'] as const;

export class LogoutQuery {
  @ApiPropertyOptional({ enum: LOGOUT_SCOPES, default: 'local' })
  @IsOptional()
  @IsIn(LOGOUT_SCOPES)
  scope?: (typeof LOGOUT_SCOPES)[number];
}

export class ChangePasswordDto {
  @ApiProperty()
  @IsPresentedPassword()
  currentPassword: string;

  @ApiProperty({ minLength: PASSWORD_MIN, maxLength: PASSWORD_MAX })
  @IsNewPassword()
  newPassword: string;

  @ApiPropertyOptional({
    description: 'Browser clients in cookie mode: set the new refresh token as the cookie, as at login, instead of returning it in the body.',
  })
  @IsOptional()
  @IsBoolean()
  useCookie?: boolean;
}

export class TokenResponseView {
  @ApiProperty() access_token: string;
  @ApiProperty({ enum: ['Bearer', 'DPoP'] }) token_type: string;
  @ApiProperty() expires_in: number;
  @ApiPropertyOptional({ description: 'Absent in cookie mode.' }) refresh_token?: string;
  @ApiProperty() refresh_token_expires_in: number;
  @ApiProperty({ format: 'uuid' }) session_id: string;
  @ApiProperty() device_id: string;
}
