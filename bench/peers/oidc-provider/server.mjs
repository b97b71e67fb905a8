// node oidc-provider with the bench's clients: one confidential client_credentials client and
// introspection enabled. Two access-token formats:
//   opaque (default) — oidc-provider's default: a random handle kept by its in-memory adapter;
//   jwt              — RFC 9068 `at+jwt` access tokens signed with ES256, through oidc-provider's
//                      resource-indicators feature (the only way it issues JWT access tokens): the
//                      format ostiary issues by default, nothing stored.
// Usage: node server.mjs <port> <client_id> <client_secret> [opaque|jwt]
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const [port, clientId, clientSecret, format = 'opaque'] = process.argv.slice(2);
if (!['opaque', 'jwt'].includes(format)) throw new Error(`unknown access-token format ${format}`);
const issuer = `http://127.0.0.1:${port}`;

const features = {
  clientCredentials: { enabled: true },
  introspection: { enabled: true },
  revocation: { enabled: true },
  devInteractions: { enabled: false },
};
let signing = {};
if (format === 'jwt') {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'ES256', kid: 'bench-es256' };
  signing = { jwks: { keys: [jwk] }, clientDefaults: { id_token_signed_response_alg: 'ES256' } };
  features.resourceIndicators = {
    enabled: true,
    defaultResource: () => issuer, // the token's `aud`, as ostiary's tokens name the issuer
    useGrantedResource: () => true,
    getResourceServerInfo: () => ({
      scope: 'items:read',
      accessTokenTTL: 600,
      accessTokenFormat: 'jwt',
      jwt: { sign: { alg: 'ES256' } },
    }),
  };
}

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'items:read',
    },
  ],
  scopes: ['items:read'],
  ...signing,
  features,
  ttl: { ClientCredentials: 600 },
});
provider.on('server_error', (ctx, err) => console.error(err));
provider.listen(Number(port), '127.0.0.1', () => console.log(`oidc-provider (${format}) ready on ${issuer}`));
