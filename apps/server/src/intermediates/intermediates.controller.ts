import { Body, Controller, Get, HttpCode, Param, Post, Res } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { Response } from 'express';
import { CurrentPrincipal, RequirePermission } from '../auth/access-policy.decorator';
import { ErrorResponseDto } from '../http/error-response.dto';
import type { Principal } from '../http/request-context';
import {
  CreateIntermediateDto,
  IntermediateCaDto,
  IntermediateCaListDto,
  RetireIntermediateDto,
  RetireIntermediateResultDto,
} from './dto/intermediate.dto';
import { IntermediatesService } from './intermediates.service';

const ISSUING_RULE =
  'The CA that signs new certificates is the deepest CA reachable from the top through active, unexpired ' +
  'CAs (the newest on a tie): a new CA takes over issuance when it is (one of) the deepest, e.g. a new ' +
  'issuing CA beside the current one or below it; a new intermediate higher up does not until an issuing ' +
  'CA is created under it. The `issuing` field says which one it is.';

@ApiTags('intermediates')
@ApiBadRequestResponse({ type: ErrorResponseDto })
@Controller('api/v1')
export class IntermediatesController {
  constructor(private readonly intermediates: IntermediatesService) {}

  @Get('issuers/:id/intermediates')
  @RequirePermission('issuer.read')
  @ApiOperation({
    operationId: 'listIssuerIntermediates',
    summary: "The issuer's CA hierarchy: its top CA and every intermediate, oldest first",
    description: ISSUING_RULE,
  })
  @ApiOkResponse({ type: IntermediateCaListDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  list(@Param('id') issuerId: string): Promise<IntermediateCaListDto> {
    return this.intermediates.list(issuerId);
  }

  @Post('issuers/:id/intermediates')
  @RequirePermission('ca.hierarchy.manage')
  @ApiOperation({
    operationId: 'createIssuerIntermediate',
    summary: 'Create an intermediate or issuing CA signed by the top CA or another active CA of the issuer',
    description:
      'Local CA issuers only (409 otherwise). The key is generated here and sealed at rest ' +
      '(CERTCTL_CONFIG_ENCRYPTION_KEY). pathLenConstraint and DNS name constraints are checked against ' +
      `the CAs above; the validity is capped by the parent's. ${ISSUING_RULE}`,
  })
  @ApiCreatedResponse({ type: IntermediateCaDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'Unknown issuer' })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'Not a Local CA issuer, or the parent stopped' })
  create(
    @CurrentPrincipal() p: Principal,
    @Param('id') issuerId: string,
    @Body() body: CreateIntermediateDto,
  ): Promise<IntermediateCaDto> {
    return this.intermediates.create(p, issuerId, body);
  }

  @Get('intermediates/:id')
  @RequirePermission('issuer.read')
  @ApiOperation({ operationId: 'getIntermediate', summary: 'One CA of a Local CA issuer (top CA ids work too)' })
  @ApiOkResponse({ type: IntermediateCaDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  get(@Param('id') id: string): Promise<IntermediateCaDto> {
    return this.intermediates.get(id);
  }

  @Post('intermediates/:id/retire')
  @HttpCode(200)
  @RequirePermission('ca.hierarchy.manage')
  @ApiOperation({
    operationId: 'retireIntermediate',
    summary: 'Retire a CA, draining first',
    description:
      'The CA stops issuing at once (state draining; issuance moves to the CA the issuing rule picks next). ' +
      'While certificates it signed are neither expired nor revoked it stays draining (202 with the count); ' +
      'once none are, this call retires it (200). A draining or retired CA keeps signing its CRL and OCSP ' +
      "answers. Refused (409) for a CA with child CAs that are not retired, and for the issuer's only top CA.",
  })
  @ApiOkResponse({ type: RetireIntermediateResultDto, description: 'Retired (or already was)' })
  @ApiAcceptedResponse({ type: RetireIntermediateResultDto, description: 'Draining: certificates remain' })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'Has unretired child CAs, or the only top CA' })
  async retire(
    @CurrentPrincipal() p: Principal,
    @Param('id') id: string,
    @Body() body: RetireIntermediateDto,
    @Res({ passthrough: true }) res: Response,
  ): Promise<RetireIntermediateResultDto> {
    const { result, retired } = await this.intermediates.retire(p, id, body);
    if (!retired) res.status(202);
    return result;
  }
}
