import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsEmail, IsOptional, IsString, Matches, MaxLength, ValidateIf } from 'class-validator';
import { ListQueryDto } from '../../http/list-query.dto';
import { PageOf } from '../../http/page.dto';
import type { OwnerEntity } from '../owner.entity';
import { IsClientId } from '../../http/dto-fields';

const NOT_BLANK = /\S/;
/** Optional, but when present never null (the column is NOT NULL). */
const Present = (field: string) => ValidateIf((o: Record<string, unknown>) => o[field] !== undefined);

// Validators run from the bottom decorator up and stop at the first error, so the type
// check sits lowest: `name: 42` reports "must be a string", not a pattern mismatch.

export class OwnerDto {
  @ApiProperty({ example: 'o-alice' }) id!: string;
  @ApiProperty({ example: 'Alice Example' }) name!: string;
  @ApiProperty({ example: 'alice@example.com', format: 'email' }) email!: string;
  @ApiProperty({ type: String, nullable: true, example: 'team-platform' }) team_id!: string | null;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;

  static from(e: OwnerEntity): OwnerDto {
    return {
      id: e.id,
      name: e.name,
      email: e.email,
      team_id: e.teamId,
      created_at: e.createdAt.toISOString(),
      updated_at: e.updatedAt.toISOString(),
    };
  }
}

export const OWNER_FIELDS = ['id', 'name', 'email', 'team_id', 'created_at', 'updated_at'] as const;

export class CreateOwnerDto {
  @ApiPropertyOptional({ example: 'o-alice', description: 'Client-chosen id; generated (`o-…`) when absent' })
  @IsOptional()
  @IsClientId()
  id?: string;

  @ApiProperty({ example: 'Alice Example' })
  @Matches(NOT_BLANK, { message: 'name must not be blank' })
  @MaxLength(200)
  @IsString()
  name!: string;

  @ApiProperty({ example: 'alice@example.com', format: 'email', description: 'Unique, case-insensitively' })
  @IsEmail({}, { message: 'email must be a valid email address' })
  @MaxLength(254)
  @IsString()
  email!: string;

  @ApiPropertyOptional({ type: String, nullable: true, example: 'team-platform', description: 'An existing team' })
  @IsOptional()
  @IsClientId()
  @IsString()
  team_id?: string | null;
}

/** Partial update: absent fields keep their value; `team_id: null` detaches the owner from its team. */
export class UpdateOwnerDto {
  @ApiPropertyOptional({ example: 'Alice Example' })
  @Present('name')
  @Matches(NOT_BLANK, { message: 'name must not be blank' })
  @MaxLength(200)
  @IsString()
  name?: string;

  @ApiPropertyOptional({ example: 'alice@example.com', format: 'email' })
  @Present('email')
  @IsEmail({}, { message: 'email must be a valid email address' })
  @MaxLength(254)
  @IsString()
  email?: string;

  @ApiPropertyOptional({ type: String, nullable: true, description: 'An existing team; null detaches' })
  @IsOptional()
  @IsClientId()
  @IsString()
  team_id?: string | null;
}

export class OwnerListQueryDto extends ListQueryDto {
  @ApiPropertyOptional({ description: 'Only owners of this team' })
  @IsOptional()
  @MaxLength(128)
  @IsString()
  team_id?: string;

  @ApiPropertyOptional({ description: 'Exact email, compared case-insensitively' })
  @IsOptional()
  @IsEmail({}, { message: 'email must be a valid email address' })
  @MaxLength(254)
  @IsString()
  email?: string;

  @ApiPropertyOptional({ description: 'Case-insensitive substring of the name or email' })
  @IsOptional()
  @MaxLength(200)
  @IsString()
  q?: string;
}

export class OwnerPageDto extends PageOf(OwnerDto, 'OwnerPage') {}
