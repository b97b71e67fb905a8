"""OAuth 2.0 authorization server core (RFC 6749, RFC 7636, RFC 9207, RFC 9700): async, framework-free.

One module per endpoint and grant; the web layer adapts HTTP to `requests.OAuthRequest` and back.
"""
