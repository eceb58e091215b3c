import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional } from 'class-validator';
import { IsClientId } from '../../http/dto-fields';

/** The filters bulk actions share; every given one must match (AND). */
export class BulkCriteriaDto {
  @ApiPropertyOptional({ description: 'Certificates of this profile' })
  @IsOptional()
  @IsClientId()
  profile_id?: string;

  @ApiPropertyOptional({ description: 'Certificates of this owner' })
  @IsOptional()
  @IsClientId()
  owner_id?: string;

  @ApiPropertyOptional({ description: 'Certificates managed by this agent' })
  @IsOptional()
  @IsClientId()
  agent_id?: string;

  @ApiPropertyOptional({ description: 'Certificates issued by this issuer' })
  @IsOptional()
  @IsClientId()
  issuer_id?: string;
}
