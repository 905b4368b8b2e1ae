"""Constants of the OCPP Central System integration: domain, config keys and defaults."""

from typing import Final

from .protocol.smart_charging import MIN_CURRENT

DOMAIN: Final = "ocpp_central"

# Config entry (the central system).
CONF_HOST: Final = "host"
CONF_PORT: Final = "port"
CONF_SSL_CERTFILE: Final = "ssl_certfile"
CONF_SSL_KEYFILE: Final = "ssl_keyfile"
DEFAULT_HOST: Final = "0.0.0.0"
DEFAULT_PORT: Final = 9000

# Options of the central system.
CONF_UNKNOWN_CHARGERS: Final = "unknown_chargers"
UNKNOWN_CHARGERS_REJECT: Final = "reject"
UNKNOWN_CHARGERS_OFFER: Final = "offer"
CONF_UNKNOWN_TAGS: Final = "unknown_tags"
UNKNOWN_TAGS_ACCEPT: Final = "accept"
UNKNOWN_TAGS_REJECT: Final = "reject"
DEFAULT_UNKNOWN_CHARGERS: Final = UNKNOWN_CHARGERS_OFFER
DEFAULT_UNKNOWN_TAGS: Final = UNKNOWN_TAGS_REJECT

# Subentry types.
SUBENTRY_CHARGER: Final = "charger"
SUBENTRY_ID_TAG: Final = "id_tag"
SUBENTRY_CIRCUIT: Final = "circuit"

# Charger subentry fields.
CONF_CHARGE_BOX_ID: Final = "charge_box_id"
CONF_PASSWORD: Final = "password"
CONF_HEARTBEAT_INTERVAL: Final = "heartbeat_interval"
CONF_METER_INTERVAL: Final = "meter_interval"
CONF_MAX_CURRENT: Final = "max_current"
CONF_LENIENT: Final = "lenient"
# Load management: connectors of a higher priority are served first on their circuit.
CONF_PRIORITY: Final = "priority"
DEFAULT_PRIORITY: Final = 0
MAX_PRIORITY: Final = 10
DEFAULT_HEARTBEAT_INTERVAL: Final = 300
DEFAULT_METER_INTERVAL: Final = 30
DEFAULT_MAX_CURRENT: Final = 32
MAX_CHARGE_BOX_ID_LENGTH: Final = 48

# Id-tag subentry fields.
CONF_ID_TAG: Final = "id_tag"
CONF_NAME: Final = "name"
CONF_STATUS: Final = "status"
CONF_EXPIRY: Final = "expiry"
TAG_STATUS_ACCEPTED: Final = "accepted"
TAG_STATUS_BLOCKED: Final = "blocked"
MAX_ID_TAG_LENGTH: Final = 20

# Remote starts from Home Assistant present this id tag; our authorisation always accepts it.
DEFAULT_REMOTE_ID_TAG: Final = "HomeAssistant"

# Limits of the charger and id-tag forms.
MIN_HEARTBEAT_INTERVAL: Final = 10
MAX_HEARTBEAT_INTERVAL: Final = 86400
MAX_METER_INTERVAL: Final = 3600
MIN_MAX_CURRENT: Final = int(MIN_CURRENT)  # a maximum below it could never charge
MAX_MAX_CURRENT: Final = 80
# Security whitepaper 7.2 AuthorizationKey: 16 bytes at least, 20 bytes as 40 hex digits at most.
MIN_PASSWORD_BYTES: Final = 16
MAX_PASSWORD_BYTES: Final = 40
# Charger reconfigure form: tick to remove the stored password.
CONF_CLEAR_PASSWORD: Final = "clear_password"

# Data of the integration_discovery flow the runtime starts when an unknown charger knocks.
DISCOVERY_CHARGE_BOX_ID: Final = CONF_CHARGE_BOX_ID
DISCOVERY_ENTRY_ID: Final = "entry_id"
# Optional id-tag field: the tag's group, IdTagInfo.parentIdTag (OCPP 1.6 3.10 and 7.27).
CONF_PARENT_ID_TAG: Final = "parent_id_tag"

# Circuit subentry fields (load management).
CONF_CIRCUIT_MAX_CURRENT: Final = "max_current"  # A per phase of the supply
CONF_CHARGERS: Final = "chargers"  # charge box ids on the circuit
CONF_CURRENT_L1_ENTITY: Final = "current_l1_entity"
CONF_CURRENT_L2_ENTITY: Final = "current_l2_entity"
CONF_CURRENT_L3_ENTITY: Final = "current_l3_entity"
CIRCUIT_CURRENT_KEYS: Final = (
    CONF_CURRENT_L1_ENTITY,
    CONF_CURRENT_L2_ENTITY,
    CONF_CURRENT_L3_ENTITY,
)
CONF_CIRCUIT_POWER_ENTITY: Final = "power_entity"  # the house meter's power, import positive
CONF_FALLBACK_CURRENT: Final = "fallback_current"  # A per phase while the meter has no value
DEFAULT_CIRCUIT_MAX_CURRENT: Final = 25
MAX_CIRCUIT_CURRENT: Final = 630

# Charger subentry: the collapsible section forwarding the charger to an upstream central
# system ("Keep your backend", protocol/upstream.py), stored as a dict under its key.
CONF_UPSTREAM: Final = "upstream"
CONF_UPSTREAM_URL: Final = "url"
CONF_UPSTREAM_MODE: Final = "mode"
UPSTREAM_MODE_FULL: Final = "full"
UPSTREAM_MODE_OBSERVE: Final = "observe"
