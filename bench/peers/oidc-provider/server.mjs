// node oidc-provider with the bench's clients: one confidential client_credentials client, opaque
// access tokens (oidc-provider's default) kept by its in-memory adapter, introspection enabled.
// Usage: node server.mjs <port> <client_id> <client_secret>
import Provider from 'oidc-provider';

const [port, clientId, clientSecret] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
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
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    devInteractions: { enabled: false },
  },
  ttl: { ClientCredentials: 600 },
});
provider.on('server_error', (ctx, err) => console.error(err));
provider.listen(Number(port), '127.0.0.1', () => console.log(`oidc-provider ready on ${issuer}`));
