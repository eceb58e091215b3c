import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import {
  ApiConflictResponse,
  ApiForbiddenResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { CurrentPrincipal, RequirePermission } from '../auth/access-policy.decorator';
import { ErrorResponseDto } from '../http/error-response.dto';
import type { Principal } from '../http/request-context';
import { ApprovalsService } from './approvals.service';
import { ApprovalDetailDto, ApprovalListQueryDto, ApprovalPageDto, DecideApprovalDto } from './dto/approval.dto';

const SAME_ACTOR = 'The requester (two-person integrity), or not in the profile approver roles';
const DECIDED = 'Already decided, or this actor already approved';

@ApiTags('approvals')
@Controller('api/v1/approvals')
export class ApprovalsController {
  constructor(private readonly approvals: ApprovalsService) {}

  @Get()
  @RequirePermission('approval.read')
  @ApiOperation({ operationId: 'listApprovals', summary: 'List approval requests (filter by state, kind, ...)' })
  @ApiOkResponse({ type: ApprovalPageDto })
  list(@Query() q: ApprovalListQueryDto): Promise<ApprovalPageDto> {
    return this.approvals.list(q) as Promise<ApprovalPageDto>;
  }

  @Get(':id')
  @RequirePermission('approval.read')
  @ApiOperation({ operationId: 'getApproval', summary: 'Get an approval request with its decisions' })
  @ApiOkResponse({ type: ApprovalDetailDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  get(@Param('id') id: string): Promise<ApprovalDetailDto> {
    return this.approvals.get(id);
  }

  @Post(':id/approve')
  @HttpCode(200)
  @RequirePermission('approval.approve')
  @ApiOperation({
    operationId: 'approveApproval',
    summary: 'Approve a request (another actor than the requester; settles once enough approvals are in)',
  })
  @ApiOkResponse({ type: ApprovalDetailDto })
  @ApiForbiddenResponse({ type: ErrorResponseDto, description: SAME_ACTOR })
  @ApiConflictResponse({ type: ErrorResponseDto, description: DECIDED })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  approve(
    @CurrentPrincipal() p: Principal,
    @Param('id') id: string,
    @Body() body: DecideApprovalDto,
  ): Promise<ApprovalDetailDto> {
    return this.approvals.decide(p, id, 'approve', body.note);
  }

  @Post(':id/reject')
  @HttpCode(200)
  @RequirePermission('approval.reject')
  @ApiOperation({ operationId: 'rejectApproval', summary: 'Reject a request (its job is cancelled)' })
  @ApiOkResponse({ type: ApprovalDetailDto })
  @ApiForbiddenResponse({ type: ErrorResponseDto, description: SAME_ACTOR })
  @ApiConflictResponse({ type: ErrorResponseDto, description: DECIDED })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  reject(
    @CurrentPrincipal() p: Principal,
    @Param('id') id: string,
    @Body() body: DecideApprovalDto,
  ): Promise<ApprovalDetailDto> {
    return this.approvals.decide(p, id, 'reject', body.note);
  }
}

/** The job-centric forms of the same decisions. */
@ApiTags('jobs')
@Controller('api/v1/jobs')
export class JobApprovalsController {
  constructor(private readonly approvals: ApprovalsService) {}

  @Post(':id/approve')
  @HttpCode(200)
  @RequirePermission('approval.approve')
  @ApiOperation({ operationId: 'approveJob', summary: 'Approve the approval request of a job awaiting approval' })
  @ApiOkResponse({ type: ApprovalDetailDto })
  @ApiForbiddenResponse({ type: ErrorResponseDto, description: SAME_ACTOR })
  @ApiConflictResponse({ type: ErrorResponseDto, description: DECIDED })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  approve(
    @CurrentPrincipal() p: Principal,
    @Param('id') id: string,
    @Body() body: DecideApprovalDto,
  ): Promise<ApprovalDetailDto> {
    return this.approvals.decideByJob(p, id, 'approve', body.note);
  }

  @Post(':id/reject')
  @HttpCode(200)
  @RequirePermission('approval.reject')
  @ApiOperation({ operationId: 'rejectJob', summary: 'Reject the approval request of a job (the job is cancelled)' })
  @ApiOkResponse({ type: ApprovalDetailDto })
  @ApiForbiddenResponse({ type: ErrorResponseDto, description: SAME_ACTOR })
  @ApiConflictResponse({ type: ErrorResponseDto, description: DECIDED })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  reject(
    @CurrentPrincipal() p: Principal,
    @Param('id') id: string,
    @Body() body: DecideApprovalDto,
  ): Promise<ApprovalDetailDto> {
    return this.approvals.decideByJob(p, id, 'reject', body.note);
  }
}
