"""Fixtures for a real S3 endpoint: moto in server mode on a free loopback port, reached over HTTP."""
