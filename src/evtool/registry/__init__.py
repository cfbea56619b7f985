"""A Schema Registry as the catalogue's published truth: client, subject naming, check, push, pull."""
