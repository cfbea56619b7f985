"""AsyncAPI 3 documents as a catalogue: messages read as subjects, and the catalogue written as one."""
