import { Body, Controller, Header, Headers, HttpCode, Post } from '@nestjs/common';
import {
  ApiBasicAuth,
  ApiBody,
  ApiConsumes,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { ApiError } from '../common/api-error.js';
import { ApiErrorResponse } from '../common/api-error-response.js';
import { ApiKeyService } from './api-key.service.js';
import { Public } from './auth.decorators.js';
import { TokenRequestDto, TokenResponseDto } from './dto/api-key.dto.js';
import { TokenService } from './token.service.js';

/** Sinch-compatible OAuth2 client-credentials endpoint (point the SDK's authHostname here). */
@ApiTags('OAuth2')
@Public()
@Controller('oauth2')
export class OAuthController {
  constructor(
    private readonly keys: ApiKeyService,
    private readonly tokens: TokenService,
  ) {}

  @Post('token')
  @HttpCode(200)
  @Header('cache-control', 'no-store')
  @ApiBasicAuth('basic')
  @ApiConsumes('application/x-www-form-urlencoded')
  @ApiBody({ type: TokenRequestDto })
  @ApiOperation({
    summary: 'Exchange key_id:key_secret (HTTP Basic) for an access token',
    description:
      'grant_type=client_credentials; the token is a JWT with exp, valid for TOKEN_TTL_SECONDS.',
  })
  @ApiOkResponse({
    type: TokenResponseDto,
    description: 'An access token (a JWT) for Authorization: Bearer',
  })
  @ApiErrorResponse(
    400,
    'grant_type is not client_credentials',
    ApiError.field('grant_type', 'must be client_credentials'),
  )
  @ApiErrorResponse(
    401,
    'No, malformed or wrong HTTP Basic credentials',
    ApiError.unauthenticated('Invalid key_id or key_secret.', 'Basic'),
  )
  async issueToken(
    @Headers('authorization') authorization: string | undefined,
    @Body() body: unknown,
  ): Promise<TokenResponseDto> {
    const grantType =
      body && typeof body === 'object' ? (body as Record<string, unknown>).grant_type : undefined;
    if (grantType !== 'client_credentials') {
      throw ApiError.field('grant_type', 'must be client_credentials');
    }
    const match = typeof authorization === 'string' ? /^Basic\s+(\S+)$/i.exec(authorization) : null;
    if (!match)
      throw ApiError.unauthenticated(
        'Missing HTTP Basic credentials (key_id:key_secret).',
        'Basic',
      );
    const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) throw ApiError.unauthenticated('Malformed HTTP Basic credentials.', 'Basic');
    const principal = await this.keys.verifyKeyPair(
      decoded.slice(0, colon),
      decoded.slice(colon + 1),
    );
    if (!principal) throw ApiError.unauthenticated('Invalid key_id or key_secret.', 'Basic');
    const { token, expiresIn } = await this.tokens.issue(principal);
    return {
      access_token: token,
      expires_in: expiresIn,
      token_type: 'bearer',
      scope: principal.scopes.join(' '),
    };
  }
}
