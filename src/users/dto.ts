import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional } from 'class-validator';
import { EMAIL_MAX } from '../common/email';
import { PASSWORD_MAX, PASSWORD_MIN } from '../common/password-policy';
import { IsDisplayText, IsEmailAddress, IsNewPassword } from '../common/validators';

export class RegisterDto {
  @ApiProperty({ example: 'ada@example.com', maxLength: EMAIL_MAX })
  @IsEmailAddress()
  email: string;

  @ApiProperty({ minLength: PASSWORD_MIN, maxLength: PASSWORD_MAX })
  @IsNewPassword()
  password: string;

  @ApiPropertyOptional({ maxLength: 200 })
  @IsOptional()
  @IsDisplayText(200)
  name?: string;
}
