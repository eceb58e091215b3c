import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import { CurrentPrincipal, RequirePermission } from '../auth/access-policy.decorator';
import { ErrorResponseDto } from '../http/error-response.dto';
import type { Principal } from '../http/request-context';
import {
  CreateIssuerDto,
  IssuerDto,
  IssuerListQueryDto,
  IssuerPageDto,
  IssuerTestResultDto,
  UpdateIssuerDto,
} from './dto/issuer.dto';
import { IssuersService } from './issuers.service';

@ApiTags('issuers')
@ApiBadRequestResponse({ type: ErrorResponseDto })
@Controller('api/v1/issuers')
export class IssuersController {
  constructor(private readonly issuers: IssuersService) {}

  @Get()
  @RequirePermission('issuer.read')
  @ApiOperation({ operationId: 'listIssuers', summary: 'List issuers (secrets read "[REDACTED]")' })
  @ApiOkResponse({ type: IssuerPageDto })
  list(@Query() q: IssuerListQueryDto): Promise<IssuerPageDto> {
    return this.issuers.list(q) as Promise<IssuerPageDto>;
  }

  @Post()
  @RequirePermission('issuer.edit')
  @ApiOperation({
    operationId: 'createIssuer',
    summary: 'Create an issuer',
    description:
      "The config is validated against the type's schema; secret fields are sealed at rest, which needs " +
      'CERTCTL_CONFIG_ENCRYPTION_KEY on the server (400 without it).',
  })
  @ApiCreatedResponse({ type: IssuerDto })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'The id or name is taken' })
  create(@CurrentPrincipal() p: Principal, @Body() body: CreateIssuerDto): Promise<IssuerDto> {
    return this.issuers.create(p, body);
  }

  @Get(':id')
  @RequirePermission('issuer.read')
  @ApiOperation({ operationId: 'getIssuer', summary: 'Get an issuer (secrets read "[REDACTED]")' })
  @ApiOkResponse({ type: IssuerDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  get(@Param('id') id: string): Promise<IssuerDto> {
    return this.issuers.get(id);
  }

  @Put(':id')
  @RequirePermission('issuer.edit')
  @ApiOperation({
    operationId: 'updateIssuer',
    summary: 'Update an issuer',
    description:
      'A given config replaces the stored one; a secret sent as "[REDACTED]" or omitted keeps its stored ' +
      'value, a new value replaces it, null clears it. Changing the type re-validates the whole config.',
  })
  @ApiOkResponse({ type: IssuerDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({ type: ErrorResponseDto })
  @ApiServiceUnavailableResponse({ type: ErrorResponseDto, description: 'The stored secrets cannot be opened' })
  update(@CurrentPrincipal() p: Principal, @Param('id') id: string, @Body() body: UpdateIssuerDto): Promise<IssuerDto> {
    return this.issuers.update(p, id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @RequirePermission('issuer.delete')
  @ApiOperation({ operationId: 'deleteIssuer', summary: 'Delete an issuer (409 while certificates reference it)' })
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({ type: ErrorResponseDto })
  delete(@CurrentPrincipal() p: Principal, @Param('id') id: string): Promise<void> {
    return this.issuers.delete(p, id);
  }

  @Post(':id/test')
  @HttpCode(200)
  @RequirePermission('issuer.edit')
  @ApiOperation({
    operationId: 'testIssuer',
    summary: "Run the issuer connector's configuration check",
    description:
      'LocalCA checks its CA files (sub-CA mode: readable, a valid CA certificate, a matching key). ' +
      'Connectors that do not exist yet answer ok=false saying so.',
  })
  @ApiOkResponse({ type: IssuerTestResultDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiServiceUnavailableResponse({ type: ErrorResponseDto, description: 'The stored secrets cannot be opened' })
  test(@Param('id') id: string): Promise<IssuerTestResultDto> {
    return this.issuers.test(id);
  }
}
