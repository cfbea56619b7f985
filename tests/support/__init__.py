"""Shared test support: real servers, fault injection, process helpers."""
