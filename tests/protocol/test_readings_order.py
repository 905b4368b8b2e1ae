"""Live values, reading order and the energy register, over a real connection on 127.0.0.1.

The charger is the `ocpp` package's ChargePoint (an independent OCPP-J 1.6 implementation)
talking to a real `CentralSystem` with real `ChargerSession`s:

- live values end with the session (OCPP 1.6 sections 4.9, 4.10; most chargers send no
  last sample: MeterValuesInTxOnly, an empty StopTxnSampledData, section 9.1);
- readings apply in timestamp order per connector (section 4.7: a charger delivers its
  queued MeterValues after reconnecting, section 4.10's transactionData comes late);
- the energy register is never published backwards (`protocol.register.EnergyRegister`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ocpp.v16 import ChargePoint, call
import pytest

from custom_components.ocpp_central.protocol.config import ChargerConfig
from custom_components.ocpp_central.protocol.hooks import MemoryHooks
from custom_components.ocpp_central.protocol.register import EnergyRegister
from custom_components.ocpp_central.protocol.session import ChargerSession
from custom_components.ocpp_central.protocol.state import ConnectorState

from .conftest import CentralFactory, ocpp_client

CBID = "CP1"
T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"


def ts(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def sample(measurand: str, value: float, unit: str | None = None, **extra: str) -> dict[str, Any]:
    found: dict[str, Any] = {"measurand": measurand, "value": str(value), **extra}
    if unit is not None:
        found["unit"] = unit
    return found


# A three-phase 11 kW session in full: what a dashboard shows while charging.
CHARGING = [
    sample(ENERGY, 5000, "Wh"),
    sample(POWER, 11000, "W"),
    *(sample(POWER, 3667, "W", phase=p) for p in ("L1", "L2", "L3")),
    sample("Current.Import", 16, "A"),
    *(sample("Current.Import", 16, "A", phase=p) for p in ("L1", "L2", "L3")),
    sample("Current.Offered", 16, "A"),
    sample("Voltage", 230, "V", phase="L1-N"),
    sample("Temperature", 31, "Celsius"),
    sample("SoC", 64, "Percent", location="EV"),
]


async def start(make_central: CentralFactory) -> tuple[ChargerSession, MemoryHooks, Any]:
    hooks = MemoryHooks()
    central = await make_central([ChargerConfig(charge_box_id=CBID)], hooks=hooks)
    session = central.sessions[CBID]
    assert isinstance(session, ChargerSession)
    session.resync_delay = 3600  # no resynchronisation CALLs in the way
    return session, hooks, central


async def send(charger: ChargePoint, message: Any) -> Any:
    return await charger.call(message, suppress=False)


async def meter(
    charger: ChargePoint,
    minutes: float,
    values: list[dict[str, Any]],
    *,
    connector_id: int = 1,
    transaction_id: int | None = None,
) -> None:
    await send(
        charger,
        call.MeterValues(
            connector_id=connector_id,
            transaction_id=transaction_id,
            meter_value=[{"timestamp": ts(minutes), "sampledValue": values}],
        ),
    )


async def status(charger: ChargePoint, value: str, minutes: float | None = None) -> None:
    await send(
        charger,
        call.StatusNotification(
            connector_id=1,
            error_code="NoError",
            status=value,
            timestamp=None if minutes is None else ts(minutes),
        ),
    )


async def begin(charger: ChargePoint, meter_start: int = 4000) -> int:
    started = await send(
        charger,
        call.StartTransaction(
            connector_id=1, id_tag="TAG", meter_start=meter_start, timestamp=ts(0)
        ),
    )
    return int(started.transaction_id)


def values(connector: ConnectorState) -> dict[str, float]:
    return {key: reading.value for key, reading in connector.readings.items()}


def assert_session_ended(connector: ConnectorState) -> None:
    """What a user reading the dashboard after the session expects."""
    found = values(connector)
    for key in (POWER, "Current.Import", "Current.Offered"):
        assert found[key] == 0, key
    for phase in ("L1", "L2", "L3"):
        assert found[f"{POWER}.{phase}"] == 0
        assert found[f"Current.Import.{phase}"] == 0
    assert "SoC" not in found  # the car's: unknown once it is no longer charging here
    assert found["Voltage.L1-N"] == 230  # the charger's own: kept
    assert found["Temperature"] == 31
    assert found[ENERGY] >= 5000  # the register is never ended


async def test_stop_without_final_sample_ends_live_values(make_central: CentralFactory) -> None:
    session, _, central = await start(make_central)
    async with ocpp_client(central, CBID) as charger:
        tx = await begin(charger)
        await meter(charger, 10, CHARGING, transaction_id=tx)
        connector = session.state.connectors[1]
        assert connector.reading(POWER) == 11000
        await send(
            charger, call.StopTransaction(meter_stop=5200, timestamp=ts(20), transaction_id=tx)
        )
        assert_session_ended(connector)
        assert connector.reading(ENERGY) == 5200
        # A sample of the finished session delivered late (queued offline) changes nothing...
        await meter(charger, 15, [sample(POWER, 11000, "W")], transaction_id=tx)
        assert connector.reading(POWER) == 0
        # ...a new sample of the charger does.
        await meter(charger, 30, [sample(POWER, 40, "W")])
        assert connector.reading(POWER) == 40


@pytest.mark.parametrize("idle", ["Available", "Preparing", "Finishing"])
async def test_idle_status_without_transaction_ends_live_values(
    make_central: CentralFactory, idle: str
) -> None:
    """Values sampled outside a transaction end when the connector reports idle."""
    session, _, central = await start(make_central)
    async with ocpp_client(central, CBID) as charger:
        await status(charger, "Charging", 0)
        await meter(charger, 10, CHARGING)
        await status(charger, idle, 11)
        assert_session_ended(session.state.connectors[1])


async def test_idle_status_during_a_transaction_keeps_live_values(
    make_central: CentralFactory,
) -> None:
    """Finishing before the StopTransaction: the session has not ended for us yet."""
    session, _, central = await start(make_central)
    async with ocpp_client(central, CBID) as charger:
        tx = await begin(charger)
        await meter(charger, 10, CHARGING, transaction_id=tx)
        await status(charger, "Finishing", 11)
        assert session.state.connectors[1].reading(POWER) == 11000
        assert session.state.connectors[1].reading("SoC") == 64


async def test_idle_charger_that_never_reported_shows_power_zero(
    make_central: CentralFactory,
) -> None:
    """Power and current 0 once idle; nothing else is made up of what it never reports."""
    session, _, central = await start(make_central)
    async with ocpp_client(central, CBID) as charger:
        await status(charger, "Available")  # no timestamp: the charger's clock is unknown
        connector = session.state.connectors[1]
        assert values(connector) == {POWER: 0, "Current.Import": 0}
        # The zero never hides a sample of the charger, whatever its clock says.
        await meter(charger, -600, [sample("Power.Active.Import", 7, "W", phase="L1")])
        assert connector.reading(f"{POWER}.L1") == 7


async def test_queued_meter_values_never_overwrite_newer_ones(
    make_central: CentralFactory,
) -> None:
    """Every measurand keeps its newest sample when older ones arrive after it."""
    session, _, central = await start(make_central)
    async with ocpp_client(central, CBID) as charger:
        tx = await begin(charger)
        await meter(charger, 30, CHARGING, transaction_id=tx)
        before = values(session.state.connectors[1])
        # The charger's offline queue, delivered after the newer sample.
        queued = [
            sample(ENERGY, 4500, "Wh"),
            sample(POWER, 3000, "W"),
            *(sample(POWER, 1000, "W", phase=p) for p in ("L1", "L2", "L3")),
            sample("Current.Import", 4, "A"),
            sample("Current.Import", 4, "A", phase="L2"),
            sample("Current.Offered", 6, "A"),
            sample("Voltage", 225, "V", phase="L1-N"),
            sample("Temperature", 20, "Celsius"),
            sample("SoC", 40, "Percent", location="EV"),
        ]
        await meter(charger, 10, queued, transaction_id=tx)
        assert values(session.state.connectors[1]) == before
        # A sample as old as the one held but higher (resent with more digits) is news.
        await meter(charger, 30, [sample(ENERGY, 5000.4, "Wh")], transaction_id=tx)
        assert session.state.connectors[1].reading(ENERGY) == 5000.4
        assert session.transactions[tx].meter_last == 5000.4


async def test_late_transaction_data_never_overwrites_newer_readings(
    make_central: CentralFactory,
) -> None:
    session, hooks, central = await start(make_central)
    async with ocpp_client(central, CBID) as charger:
        tx = await begin(charger)
        await meter(
            charger,
            30,
            [sample(ENERGY, 6000, "Wh"), sample("Voltage", 231, "V")],
            transaction_id=tx,
        )
        history = [
            {
                "timestamp": ts(10),
                "sampledValue": [sample(ENERGY, 5000, "Wh"), sample("Voltage", 226, "V")],
            },
            {
                "timestamp": ts(40),
                "sampledValue": [sample(ENERGY, 6500, "Wh"), sample("Voltage", 229, "V")],
            },
        ]
        await send(
            charger,
            call.StopTransaction(
                meter_stop=6400, timestamp=ts(45), transaction_id=tx, transaction_data=history
            ),
        )
    connector = session.state.connectors[1]
    # The 10-minute sample is older than what was held; the 40-minute one is newer.
    assert connector.reading("Voltage") == 229
    # meterStop (6400) at 45 minutes is lower than 6500 at 40: a dip, not published.
    assert connector.reading(ENERGY) == 6500
    assert hooks.stopped[0][1].energy == 2500


async def test_register_glitch_and_meter_restart(make_central: CentralFactory) -> None:
    """A lone dip is dropped; a confirmed restart is carried on from the published value."""
    session, hooks, central = await start(make_central)
    async with ocpp_client(central, CBID) as charger:
        tx = await begin(charger, meter_start=10_000)
        connector = session.state.connectors[1]
        published: list[float | None] = []
        sent = ((10, 12_000), (11, 0), (12, 12_100), (13, 3_000), (12.5, 2_950), (14, 3_400))
        for minutes, raw in sent:
            await meter(charger, minutes, [sample(ENERGY, raw, "Wh")], transaction_id=tx)
            published.append(connector.reading(ENERGY))
        # 0 at 11 minutes was a glitch; at 13 the meter restarted at 3000 Wh (a reboot),
        # which 3400 Wh at 14 confirms; a late sample from before the drop changes nothing.
        assert published == [12_000, 12_000, 12_100, 12_100, 12_100, 12_500]
        assert session.transactions[tx].energy == 2_500
        await send(
            charger, call.StopTransaction(meter_stop=4_000, timestamp=ts(20), transaction_id=tx)
        )
    assert connector.reading(ENERGY) == 13_100
    register = connector.registers[ENERGY]
    assert (register.value, register.offset) == (13_100, 9_100)
    stopped = hooks.stopped[0][1]
    assert (stopped.energy, stopped.meter_offset) == (3_100, 9_100)


def test_hold_never_lowers_and_keeps_the_offset() -> None:
    """`hold` raises the floor (Home Assistant's last recorded value) without an offset."""
    register = EnergyRegister(10_000, T0, 500)
    assert not register.hold(9_000)
    assert register.hold(12_300)
    assert (register.value, register.offset) == (12_300, 500)
    # The charger carries on above the floor: taken as it is (no energy made up).
    assert register.update(12_000, T0 + timedelta(minutes=1))
    assert register.value == 12_500
    fresh = EnergyRegister()
    assert fresh.hold(700)
    assert fresh.update(800, T0)
    assert fresh.value == 800


async def test_available_after_a_lost_stop_ends_the_session_shown(
    make_central: CentralFactory,
) -> None:
    """A charger that rebooted mid-session and lost its StopTransaction reports Available.

    OCPP 1.6 section 7.7: Available is the state of a connector free for a new user, so the
    transaction no longer runs: live values end and it is no longer the running one (the
    charging switch turns off), while it stays open for a StopTransaction still queued in
    the charger (section 4.10), which then closes it as usual.
    """
    session, hooks, central = await start(make_central)
    async with ocpp_client(central, CBID) as charger:
        tx = await begin(charger)
        await status(charger, "Charging")
        await meter(charger, 10, CHARGING, transaction_id=tx)
        connector = session.state.connectors[1]
        assert connector.running_transaction is not None
        # The status comes without a timestamp (time of receipt): the order of arrival
        # decides, whatever the charger's clock says of the start.
        await status(charger, "Available")
        assert connector.running_transaction is None
        assert connector.transaction is not None  # still open for its StopTransaction
        assert_session_ended(connector)
        # The queued StopTransaction still closes it, with its energy.
        await send(
            charger,
            call.StopTransaction(meter_stop=5200, timestamp=ts(12), transaction_id=tx),
        )
        assert connector.transaction is None
        assert hooks.stopped[-1][1].energy == 1200


async def test_charging_after_an_idle_status_runs_the_transaction_again(
    make_central: CentralFactory,
) -> None:
    """Firmware that reports Available mid-session and then Charging: the order of the
    statuses decides, so the transaction runs again with its next Charging."""
    session, _, central = await start(make_central)
    async with ocpp_client(central, CBID) as charger:
        tx = await begin(charger)
        connector = session.state.connectors[1]
        await status(charger, "Available")
        assert connector.running_transaction is None
        await status(charger, "Charging")
        assert connector.running_transaction is not None
        assert connector.running_transaction.transaction_id == tx
