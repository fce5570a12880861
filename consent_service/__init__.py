"""consent-service: self-hosted consent and cookie management."""
