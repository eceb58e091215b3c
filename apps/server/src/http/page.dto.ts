import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

type Ctor<T> = new (...args: never[]) => T;

/**
 * The list envelope for one item type, as a named schema in the OpenAPI document
 * (`TeamPage`): page mode fills page/per_page, cursor mode next_cursor/page_size.
 */
export function PageOf<T>(item: Ctor<T>, name: string): Ctor<{ data: T[]; total: number }> {
  class Page {
    @ApiProperty({ type: [item] }) data!: T[];
    @ApiProperty({ description: 'Items matching the filters' }) total!: number;
    @ApiPropertyOptional({ description: 'Page number (page mode)' }) page?: number;
    @ApiPropertyOptional({ description: 'Items per page (page mode)' }) per_page?: number;
    @ApiPropertyOptional({ type: String, nullable: true, description: 'Cursor of the next page (cursor mode)' })
    next_cursor?: string | null;
    @ApiPropertyOptional({ description: 'Items per page (cursor mode)' }) page_size?: number;
  }
  Object.defineProperty(Page, 'name', { value: name });
  return Page;
}
