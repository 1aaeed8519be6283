import type { GatewayConfig } from '../config/schema.js';
import { GatewayError } from '../errors.js';
import type { CallContext, Stage } from '../pipeline/context.js';
import type { McpServer } from './registry.js';

/**
 * The gateway as the OAuth 2.1 resource server of its MCP routes (MCP authorization, RFC 9728):
 * each `/mcp/<name>` is a protected resource whose metadata, at
 * `/.well-known/oauth-protected-resource/mcp/<name>`, names the issuers the gateway trusts
 * (`identity.issuers`). A 401 on an MCP route points at it (`resource_metadata` in the Bearer
 * challenge), so an MCP client finds where to get a token. The token's audience is checked by the
 * identity stage (`identity.audience`, or the issuer's own), and the token never leaves the gateway:
 * the server is called with the tool's credential (upstream/forward.ts drops `authorization`).
 */
export const METADATA_PREFIX = '/.well-known/oauth-protected-resource';

/** The public URL a client used for `path` on this listener (the Host was checked against DNS rebinding before). */
function publicUrl(ctx: CallContext, path: string): string {
  const proto = ctx.req.headers['x-forwarded-proto'] === 'https' ? 'https' : 'http';
  return `${proto}://${ctx.req.headers.host ?? 'localhost'}${path}`;
}

export function metadataUrl(ctx: CallContext, server: string): string {
  return publicUrl(ctx, `${METADATA_PREFIX}/mcp/${server}`);
}

/** The issuers an MCP client may get a token from: the configured ones that are URLs (RFC 8414 issuer identifiers). */
export function authorizationServers(config: GatewayConfig): string[] {
  return config.identity.issuers.map((i) => i.issuer).filter((i) => /^https?:\/\//.test(i));
}

/** Answers the protected resource metadata of one MCP server (GET, no token needed). */
export function createMetadataStage(config: GatewayConfig): Stage {
  const servers = authorizationServers(config);
  return function mcpMetadataStage(ctx) {
    const server = (ctx.route!.tool as { server: McpServer }).server;
    const body = JSON.stringify({
      resource: publicUrl(ctx, `/mcp/${server.name}`),
      authorization_servers: servers,
      bearer_methods_supported: ['header'],
      resource_name: `MCP server ${server.name} through AOS gateway`,
    });
    ctx.call = { kind: 'mcp', operation: 'metadata', model: null, stream: false, maxTokens: null, tool: null, undecided: true };
    ctx.res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'max-age=300', 'x-aos-request-id': ctx.id });
    ctx.res.end(body);
    ctx.answered = true;
  };
}

/** The identity stage of MCP routes: a 401 carries `resource_metadata` (MCP authorization, RFC 9728 §5.1). */
export function withResourceMetadata(identity: Stage): Stage {
  const challenge = (ctx: CallContext, err: unknown): unknown => {
    if (!(err instanceof GatewayError) || err.code !== 'aos_unauthenticated') return err;
    const server = (ctx.route!.tool as { server: McpServer }).server;
    const was = err.headers?.['www-authenticate'] ?? 'Bearer realm="aos-gateway"';
    return new GatewayError('aos_unauthenticated', err.message, { headers: { ...err.headers, 'www-authenticate': `${was}, resource_metadata="${metadataUrl(ctx, server.name)}"` } });
  };
  return function mcpIdentityStage(ctx) {
    // The token may name this server's resource URL as its audience (RFC 8707), as the metadata advertises it.
    ctx.resource = publicUrl(ctx, `/mcp/${(ctx.route!.tool as { server: McpServer }).server.name}`);
    let pending: ReturnType<Stage>;
    try {
      pending = identity(ctx);
    } catch (err) {
      throw challenge(ctx, err);
    }
    return (pending as Promise<void> | undefined)?.catch((err) => {
      throw challenge(ctx, err);
    });
  };
}
