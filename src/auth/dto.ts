import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsIn, IsOptional } from 'class-validator';
import { PASSWORD_MAX, PASSWORD_MIN } from '../common/password-policy';
import { IsDeviceId, IsDeviceName, IsEmailLookup, IsNewPassword, IsPresentedPassword } from '../common/validators';

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

  @ApiPropertyOptional({ description: 'Browser clients in cookie mode: set the new refresh token as the cookie, as at login, instead of returning it in the body.' })
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
