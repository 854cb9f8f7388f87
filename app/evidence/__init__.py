"""Evidence packets: everything about one billing exception an auditor needs, in one folder
(packet.json, packet.html, packet.pdf when Chromium is present, SHA256SUMS), checkable without
the database (`countersign evidence verify DIR`)."""
