"""The OCPP 1.6J central system: transport, RPC, validation and charger sessions (no Home Assistant import)."""
