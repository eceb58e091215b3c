import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Matches, MaxLength } from 'class-validator';

export class MeDto {
  @ApiProperty({ example: 'ak-7k2m9q4r8t1v' }) actor_id!: string;
  @ApiProperty({ example: 'ApiKey' }) actor_type!: string;
  @ApiPropertyOptional({ example: 'ak-7k2m9q4r8t1v' }) key_id?: string;
  @ApiPropertyOptional({ example: 'ci-deployer' }) key_name?: string;
  @ApiProperty({ type: [String], example: ['operator'] }) roles!: string[];
  @ApiProperty({ type: [String], example: ['cert.read', 'cert.issue'] }) permissions!: string[];
}

export class PermissionDto {
  @ApiProperty({ example: 'cert.read' }) name!: string;
  @ApiProperty({ description: 'Whether the caller holds it' }) granted!: boolean;
}

export class PermissionListDto {
  @ApiProperty({ type: [PermissionDto] }) data!: PermissionDto[];
  @ApiProperty() total!: number;
}

export class AuthInfoDto {
  @ApiProperty({ example: 'api-key', description: 'How /api/v1 callers authenticate' }) auth_type!: string;
  @ApiProperty({ example: 'Authorization: Bearer <api key>' }) header!: string;
  @ApiProperty({ description: 'Whether the one-time bootstrap endpoint is configured' }) bootstrap_enabled!: boolean;
}

export class AuthCheckQueryDto {
  @ApiPropertyOptional({ description: 'Also report whether the caller holds this permission', example: 'cert.issue' })
  @IsOptional()
  @IsString()
  @Matches(/^[a-z_.]{1,64}$/, { message: 'permission must be a permission name such as cert.read' })
  permission?: string;
}

export class AuthCheckDto {
  @ApiProperty() authenticated!: boolean;
  @ApiProperty() actor_id!: string;
  @ApiPropertyOptional() permission?: string;
  @ApiPropertyOptional() allowed?: boolean;
}

export class BootstrapStatusDto {
  @ApiProperty({ description: 'True until the first admin key has been minted' }) available!: boolean;
}

export class BootstrapRequestDto {
  @ApiPropertyOptional({ example: 'platform-admin', description: 'Name of the admin key to mint' })
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/, { message: 'name must be 1-64 letters, digits, space, . _ -' })
  @MaxLength(64)
  name?: string;
}

export class MintedKeyDto {
  @ApiProperty({ example: 'ak-7k2m9q4r8t1v' }) id!: string;
  @ApiProperty({ example: 'platform-admin' }) name!: string;
  @ApiProperty() actor_id!: string;
  @ApiProperty({ example: 'ApiKey' }) actor_type!: string;
  @ApiProperty({ type: [String], example: ['admin'] }) roles!: string[];
  @ApiProperty({ description: 'The API key secret. Shown once; store it now.' }) key!: string;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
}
