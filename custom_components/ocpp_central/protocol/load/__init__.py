"""Load management: a circuit's current and solar surplus shared among its connectors.

OCPP 1.6 smart charging (section 3.13) limits each connector; this package decides
the limits of all connectors on one supply together:

- `allocation`: the pure allocator (budget per phase, priorities, fair shares, solar);
- `phase_switch`: one phase or three for chargers that can switch (section 9.4.4);
- `apply`: sends the limits through the chargers' `CurrentLimiter`s, lowering first;
- `circuit`: ties them to live chargers (`CircuitController`).
"""
