import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, ValidateBy, ValidationArguments } from 'class-validator';
import { IsDisplayText } from '../common/validators';
import { assertionCredentialProblem, registrationCredentialProblem } from './webauthn-credential';
import type { RegistrationResponseJSON } from '@simplewebauthn/server';

/** A WebAuthn credential as `PublicKeyCredential.toJSON()` gives it, of the right shape (webauthn-credential.ts). */
const IsCredential = (kind: 'registration' | 'assertion') =>
  ValidateBy({
    name: `${kind}Credential`,
    validator: {
      validate: (v: unknown) => (kind === 'registration' ? registrationCredentialProblem(v) : assertionCredentialProblem(v)) === null,
      defaultMessage: (a?: ValidationArguments) =>
        `${a?.property ?? 'credential'} ${(kind === 'registration' ? registrationCredentialProblem(a?.value) : assertionCredentialProblem(a?.value)) ?? 'is not valid'}`,
    },
  });

const CREDENTIAL_SCHEMA = { type: 'object', additionalProperties: true } as const;

export const IsRegistrationCredential = () =>
  applyDecorators(
    ApiProperty({
      ...CREDENTIAL_SCHEMA,
      description: 'RegistrationResponseJSON: what navigator.credentials.create() gave, through PublicKeyCredential.toJSON().',
    }),
    IsCredential('registration'),
  );

/** `optional`: for the routes where a passkey is one method among others (the login's second step, step-up). */
export const IsAssertionCredential = (options: { optional?: boolean } = {}) => {
  const doc = { ...CREDENTIAL_SCHEMA, description: 'AuthenticationResponseJSON: what navigator.credentials.get() gave, through PublicKeyCredential.toJSON().' };
  return options.optional
    ? applyDecorators(ApiPropertyOptional(doc), IsOptional(), IsCredential('assertion'))
    : applyDecorators(ApiProperty(doc), IsCredential('assertion'));
};

export class AddPasskeyDto {
  @IsRegistrationCredential()
  credential: RegistrationResponseJSON;

  @ApiPropertyOptional({ example: 'MacBook Touch ID', maxLength: 100 })
  @IsOptional()
  @IsDisplayText(100)
  name?: string;
}
