"""Command line: run one simulated charge point against a central system until Ctrl-C.

    python -m simulator --url ws://127.0.0.1:9000 --id CP-1 --auto-charge TAG

With --auto-charge a car arrives and presents the tag every --tag-every seconds (every three
minutes by default, as the demo promises): a refused tag leaves at once; an accepted one
charges (meter values every --meter-interval seconds) until full, --session-minutes or a
remote stop, then the car leaves until the next presentation.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
import contextlib
import logging
import random

from .charger import CONNECT_ERRORS, SimulatedCharger
from .model import Vehicle
from .state import NotConnectedError, TransactionRefused

LOG = logging.getLogger("simulator")

# How often the --auto-charge car presents its tag, in seconds: "every few minutes", so that
# someone trying the demo sees the refusal, adds the tag and sees a session within minutes.
DEFAULT_TAG_EVERY = 180.0
# How long an --auto-charge session lasts at most, in minutes: shorter than the time between
# two presentations, so that each presentation finds the connector free.
DEFAULT_SESSION_MINUTES = 2.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="simulator", description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--url", default="ws://127.0.0.1:9000", help="central system URL (the id is appended)")
    add("--id", default="CP-1", dest="charge_box_id", help="chargeBoxId")
    add("--password", help="HTTP Basic password (user name = chargeBoxId)")
    add("--ca-file", help="CA certificate to verify a wss:// server")
    add("--insecure", action="store_true", help="do not verify the wss:// certificate")
    add("--connectors", type=int, default=1)
    add("--meter-interval", type=int, default=10, help="seconds; 0 = only when asked")
    add("--no-heartbeat", action="store_true", help="never send Heartbeat on its own")
    add("--auto-charge", metavar="TAG", help="present this id tag and charge, in a loop")
    add(
        "--tag-every",
        type=float,
        default=DEFAULT_TAG_EVERY,
        help="seconds from one --auto-charge presentation of the tag to the next",
    )
    add(
        "--session-minutes",
        type=float,
        default=DEFAULT_SESSION_MINUTES,
        help="longest --auto-charge session",
    )
    add("--rate-unit", choices=("A", "W", "AW"), default="AW", help="accepted charging rate units")
    add("--refuse-tx-default", action="store_true", help="refuse TxDefaultProfile")
    add("--max-stack-level", type=int, default=8)
    add("--max-profiles", type=int, default=16)
    add("--max-current", type=float, default=32.0, help="A per phase")
    add("--phases", type=int, choices=(1, 2, 3), default=3)
    add("--voltage", type=float, default=230.0)
    add("--energy", type=float, default=0.0, help="energy register at start, Wh")
    add("--vendor", default="OpenSim")
    add("--model", default="SimWallbox")
    add("-v", "--verbose", action="store_true", help="log every OCPP frame")
    return parser.parse_args(argv)


def build(args: argparse.Namespace) -> SimulatedCharger:
    return SimulatedCharger(
        args.url,
        args.charge_box_id,
        password=args.password,
        ca_file=args.ca_file,
        verify_tls=not args.insecure,
        connectors=args.connectors,
        meter_interval=args.meter_interval,
        heartbeat=not args.no_heartbeat,
        rate_unit=args.rate_unit,
        refuse_tx_default=args.refuse_tx_default,
        max_stack_level=args.max_stack_level,
        max_profiles=args.max_profiles,
        max_current=args.max_current,
        phases=args.phases,
        voltage=args.voltage,
        noise=1.5,
        energy_wh=args.energy,
        vendor=args.vendor,
        model=args.model,
        reconnect=True,
        vehicle=lambda: Vehicle(soc=random.uniform(10, 60)),
    )


async def connect_with_retries(charger: SimulatedCharger) -> None:
    """Connect, retrying (up to 30 s apart) until the central system admits the charger."""
    delay = 1.0
    while True:
        try:
            await charger.connect()
        except CONNECT_ERRORS as error:
            LOG.warning(
                "%s: cannot connect (%s); retrying in %.0f s", charger.charge_box_id, error, delay
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
        else:
            return


type Sleep = Callable[[float], Awaitable[None]]


async def auto_charge(
    charger: SimulatedCharger,
    connector_id: int,
    id_tag: str,
    *,
    tag_every: float = DEFAULT_TAG_EVERY,
    session_seconds: float = DEFAULT_SESSION_MINUTES * 60,
    sleep: Sleep = asyncio.sleep,
) -> None:
    """Present id_tag on one connector every tag_every seconds, forever.

    Each time, a car plugs in and the tag is presented (Authorize, OCPP 1.6 section 4.1).
    A refused tag unplugs at once; an accepted one starts a transaction (section 4.8) that
    lasts until the car is full, session_seconds have passed or it is stopped remotely,
    then the car unplugs. The next presentation follows tag_every seconds after the last
    (at once after a longer session); while the connector is busy with a session started
    otherwise (a remote start), nothing is presented. Time is the charger's clock, waiting
    is `sleep`: a test steps both.
    """
    while True:
        await charger.wait_until(lambda: charger.connected, seconds=None)
        presented = charger.clock.now()
        await _present_tag(charger, connector_id, id_tag, session_seconds, sleep)
        spent = (charger.clock.now() - presented).total_seconds()
        await sleep(max(tag_every - spent, 0.0))


async def _present_tag(
    charger: SimulatedCharger, connector_id: int, id_tag: str, session_seconds: float, sleep: Sleep
) -> None:
    """Plug in, present the tag, charge when it is accepted, unplug; log what went wrong."""
    connector = charger.connector(connector_id)
    try:
        await charger.start_transaction(connector_id, id_tag)
        started = charger.clock.now()
        while connector.transaction is not None:
            full = connector.soc is not None and connector.soc >= 100
            if full or (charger.clock.now() - started).total_seconds() >= session_seconds:
                await charger.stop_transaction(connector_id, "Local")
                break
            await sleep(1)
            await charger.tick()
        if connector.plugged:
            await charger.unplug(connector_id)
    except TransactionRefused as refused:
        LOG.warning(
            "%s: connector %s refused: %s", charger.charge_box_id, connector_id, refused.status
        )
        if connector.plugged and connector.transaction is None:
            await charger.unplug(connector_id)
    except NotConnectedError:
        LOG.warning("%s: offline during a session", charger.charge_box_id)
    except TimeoutError:
        LOG.warning("%s: the central system did not answer in time", charger.charge_box_id)


async def run(args: argparse.Namespace) -> None:
    charger = build(args)
    try:
        await connect_with_retries(charger)
        if args.auto_charge:
            await asyncio.gather(
                *(
                    auto_charge(
                        charger,
                        n,
                        args.auto_charge,
                        tag_every=args.tag_every,
                        session_seconds=args.session_minutes * 60,
                    )
                    for n in charger.connectors
                )
            )
        else:
            await asyncio.Event().wait()
    finally:
        await charger.close()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("simulator.frames").setLevel(
        logging.INFO if args.verbose else logging.WARNING
    )
    logging.getLogger("websockets").setLevel(logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
