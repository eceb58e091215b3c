import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { CurrentPrincipal, RequirePermission } from '../auth/access-policy.decorator';
import { ErrorResponseDto } from '../http/error-response.dto';
import type { Principal } from '../http/request-context';
import { ReportVerificationDto, VerificationDto } from './dto/verification.dto';
import { VerificationService } from './verification.service';

@ApiTags('jobs')
@Controller('api/v1/jobs/:id')
export class VerificationController {
  constructor(private readonly verification: VerificationService) {}

  @Post('verify')
  @HttpCode(200)
  @RequirePermission('verification.run')
  @ApiOperation({
    operationId: 'reportJobVerification',
    summary:
      "Record a Deployment job's post-deployment TLS verification (the served leaf's SHA-256 against the " +
      "deployed one); the latest report replaces earlier ones. An agent's key reports only its own jobs.",
  })
  @ApiOkResponse({ type: VerificationDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'Not a Deployment job, or not claimed yet' })
  verify(
    @CurrentPrincipal() p: Principal,
    @Param('id') id: string,
    @Body() body: ReportVerificationDto,
  ): Promise<VerificationDto> {
    return this.verification.report(p, id, body);
  }

  @Get('verification')
  @RequirePermission('verification.read')
  @ApiOperation({ operationId: 'getJobVerification', summary: 'The latest verification result of a job' })
  @ApiOkResponse({ type: VerificationDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'Unknown job, or no result reported yet' })
  get(@Param('id') id: string): Promise<VerificationDto> {
    return this.verification.latest(id);
  }
}
