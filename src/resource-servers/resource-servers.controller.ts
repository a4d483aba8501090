import { Body, Controller, Get, HttpCode, Post, Query, Req, Res } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../common/api-error';
import { ApiErrorResponse, Endpoint } from '../common/openapi';
import { OAuthEndpoint } from '../common/route-flags';
import { readOAuthParams } from '../common/oauth-request';
import { FEED_DEFAULT_LIMIT, FeedPageView, FeedQuery } from './dto';
import { Introspection, IntrospectionService } from './introspection.service';
import { CurrentResourceServer, ResourceServerAuth } from './resource-server.guard';
import { ResourceServerInfo } from './resource-servers.service';
import { RevocationFeed } from './revocation-feed.service';

/** The two endpoints resource servers call, with their own credentials (HTTP Basic). */
@ApiTags('resource servers')
@Controller('auth')
@ResourceServerAuth()
export class ResourceServersController {
  constructor(
    private readonly introspection: IntrospectionService,
    private readonly feed: RevocationFeed,
  ) {}

  @Post('introspect')
  @HttpCode(200)
  @Endpoint('Is this token active? (RFC 7662; never changes anything)')
  @OAuthEndpoint('invalid_request')
  @ApiBody({
    schema: { type: 'object', required: ['token'], properties: { token: { type: 'string' }, token_type_hint: { enum: ['access_token', 'refresh_token'] } } },
  })
  @ApiOkResponse({ description: '{"active": false}, or the active token\'s claims.' })
  async introspect(@Body() body: unknown): Promise<Introspection> {
    const params = readOAuthParams(body, ['token', 'token_type_hint']);
    if (!params.token) throw ApiError.oauth('invalid_request', 'token is required.');
    return this.introspection.introspect(params.token, params.token_type_hint);
  }

  @Get('revocations')
  @Endpoint('The session revocation feed: signed CAEP session-revoked events after a cursor (JSON pages, long polling, or Server-Sent Events)')
  @OAuthEndpoint('invalid_request: a malformed cursor, wait or limit', { form: false })
  @ApiProduces('application/json', 'text/event-stream')
  @ApiErrorResponse(429, 'too_many_requests: STREAMS_PER_CLIENT streams and held long polls of this resource server are open (Retry-After)')
  @ApiErrorResponse(503, 'service_unavailable: STREAMS_MAX streams are open in all (Retry-After)')
  @ApiOkResponse({ type: FeedPageView })
  async revocations(
    @Query() query: FeedQuery,
    @CurrentResourceServer() server: ResourceServerInfo,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const lastEventId = request.headers['last-event-id'];
    const after = await this.feed.decodeCursor(typeof lastEventId === 'string' && lastEventId ? lastEventId : query.after);
    if (/\btext\/event-stream\b/i.test(request.headers.accept ?? '')) return this.feed.stream(server, after, request, reply);
    const gone = new AbortController();
    request.raw.once('close', () => gone.abort());
    const page = await this.feed.page(server, after, query.limit ?? FEED_DEFAULT_LIMIT, query.wait ?? 0, gone.signal);
    reply.header(RevocationFeed.JWKS_HEADER, this.feed.jwksVersion).send(page);
  }
}
