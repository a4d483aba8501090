import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional } from 'class-validator';
import { PASSWORD_MAX } from '../common/password-policy';
import { IsPresentedPassword } from '../common/validators';

export class DeleteAccountDto {
  @ApiPropertyOptional({
    maxLength: PASSWORD_MAX,
    description: 'The current password; without it, the session must have authenticated within REAUTH_MAX_AGE (POST /me/step-up).',
  })
  @IsOptional()
  @IsPresentedPassword()
  password?: string;
}
