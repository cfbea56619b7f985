"""`schema lint`: governance rules beyond compatibility, as a catalogue of rule classes."""
