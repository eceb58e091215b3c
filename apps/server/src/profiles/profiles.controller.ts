import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Param, Post, Put, Query, Res } from '@nestjs/common';
import {
  ApiAcceptedResponse,
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
import type { Response } from 'express';
import type { Principal } from '../http/request-context';
import {
  CreateProfileDto,
  ProfileDto,
  ProfileEditPendingDto,
  ProfileListQueryDto,
  ProfilePageDto,
  UpdateProfileDto,
} from './dto/profile.dto';
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
  @ApiOperation({
    operationId: 'updateProfile',
    summary: 'Update a certificate profile (absent fields are kept)',
    description:
      'A profile with requires_approval=true, or an edit setting it true, is not changed at once: the validated ' +
      'edit waits as a profile_edit approval request (202) and is applied when another actor approves it.',
  })
  @ApiOkResponse({ type: ProfileDto, description: 'Updated (ungated profile, or approval bypass on)' })
  @ApiAcceptedResponse({ type: ProfileEditPendingDto, description: 'Gated: nothing changed until approved' })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({
    type: ErrorResponseDto,
    description: 'The name is taken, or an edit of this profile is already awaiting approval',
  })
  async update(
    @CurrentPrincipal() p: Principal,
    @Param('id') id: string,
    @Body() body: UpdateProfileDto,
    @Res({ passthrough: true }) res: Response,
  ): Promise<ProfileDto | ProfileEditPendingDto> {
    const outcome = await this.profiles.update(p, id, body);
    if ('profile' in outcome) return outcome.profile;
    res.status(HttpStatus.ACCEPTED);
    return { pending_approval_id: outcome.pending_approval_id };
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
