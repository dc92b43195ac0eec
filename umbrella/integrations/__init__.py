"""One client per external provider: Resend, Twilio, Anthropic and the OIDC identity providers."""
