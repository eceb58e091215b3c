/** The list conventions every `/api/v1` collection follows. */
export const LIST_DEFAULT_PER_PAGE = 50;
export const LIST_MAX_PER_PAGE = 500;

/** `?page=&per_page=` answer. */
export interface PageResult<T> {
  data: T[];
  total: number;
  page: number;
  per_page: number;
}

/** `?cursor=&page_size=` answer (keyset on created_at, id). */
export interface CursorResult<T> {
  data: T[];
  total: number;
  next_cursor: string | null;
  page_size: number;
}

export type ListResult<T> = PageResult<T> | CursorResult<T>;
