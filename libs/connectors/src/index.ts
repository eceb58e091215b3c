// Filled by later issues; exports through this one entry point.
export {};
