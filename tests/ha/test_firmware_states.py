"""The firmware status sensor shows every status a charger may send.

FirmwareStatusNotification (OCPP 1.6 section 4.5, statuses section 7.25) and the security
whitepaper's SignedFirmwareStatusNotification (its section 4.2.1, with DownloadScheduled,
InvalidSignature, SignatureVerified, ...) both set it; the sensor's options come from the
one vocabulary, so no status falls through as unknown.
"""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant

from .conftest import CHARGER, HarnessFactory


async def test_plain_and_signed_firmware_statuses_show(
    hass: HomeAssistant, make_harness: HarnessFactory
) -> None:
    h = await make_harness([Platform.SENSOR])
    await h.boot(connectors=1)
    unique_id = f"{CHARGER}_firmware_status"

    await h.send("FirmwareStatusNotification", {"status": "Downloading"})
    await hass.async_block_till_done()
    assert h.state("sensor", unique_id) == "downloading"

    for status, shown in (
        ("DownloadScheduled", "download_scheduled"),
        ("SignatureVerified", "signature_verified"),
        ("InstallRebooting", "install_rebooting"),
        ("InvalidSignature", "invalid_signature"),
    ):
        await h.send("SignedFirmwareStatusNotification", {"status": status, "requestId": 7})
        await hass.async_block_till_done()
        assert h.state("sensor", unique_id) == shown
