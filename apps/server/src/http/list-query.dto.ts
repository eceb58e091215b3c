import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { LIST_DEFAULT_PER_PAGE, LIST_MAX_PER_PAGE } from '@certctl/domain';

const toInt = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value;

/**
 * The query parameters every list takes. Either page mode (`page`, `per_page`) or cursor
 * mode (`cursor`, `page_size`; keyset on created_at, id); never both.
 */
export class ListQueryDto {
  @ApiPropertyOptional({ type: 'integer', minimum: 1, default: 1, description: 'Page number (page mode).' })
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  page?: number;

  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    maximum: LIST_MAX_PER_PAGE,
    default: LIST_DEFAULT_PER_PAGE,
    description: 'Items per page (page mode).',
  })
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(LIST_MAX_PER_PAGE)
  per_page?: number;

  @ApiPropertyOptional({ description: 'Opaque cursor from a previous `next_cursor` (cursor mode).' })
  @IsOptional()
  @IsString()
  @MaxLength(512)
  cursor?: string;

  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    maximum: LIST_MAX_PER_PAGE,
    description: 'Items per page (cursor mode; starts cursor mode without a cursor).',
  })
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(LIST_MAX_PER_PAGE)
  page_size?: number;

  @ApiPropertyOptional({ description: 'Sort field; prefix with `-` for descending (e.g. `-created_at`).' })
  @IsOptional()
  @IsString()
  @Matches(/^-?[a-z_]{1,64}$/, { message: 'sort must be a field name, optionally prefixed with -' })
  sort?: string;

  @ApiPropertyOptional({ description: 'Comma-separated fields to return (sparse fieldsets); `id` is always kept.' })
  @IsOptional()
  @IsString()
  @Matches(/^[a-z_]{1,64}(,[a-z_]{1,64})*$/, { message: 'fields must be a comma-separated list of field names' })
  fields?: string;
}
