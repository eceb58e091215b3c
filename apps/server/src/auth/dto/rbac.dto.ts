import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsNotEmpty,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
} from 'class-validator';
import { ListQueryDto } from '../../http/list-query.dto';
import { PageOf } from '../../http/page.dto';
import { IsClientId } from '../../http/dto-fields';

/** Role and key names: readable labels, 1-64 chars. */
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/;
const NAME_MESSAGE = 'must be 1-64 letters, digits, space, . _ - (starting with a letter or digit)';
/** Free text Postgres can store (TEXT refuses NUL). */
// eslint-disable-next-line no-control-regex -- NUL is exactly the character refused
const NO_NUL = /^[^\u0000]*$/;
/** RFC 3339 date-time with a time zone, e.g. 2030-01-31T12:00:00Z. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;
/** Upper bound on list bodies; the catalogue has 82 permissions. */
const MAX_ITEMS = 200;

// ---------------------------------------------------------------- roles

export class RoleDto {
  @ApiProperty({ example: 'role-operator' }) id!: string;
  @ApiProperty({ example: 'operator' }) name!: string;
  @ApiProperty({ example: 'Certificate operations' }) description!: string;
  @ApiProperty({ description: 'Seeded by certctl; built-in roles cannot be deleted or renamed' }) builtin!: boolean;
  @ApiProperty({ type: [String], example: ['cert.issue', 'cert.read'], description: 'Sorted' }) permissions!: string[];
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;
}

export const ROLE_FIELDS = [
  'id',
  'name',
  'description',
  'builtin',
  'permissions',
  'created_at',
  'updated_at',
] as const satisfies readonly (keyof RoleDto)[];

export class RolePageDto extends PageOf(RoleDto, 'RolePage') {}

export class RoleListQueryDto extends ListQueryDto {}

export class CreateRoleDto {
  @ApiPropertyOptional({
    example: 'cert-rotator',
    description: 'Client-chosen id (lowercase letters, digits, . _ -; 1-128 chars); generated when omitted',
  })
  @IsOptional()
  @IsString()
  @IsClientId()
  id?: string;

  @ApiProperty({ example: 'cert-rotator', description: 'Unique' })
  @IsString()
  @Matches(NAME_PATTERN, { message: `name ${NAME_MESSAGE}` })
  name!: string;

  @ApiPropertyOptional({ example: 'Renews and deploys certificates' })
  @IsOptional()
  @IsString()
  @MaxLength(1000)
  @Matches(NO_NUL, { message: 'description must not contain NUL characters' })
  description?: string;

  @ApiProperty({ type: [String], example: ['cert.read', 'cert.issue'], description: 'Names from the catalogue' })
  @IsArray()
  @ArrayMaxSize(MAX_ITEMS)
  @IsString({ each: true })
  permissions!: string[];
}

/** Each field given replaces the stored value. */
export class UpdateRoleDto {
  @ApiPropertyOptional({ example: 'cert-rotator' })
  @IsOptional()
  @IsString()
  @Matches(NAME_PATTERN, { message: `name ${NAME_MESSAGE}` })
  name?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(1000)
  @Matches(NO_NUL, { message: 'description must not contain NUL characters' })
  description?: string;

  @ApiPropertyOptional({ type: [String], description: 'The complete new permission set' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(MAX_ITEMS)
  @IsString({ each: true })
  permissions?: string[];
}

export class RolePermissionsDto {
  @ApiProperty({ type: [String], example: ['cert.revoke'], description: 'Permissions to add' })
  @IsArray()
  @ArrayMinSize(1, { message: 'permissions must name at least one permission' })
  @ArrayMaxSize(MAX_ITEMS)
  @IsString({ each: true })
  permissions!: string[];
}

// ---------------------------------------------------------------- keys

export class ApiKeyDto {
  @ApiProperty({ example: 'ak-7k2m9q4r8t1v' }) id!: string;
  @ApiProperty({ example: 'ci-deployer' }) name!: string;
  @ApiProperty({ example: 'ak-7k2m9q4r8t1v', description: 'The actor the key authenticates; roles attach to it' })
  actor_id!: string;
  @ApiProperty({ example: 'ApiKey' }) actor_type!: string;
  @ApiProperty({ example: 'cc_AbC12x', description: 'First characters of the key, to tell keys apart' })
  key_prefix!: string;
  @ApiProperty({ type: [String], example: ['operator'], description: "Names of the actor's roles, sorted" })
  roles!: string[];
  @ApiProperty({ example: 'ak-admin0000001' }) created_by!: string;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) expires_at!: string | null;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) revoked_at!: string | null;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) last_used_at!: string | null;
}

export const API_KEY_FIELDS = [
  'id',
  'name',
  'actor_id',
  'actor_type',
  'key_prefix',
  'roles',
  'created_by',
  'created_at',
  'expires_at',
  'revoked_at',
  'last_used_at',
] as const satisfies readonly (keyof ApiKeyDto)[];

export class CreatedApiKeyDto extends ApiKeyDto {
  @ApiProperty({ description: 'The API key secret. Shown once; store it now.' }) key!: string;
}

export class ApiKeyPageDto extends PageOf(ApiKeyDto, 'ApiKeyPage') {}

const toBool = ({ value }: { value: unknown }): unknown =>
  value === 'true' ? true : value === 'false' ? false : value;

export class ApiKeyListQueryDto extends ListQueryDto {
  @ApiPropertyOptional({ type: Boolean, default: false, description: 'Also list revoked keys' })
  @IsOptional()
  @Transform(toBool)
  @IsBoolean({ message: 'include_revoked must be true or false' })
  include_revoked?: boolean;
}

export class CreateApiKeyDto {
  @ApiProperty({ example: 'ci-deployer' })
  @IsString()
  @Matches(NAME_PATTERN, { message: `name ${NAME_MESSAGE}` })
  name!: string;

  @ApiProperty({ type: [String], example: ['operator'], description: 'Role ids or names to grant the key' })
  @IsArray()
  @ArrayMinSize(1, { message: 'roles must name at least one role' })
  @ArrayMaxSize(MAX_ITEMS)
  @IsString({ each: true })
  @IsNotEmpty({ each: true, message: 'roles must not contain empty names' })
  @MaxLength(128, { each: true, message: 'each role must be at most 128 characters' })
  @Matches(NO_NUL, { each: true, message: 'roles must not contain NUL characters' })
  roles!: string[];

  @ApiPropertyOptional({ format: 'date-time', example: '2030-01-31T00:00:00Z', description: 'RFC 3339, in the future' })
  @IsOptional()
  @IsString()
  @Matches(RFC3339, { message: 'expires_at must be an RFC 3339 date-time such as 2030-01-31T00:00:00Z' })
  expires_at?: string;
}

export class GrantRoleDto {
  @ApiProperty({ example: 'role-operator', description: 'Role id (or name)' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(128)
  @Matches(NO_NUL, { message: 'role_id must not contain NUL characters' })
  role_id!: string;
}
