"""Pure rules of Countersign: no Slack, no SQL session, no clock reads (`now` is an argument)."""
