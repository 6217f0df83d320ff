"""The ops (scan, export, rewrap, decode) against an in-memory store: no server, no gRPC."""
