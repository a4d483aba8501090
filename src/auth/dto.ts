import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsIn, IsOptional, IsString, Length, Matches, Validate } from 'class-validator';
import { DISPLAY_CHARACTERS, PasswordPolicy, PresentedPassword, Trim } from '../users/dto';
import { PASSWORD_MAX } from '../users/password.service';

export class LoginDto {
  @ApiProperty({ example: 'ada@example.com' })
  @IsString()
  @Trim()
  @Length(3, 320)
  email: string;

  @ApiProperty({ maxLength: PASSWORD_MAX })
  // Refused before hashing: a megabyte password would otherwise buy argon2 time.
  @Validate(PresentedPassword)
  password: string;

  @ApiPropertyOptional({ description: "The client's stable random id for this installation; generated when absent.", maxLength: 64 })
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9._:-]{8,64}$/, { message: 'deviceId must be 8 to 64 characters of A-Z a-z 0-9 . _ : -' })
  deviceId?: string;

  @ApiPropertyOptional({ example: "Ada's phone", maxLength: 100 })
  @IsOptional()
  @IsString()
  @Trim()
  @Length(1, 100)
  @Matches(DISPLAY_CHARACTERS, { message: 'deviceName must not contain control characters' })
  deviceName?: string;

  @ApiPropertyOptional({ description: 'Put the refresh token in an HttpOnly cookie instead of the body.' })
  @IsOptional()
  @IsBoolean()
  useCookie?: boolean;
}

export class LogoutQuery {
  @ApiPropertyOptional({ enum: ['local', 'others', 'global'], default: 'local' })
  @IsOptional()
  @IsIn(['local', 'others', 'global'])
  scope?: 'local' | 'others' | 'global';
}

export class ChangePasswordDto {
  @ApiProperty()
  @Validate(PresentedPassword)
  currentPassword: string;

  @ApiProperty({ minLength: 8, maxLength: PASSWORD_MAX })
  @Validate(PasswordPolicy)
  newPassword: string;

  @ApiPropertyOptional({ description: 'Browser clients in cookie mode: set the new refresh token as the cookie, as at login, instead of returning it in the body.' })
  @IsOptional()
  @IsBoolean()
  useCookie?: boolean;
}

export class TokenResponseView {
  @ApiProperty() access_token: string;
  @ApiProperty({ enum: ['Bearer'] }) token_type: string;
  @ApiProperty() expires_in: number;
  @ApiPropertyOptional({ description: 'Absent in cookie mode.' }) refresh_token?: string;
  @ApiProperty() refresh_token_expires_in: number;
  @ApiProperty({ format: 'uuid' }) session_id: string;
  @ApiProperty() device_id: string;
}
