#!/usr/bin/env node
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { CERTCTL_VERSION as MCP_VERSION, createCertctlClient } from '@certctl/api-client';
import { ConfigError, loadConfig } from './config';
import { createMcpServer } from './server';

/**
 * certctl-mcp: the Model Context Protocol server over stdio. stdout is the protocol channel, so
 * anything for a human goes to stderr (never the API key).
 */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`certctl-mcp: ${e.message}\n`);
    process.exitCode = 2;
    return;
  }
  const client = createCertctlClient({
    baseUrl: config.serverUrl,
    apiKey: config.apiKey,
    caBundlePem: config.caBundlePem,
    userAgent: `certctl-mcp/${MCP_VERSION}`,
  });
  const server = createMcpServer(client);
  const transport = new StdioServerTransport();
  // The client closing stdin ends the session (the SDK's transport does not watch for that):
  // close the server and the connection pool so the process exits.
  transport.onclose = () => void client.close();
  process.stdin.once('end', () => void server.close());
  await server.connect(transport);
  process.stderr.write(`certctl-mcp ${MCP_VERSION} serving ${config.serverUrl} over stdio\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`certctl-mcp: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
