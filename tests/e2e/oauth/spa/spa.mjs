// A single-page app that signs its user in with ostiary as the public client `demo-spa`, entirely
// from the browser: `oauth4webapi` (from npm, unmodified; the library under openid-client) does
// discovery, PKCE S256, state, nonce, the RFC 9207 `iss` check, the code exchange without a secret,
// the ID token's claim checks, UserInfo and refresh — each a cross-origin fetch, as a real SPA makes.
//
// `/?issuer=URL` starts a sign-in; `/callback` finishes it, then refreshes twice and presents the
// first, rotated-away refresh token again. The outcome goes to <pre id="result"> as JSON.
import * as oauth from '/vendor/oauth4webapi.js'

// The one relaxation: the test server speaks plain HTTP on loopback, which oauth4webapi otherwise
// refuses. Every other check stays at its default.
const insecure = { [oauth.allowInsecureRequests]: true }
const here = new URL(location.href)
const redirectUri = `${here.origin}/callback` // RFC 8252 §7.3: this port was never registered
const client = { client_id: 'demo-spa', token_endpoint_auth_method: 'none' }

function show(status, result) {
  document.getElementById('result').textContent = JSON.stringify(result, null, 2)
  document.getElementById('status').textContent = status
}

async function discover(issuer) {
  const url = new URL(issuer)
  return oauth.processDiscoveryResponse(url, await oauth.discoveryRequest(url, insecure))
}

async function start() {
  const issuer = here.searchParams.get('issuer')
  const as = await discover(issuer)
  const verifier = oauth.generateRandomCodeVerifier()
  const state = oauth.generateRandomState()
  const nonce = oauth.generateRandomNonce()
  sessionStorage.setItem('login', JSON.stringify({ issuer, verifier, state, nonce }))
  const url = new URL(as.authorization_endpoint)
  url.search = new URLSearchParams({
    client_id: client.client_id,
    redirect_uri: redirectUri,
    response_type: 'code',
    scope: 'openid profile email offline_access',
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  }).toString()
  location.assign(url.href)
}

async function refresh(as, refreshToken) {
  const response = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), refreshToken, insecure)
  return oauth.processRefreshTokenResponse(as, client, response)
}

async function refusal(promise) {
  try {
    await promise
    return null
  } catch (err) {
    return err.error ?? `${err.name}: ${err.message}`
  }
}

async function finish() {
  const { issuer, verifier, state, nonce } = JSON.parse(sessionStorage.getItem('login'))
  sessionStorage.removeItem('login')
  const as = await discover(issuer)
  const params = oauth.validateAuthResponse(as, client, here, state) // state, and `iss` (RFC 9207)
  const response = await oauth.authorizationCodeGrantRequest(
    as, client, oauth.None(), params, redirectUri, verifier, insecure,
  )
  const tokens = await oauth.processAuthorizationCodeResponse(as, client, response, {
    expectedNonce: nonce,
    requireIdToken: true,
  })
  const claims = oauth.getValidatedIdTokenClaims(tokens)
  const userinfo = await oauth.processUserInfoResponse(
    as, client, claims.sub, await oauth.userInfoRequest(as, client, tokens.access_token, insecure),
  )
  const second = await refresh(as, tokens.refresh_token)
  const third = await refresh(as, second.refresh_token)
  const reuse = await refusal(refresh(as, tokens.refresh_token)) // rotated away, its successor used
  const afterReuse = await refusal(refresh(as, third.refresh_token)) // the family it belonged to
  return {
    origin: here.origin,
    scope: tokens.scope,
    id_token_claims: claims,
    userinfo,
    rotated: new Set([tokens.refresh_token, second.refresh_token, third.refresh_token]).size === 3,
    refreshed_scope: third.scope,
    reuse_of_the_first_refresh_token: reuse,
    newest_refresh_token_after_reuse: afterReuse,
    first_refresh_token: tokens.refresh_token,
    newest_access_token: third.access_token,
  }
}

if (here.pathname === '/callback') {
  finish().then(
    (result) => show('signed in', result),
    (err) => show('failed', { error: err.error ?? err.code ?? err.name, message: err.message }),
  )
} else {
  start().catch((err) => show('failed', { error: err.code ?? err.name, message: err.message }))
}
