import { parseAuthorization } from '@latchkey/verifier';

/** The access token of `Authorization`, under either scheme (`Bearer`, or `DPoP` of RFC 9449 §7.1): the verifier's parser, so latchkey and resource servers read the header alike. */
export function accessTokenOf(header: string | string[] | undefined): string | null {
  return parseAuthorization(header)?.token ?? null;
}
