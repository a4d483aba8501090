import { ApiProperty } from '@nestjs/swagger';
import { PASSWORD_MAX, PASSWORD_MIN } from '../common/password-policy';
import { EMAIL_MAX } from '../common/email';
import { IsEmailAddress, IsEmailLookup, IsLinkToken, IsNewPassword, IsPresentedPassword } from '../common/validators';
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

export class ChangeEmailDto {
  @ApiProperty({ example: 'ada@new.example.com', maxLength: EMAIL_MAX })
  @IsEmailAddress()
  newEmail: string;

  @ApiProperty({ maxLength: PASSWORD_MAX, description: 'The current password.' })
  @IsPresentedPassword()
  password: string;
}

export class EmailRevertResponse {
  @ApiProperty({
    description:
      'false when another account took the old address meanwhile: the account keeps its address, but is signed out everywhere and owes a new password.',
  })
  restored: boolean;
}
