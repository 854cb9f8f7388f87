"""What the emulators share and nothing else: it imports nothing of Countersign."""
