"""The OCPP 1.6J central system: transport, RPC, validation, sessions (no Home Assistant import)."""
