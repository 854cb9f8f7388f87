"""Slack edge: Bolt app, listeners, card rendering. Parses payloads into typed commands."""
