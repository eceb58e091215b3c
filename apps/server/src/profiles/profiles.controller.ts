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
import { CreateProfileDto, ProfileDto, ProfileListQueryDto, ProfilePageDto, UpdateProfileDto } from './dto/profile.dto';
import { ProfilesService } from './profiles.service';

@ApiTags('profiles')
@ApiBadRequestResponse({ type: ErrorResponseDto })
@Controller('api/v1/profiles')
export class ProfilesController {
  constructor(private readonly profiles: ProfilesService) {}

  @Get()
  @RequirePermission('profile.read')
  @ApiOperation({ operationId: 'listProfiles', summary: 'List certificate profiles' })
  @ApiOkResponse({ type: ProfilePageDto })
  list(@Query() q: ProfileListQueryDto): Promise<ProfilePageDto> {
    return this.profiles.list(q) as Promise<ProfilePageDto>;
  }

  @Post()
  @RequirePermission('profile.edit')
  @ApiOperation({ operationId: 'createProfile', summary: 'Create a certificate profile' })
  @ApiCreatedResponse({ type: ProfileDto })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'The id or name is taken' })
  create(@CurrentPrincipal() p: Principal, @Body() body: CreateProfileDto): Promise<ProfileDto> {
    return this.profiles.create(p, body);
  }

  @Get(':id')
  @RequirePermission('profile.read')
  @ApiOperation({ operationId: 'getProfile', summary: 'Get a certificate profile' })
  @ApiOkResponse({ type: ProfileDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  get(@Param('id') id: string): Promise<ProfileDto> {
    return this.profiles.get(id);
  }

  @Put(':id')
  @RequirePermission('profile.edit')
  @ApiOperation({ operationId: 'updateProfile', summary: 'Update a certificate profile (absent fields are kept)' })
  @ApiOkResponse({ type: ProfileDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'The name is taken' })
  update(
    @CurrentPrincipal() p: Principal,
    @Param('id') id: string,
    @Body() body: UpdateProfileDto,
  ): Promise<ProfileDto> {
    return this.profiles.update(p, id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @RequirePermission('profile.delete')
  @ApiOperation({
    operationId: 'deleteProfile',
    summary: 'Delete a certificate profile (409 while certificates use it)',
  })
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({ type: ErrorResponseDto })
  delete(@CurrentPrincipal() p: Principal, @Param('id') id: string): Promise<void> {
    return this.profiles.delete(p, id);
  }
}
