// A relying party built on node's `openid-client` v6, unmodified, against a real ostiary.
//
// Configured by RP_ISSUER, RP_CLIENT_ID, RP_CLIENT_SECRET and RP_PORT. It discovers the issuer,
// prints one JSON line {"authorization_url": …} for the browser, serves the loopback callback, then
// runs the code grant with every check openid-client has (PKCE S256, state, nonce, RFC 9207 `iss`,
// the ID token's iss/aud/exp/iat/nonce/at_hash — and, with enableNonRepudiationChecks, its
// signature against the JWKS), fetches UserInfo (its `sub` must equal the ID token's), refreshes,
// introspects and revokes. It prints one JSON line {"result": …} or {"error": …} and exits.
import http from 'node:http'
import * as client from 'openid-client'

const issuer = new URL(process.env.RP_ISSUER)
const clientId = process.env.RP_CLIENT_ID
const clientSecret = process.env.RP_CLIENT_SECRET
const port = Number(process.env.RP_PORT)
const redirectUri = `http://127.0.0.1:${port}/callback`

const emit = (line) => process.stdout.write(JSON.stringify(line) + '\n')

function describe(err) {
  return {
    name: err?.name,
    code: err?.code,
    message: err?.message,
    error: err?.error,
    error_description: err?.error_description,
    status: err?.status,
  }
}

const config = await client.discovery(issuer, clientId, undefined, client.ClientSecretBasic(clientSecret), {
  execute: [
    // The one relaxation: the test server speaks plain HTTP on loopback, which openid-client
    // otherwise refuses. Every other check stays at its strict default.
    client.allowInsecureRequests,
    // Stricter than the default: verify the ID token's signature against the issuer's JWKS too.
    client.enableNonRepudiationChecks,
  ],
})

const codeVerifier = client.randomPKCECodeVerifier()
const state = client.randomState()
const nonce = client.randomNonce()
const authorizationUrl = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri,
  scope: 'openid profile email offline_access',
  code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
  code_challenge_method: 'S256',
  state,
  nonce,
})

async function complete(currentUrl) {
  const tokens = await client.authorizationCodeGrant(config, currentUrl, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  })
  const claims = tokens.claims()
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub)
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token)
  const refreshedClaims = refreshed.claims() ?? null // an ID token on refresh is optional
  const introspected = await client.tokenIntrospection(config, refreshed.access_token)
  await client.tokenRevocation(config, refreshed.refresh_token)
  const afterRevocation = await client.tokenIntrospection(config, refreshed.access_token)
  return {
    server_metadata_issuer: config.serverMetadata().issuer,
    scope: tokens.scope,
    token_type: tokens.token_type,
    id_token_claims: claims,
    userinfo,
    refreshed: {
      scope: refreshed.scope,
      new_access_token: refreshed.access_token !== tokens.access_token,
      new_refresh_token: typeof refreshed.refresh_token === 'string' && refreshed.refresh_token !== tokens.refresh_token,
      id_token_sub: refreshedClaims?.sub ?? null,
    },
    introspection: introspected,
    introspection_after_revocation: afterRevocation,
    // The first refresh token was rotated away; the test checks that the server refuses it.
    rotated_refresh_token: tokens.refresh_token,
  }
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, redirectUri)
  if (url.pathname !== '/callback') {
    res.writeHead(404).end()
    return
  }
  let line
  try {
    line = { result: await complete(url) }
  } catch (err) {
    line = { error: describe(err) }
  }
  const body = JSON.stringify(line, null, 2).replace(/[<>&]/g, (c) => `&#${c.charCodeAt(0)};`)
  res.writeHead(line.error ? 400 : 200, { 'content-type': 'text/html; charset=utf-8' })
  res.end(`<!doctype html><title>openid-client RP</title><pre id="result">${body}</pre>`)
  emit(line)
  server.close()
  server.closeAllConnections()
  process.exitCode = line.error ? 1 : 0
})

server.listen(port, '127.0.0.1', () => emit({ authorization_url: authorizationUrl.href }))
