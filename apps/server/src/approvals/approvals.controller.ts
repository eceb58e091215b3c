import { applyDecorators, Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
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

/** One decision route: POST, 200 with the request's details, and its error responses. */
function DecisionRoute(
  decision: 'approve' | 'reject',
  operationId: string,
  summary: string,
): MethodDecorator & ClassDecorator {
  return applyDecorators(
    Post(`:id/${decision}`),
    HttpCode(200),
    RequirePermission(decision === 'approve' ? 'approval.approve' : 'approval.reject'),
    ApiOperation({ operationId, summary }),
    ApiOkResponse({ type: ApprovalDetailDto }),
    ApiForbiddenResponse({ type: ErrorResponseDto, description: SAME_ACTOR }),
    ApiConflictResponse({ type: ErrorResponseDto, description: DECIDED }),
    ApiNotFoundResponse({ type: ErrorResponseDto }),
  );
}

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

  @DecisionRoute(
    'approve',
    'approveApproval',
    'Approve a request (another actor than the requester; settles once enough approvals are in)',
  )
  approve(
    @CurrentPrincipal() p: Principal,
    @Param('id') id: string,
    @Body() body: DecideApprovalDto,
  ): Promise<ApprovalDetailDto> {
    return this.approvals.decide(p, id, 'approve', body.note);
  }

  @DecisionRoute('reject', 'rejectApproval', 'Reject a request (its job is cancelled)')
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

  @DecisionRoute('approve', 'approveJob', 'Approve the approval request of a job awaiting approval')
  approve(
    @CurrentPrincipal() p: Principal,
    @Param('id') id: string,
    @Body() body: DecideApprovalDto,
  ): Promise<ApprovalDetailDto> {
    return this.approvals.decideByJob(p, id, 'approve', body.note);
  }

  @DecisionRoute('reject', 'rejectJob', 'Reject the approval request of a job (the job is cancelled)')
  reject(
    @CurrentPrincipal() p: Principal,
    @Param('id') id: string,
    @Body() body: DecideApprovalDto,
  ): Promise<ApprovalDetailDto> {
    return this.approvals.decideByJob(p, id, 'reject', body.note);
  }
}
