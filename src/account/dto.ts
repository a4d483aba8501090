import { ApiProperty } from '@nestjs/swagger';
import { PASSWORD_MAX, PASSWORD_MIN } from '../common/password-policy';
import { IsEmailLookup, IsLinkToken, IsNewPassword } from '../common/validators';
import { UserView } from '../users/user.view';

export class ForgotPasswordDto {
  @ApiProperty({ example: 'ada@example.com' })
  @IsEmailLookup()
  email: string;
}

export class ResetPasswordDto {
  @ApiProperty({ description: 'From the reset link (the #token= part).', maxLength: 256 })
  @IsLinkToken()
  token: string;

  @ApiProperty({ minLength: PASSWORD_MIN, maxLength: PASSWORD_MAX })
  @IsNewPassword()
  newPassword: string;
}

export class LinkTokenDto {
  @ApiProperty({ description: 'From the link (the #token= part).', maxLength: 256 })
  @IsLinkToken()
  token: string;
}

export class UserResponse {
  @ApiProperty({ type: UserView }) user: UserView;
}
