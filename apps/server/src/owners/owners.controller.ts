import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { CurrentPrincipal, RequirePermission } from '../auth/access-policy.decorator';
import { ErrorResponseDto } from '../http/error-response.dto';
import type { Principal } from '../http/request-context';
import { CreateOwnerDto, OwnerDto, OwnerListQueryDto, OwnerPageDto, UpdateOwnerDto } from './dto/owner.dto';
import { OwnersService } from './owners.service';

@ApiTags('owners')
@ApiBadRequestResponse({ type: ErrorResponseDto })
@Controller('api/v1/owners')
export class OwnersController {
  constructor(private readonly owners: OwnersService) {}

  @Get()
  @RequirePermission('owner.read')
  @ApiOperation({ operationId: 'listOwners', summary: 'List owners (filters: team_id, email, q)' })
  @ApiOkResponse({ type: OwnerPageDto })
  list(@Query() q: OwnerListQueryDto): Promise<OwnerPageDto> {
    return this.owners.list(q) as Promise<OwnerPageDto>;
  }

  @Post()
  @RequirePermission('owner.edit')
  @ApiOperation({ operationId: 'createOwner', summary: 'Create an owner' })
  @ApiCreatedResponse({ type: OwnerDto })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'The id or email is taken' })
  create(@CurrentPrincipal() p: Principal, @Body() body: CreateOwnerDto): Promise<OwnerDto> {
    return this.owners.create(p, body);
  }

  @Get(':id')
  @RequirePermission('owner.read')
  @ApiOperation({ operationId: 'getOwner', summary: 'Get an owner' })
  @ApiOkResponse({ type: OwnerDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  get(@Param('id') id: string): Promise<OwnerDto> {
    return this.owners.get(id);
  }

  @Put(':id')
  @RequirePermission('owner.edit')
  @ApiOperation({ operationId: 'updateOwner', summary: 'Update an owner (absent fields are kept)' })
  @ApiOkResponse({ type: OwnerDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'The email is taken' })
  update(@CurrentPrincipal() p: Principal, @Param('id') id: string, @Body() body: UpdateOwnerDto): Promise<OwnerDto> {
    return this.owners.update(p, id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @RequirePermission('owner.delete')
  @ApiOperation({ operationId: 'deleteOwner', summary: 'Delete an owner (409 while certificates reference it)' })
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({ type: ErrorResponseDto })
  delete(@CurrentPrincipal() p: Principal, @Param('id') id: string): Promise<void> {
    return this.owners.delete(p, id);
  }
}
