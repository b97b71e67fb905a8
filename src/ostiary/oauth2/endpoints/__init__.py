"""The protocol endpoints, framework-free: each takes an `OAuthRequest` and returns a response value."""
