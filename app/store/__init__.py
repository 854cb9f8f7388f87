"""SQL store: tables, the audit hash chain, the outbox. Only flows and the CLI use it."""
