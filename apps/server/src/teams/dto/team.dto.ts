import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength, MinLength } from 'class-validator';
import { ListQueryDto } from '../../http/list-query.dto';
import { PageOf } from '../../http/page.dto';
import type { TeamEntity } from '../team.entity';
import { IsClientId } from '../../http/dto-fields';

export class TeamDto {
  @ApiProperty({ example: 'team-platform' }) id!: string;
  @ApiProperty({ example: 'Platform' }) name!: string;
  @ApiProperty({ example: 'Runs the shared ingress and PKI' }) description!: string;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;

  static from(e: TeamEntity): TeamDto {
    return {
      id: e.id,
      name: e.name,
      description: e.description,
      created_at: e.createdAt.toISOString(),
      updated_at: e.updatedAt.toISOString(),
    };
  }
}

export const TEAM_FIELDS = ['id', 'name', 'description', 'created_at', 'updated_at'] as const;

export class CreateTeamDto {
  @ApiPropertyOptional({ example: 'team-platform', description: 'Client-chosen id; generated when absent' })
  @IsOptional()
  @IsClientId()
  id?: string;

  @ApiProperty({ example: 'Platform' })
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  name!: string;

  @ApiPropertyOptional({ example: 'Runs the shared ingress and PKI' })
  @IsOptional()
  @IsString()
  @MaxLength(2000)
  description?: string;
}

export class UpdateTeamDto {
  @ApiPropertyOptional() @IsOptional() @IsString() @MinLength(1) @MaxLength(200) name?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(2000) description?: string;
}

export class TeamListQueryDto extends ListQueryDto {
  @ApiPropertyOptional({ description: 'Case-insensitive substring of the name' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  q?: string;
}

export class TeamPageDto extends PageOf(TeamDto, 'TeamPage') {}
