import { ACR_VALUES } from '../sessions/assurance';
import { Controller, Get, Header, Inject } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { APP_CONFIG, AppConfig } from '../config/config';
import { Endpoint } from '../common/openapi';
import { JWKS_MAX_AGE_S, SigningKeysService } from './signing-keys.service';
import { DpopService } from './dpop.service';

@ApiTags('discovery')
@Controller('.well-known')
export class DiscoveryController {
  private readonly metadata: Record<string, unknown>;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly keys: SigningKeysService,
    dpop: DpopService,
  ) {
    const base = config.jwtIssuer.replace(/\/$/, '');
    this.metadata = {
      issuer: config.jwtIssuer,
      token_endpoint: `${base}/auth/token`,
      revocation_endpoint: `${base}/auth/revoke`,
      jwks_uri: `${base}/.well-known/jwks.json`,
      grant_types_supported: ['refresh_token'],
      // RFC 9470: the assurance levels a step-up can ask for (NIST SP 800-63B AAL1, AAL2).
      acr_values_supported: [...ACR_VALUES],
      token_endpoint_auth_methods_supported: ['none'],
      revocation_endpoint_auth_methods_supported: ['none'],
      introspection_endpoint: `${base}/auth/introspect`,
      introspection_endpoint_auth_methods_supported: ['client_secret_basic'],
      session_revocation_feed_endpoint: `${base}/auth/revocations`,
      // Not in RFC 8414: how long a revoked session must be remembered (every token of it has expired after this).
      access_token_max_lifetime: config.accessTokenTtl,
      response_types_supported: [],
      // RFC 9449 §5.1; absent with DPOP=off.
      ...(dpop.algorithms.length ? { dpop_signing_alg_values_supported: [...dpop.algorithms] } : {}),
    };
  }

  @Get('jwks.json')
  @Header('content-type', 'application/json; charset=utf-8')
  // A rotated-in key signs only after this has passed (ACTIVATION_DELAY_MS), so caches never miss it.
  @Header('cache-control', `public, max-age=${JWKS_MAX_AGE_S}`)
  @Endpoint('The public keys that verify access tokens (RFC 7517 JWK Set)', { database: false })
  @ApiOkResponse({ description: 'RFC 7517 JWK Set: every key that may have signed a still-valid access token.' })
  jwks(): string {
    return this.keys.jwks();
  }

  @Get('oauth-authorization-server')
  @Endpoint('Authorization server metadata (RFC 8414)', { database: false })
  @ApiOkResponse({ description: 'RFC 8414 authorization server metadata.' })
  metadataDocument(): Record<string, unknown> {
    return this.metadata;
  }
}
