export * from './base64';
export * from './body';
export * from './csrattrs';
export * from './serverkeygen';
