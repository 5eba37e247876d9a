"""Declared connector properties and their validation, modelled on Kafka Connect's ``ConfigDef``.

A connector declares its properties once::

    CONFIG = ConfigDef().define(
        "connection.uri", "STRING", importance="HIGH", documentation="MongoDB URI",
        validator=NonEmptyString(),
    ).define("batch.size", "INT", default=0, validator=Range(at_least=0))

``CONFIG.parse(props)`` turns Connect's string properties into typed values (raising
:class:`~telemetry_lib.connectors.errors.ConnectorConfigError` naming the first bad property);
``CONFIG.validate(props)`` never raises and yields one :class:`ConfigValue` per property with
Connect's error wording — the worker returns them from
``PUT /connector-plugins/{class}/config/validate`` and names the first one in a 400 on
``POST /connectors``. Values arrive as strings (Connect's REST API takes ``Map<String,String>``;
JSON numbers and booleans are accepted and stringified as Jackson does).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from telemetry_lib.connectors.errors import ConnectorConfigError

__all__ = [
    "HIDDEN",
    "NO_DEFAULT",
    "CaseInsensitiveValidString",
    "ConfigDef",
    "ConfigKey",
    "ConfigType",
    "ConfigValue",
    "Importance",
    "NonEmptyString",
    "Range",
    "ValidList",
    "ValidString",
    "Validator",
    "Width",
    "config_string",
    "parse_type",
]

logger = logging.getLogger(__name__)

ConfigType = Literal[
    "BOOLEAN", "STRING", "INT", "SHORT", "LONG", "DOUBLE", "LIST", "CLASS", "PASSWORD"
]
Importance = Literal["HIGH", "MEDIUM", "LOW"]
Width = Literal["NONE", "SHORT", "MEDIUM", "LONG"]
#: A validator gets the property name and its parsed value and raises ConnectorConfigError.
Validator = Callable[[str, Any], None]

#: How Connect shows a password value in responses.
HIDDEN = "[hidden]"

# Java's integer ranges: Connect rejects INT/SHORT/LONG values outside them.
_INT_BOUNDS: dict[str, tuple[int, int]] = {
    "SHORT": (-(2**15), 2**15 - 1),
    "INT": (-(2**31), 2**31 - 1),
    "LONG": (-(2**63), 2**63 - 1),
}


class _NoDefault:
    """Marker: the property is required (Connect's ``ConfigDef.NO_DEFAULT_VALUE``)."""

    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()


@dataclass(frozen=True)
class ConfigKey:
    """One declared property (Connect's ``ConfigDef.ConfigKey``)."""

    name: str
    type: ConfigType
    default: Any = NO_DEFAULT
    validator: Validator | None = None
    importance: Importance = "MEDIUM"
    documentation: str = ""
    group: str | None = None
    order: int = -1
    width: Width = "NONE"
    display_name: str = ""
    dependents: tuple[str, ...] = ()
    recommended_values: tuple[str, ...] = ()

    @property
    def required(self) -> bool:
        return self.default is NO_DEFAULT

    def definition(self) -> dict[str, Any]:
        """The ``definition`` object of Connect's validation response."""
        return {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "default_value": None if self.required else config_string(self.default, self.type),
            "importance": self.importance,
            "documentation": self.documentation,
            "group": self.group,
            "width": self.width,
            "display_name": self.display_name or self.name,
            "dependents": list(self.dependents),
            "order": self.order,
        }


@dataclass(frozen=True)
class ConfigValue:
    """The validation result of one property (Connect's ``ConfigValue``)."""

    name: str
    value: str | None
    errors: tuple[str, ...] = ()
    recommended_values: tuple[str, ...] = ()
    visible: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "recommended_values": list(self.recommended_values),
            "errors": list(self.errors),
            "visible": self.visible,
        }


@dataclass(frozen=True)
class ConfigDef:
    """An ordered set of :class:`ConfigKey`; ``define`` returns a new ConfigDef (immutable)."""

    keys: tuple[ConfigKey, ...] = ()
    _index: dict[str, ConfigKey] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._index.clear()
        for key in self.keys:
            self._index[key.name] = key

    def define(
        self,
        name: str,
        type: ConfigType,
        *,
        default: Any = NO_DEFAULT,
        validator: Validator | None = None,
        importance: Importance = "MEDIUM",
        documentation: str = "",
        group: str | None = None,
        order: int = -1,
        width: Width = "NONE",
        display_name: str = "",
        dependents: Sequence[str] = (),
        recommended_values: Sequence[str] = (),
    ) -> ConfigDef:
        """A new ConfigDef with ``name`` added (Connect raises on a duplicate name; so do we)."""
        if name in self._index:
            raise ValueError(f"Configuration {name} is defined twice.")
        if default is not NO_DEFAULT and default is not None and isinstance(default, str):
            default = parse_type(name, default, type)
        key = ConfigKey(name, type, default, validator, importance, documentation, group, order,
                        width, display_name, tuple(dependents), tuple(recommended_values))  # fmt: skip
        return ConfigDef((*self.keys, key))

    def merge(self, other: ConfigDef) -> ConfigDef:
        """This ConfigDef followed by ``other``'s keys that are not already defined here."""
        return ConfigDef((*self.keys, *(k for k in other.keys if k.name not in self._index)))

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __iter__(self) -> Iterator[ConfigKey]:
        return iter(self.keys)

    def __getitem__(self, name: str) -> ConfigKey:
        return self._index[name]

    def names(self) -> list[str]:
        return [key.name for key in self.keys]

    def groups(self) -> list[str]:
        """Group names in first-seen order (the ``groups`` list of the validation response)."""
        seen: list[str] = []
        for key in self.keys:
            if key.group and key.group not in seen:
                seen.append(key.group)
        return seen

    def parse(self, props: Mapping[str, Any]) -> dict[str, Any]:
        """Typed values of every declared property (defaults filled in); unknown ones are kept
        as given. Raises :class:`ConnectorConfigError` for the first invalid property."""
        out: dict[str, Any] = {
            name: value for name, value in props.items() if name not in self._index
        }
        for key in self.keys:
            out[key.name] = _parse_key(key, props)
        return out

    def validate(self, props: Mapping[str, Any]) -> list[ConfigValue]:
        """One :class:`ConfigValue` per declared property, errors in Connect's wording."""
        results = []
        for key in self.keys:
            raw = props.get(key.name)
            shown = _shown(key, raw)
            try:
                _parse_key(key, props)
            except ConnectorConfigError as exc:
                results.append(ConfigValue(key.name, shown, (exc.message,), key.recommended_values))
            else:
                results.append(ConfigValue(key.name, shown, (), key.recommended_values))
        return results


def parse_type(name: str, value: Any, type: ConfigType) -> Any:
    """Connect's ``ConfigDef.parseType``: a string (or JSON scalar) to the declared type."""
    if value is None:
        return None
    if type == "BOOLEAN":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "false"):
            return text == "true"
        raise ConnectorConfigError(name, value, "Expected value to be either true or false")
    if type in ("STRING", "CLASS", "PASSWORD"):
        return value.strip() if isinstance(value, str) and type == "CLASS" else _as_str(value)
    if type in _INT_BOUNDS:
        try:
            number = int(str(value).strip()) if not isinstance(value, bool) else None
        except ValueError:
            number = None
        low, high = _INT_BOUNDS[type]
        if number is None or not low <= number <= high:
            raise ConnectorConfigError(name, value, f"Not a number of type {type}")
        return number
    if type == "DOUBLE":
        try:
            return float(str(value).strip())
        except ValueError:
            raise ConnectorConfigError(name, value, "Not a number of type DOUBLE") from None
    if type == "LIST":
        if isinstance(value, list):
            return [str(item).strip() for item in value]
        text = str(value).strip()
        return [] if not text else [item.strip() for item in text.split(",")]
    raise ConnectorConfigError(name, value, f"Unknown type {type}")


def config_string(value: Any, type: ConfigType) -> str | None:
    """A typed value back as Connect shows it (lists comma-joined, booleans lower case)."""
    if value is None or value is NO_DEFAULT:
        return None
    if type == "PASSWORD":
        return HIDDEN
    if type == "BOOLEAN":
        return "true" if value else "false"
    if type == "LIST":
        return ",".join(str(item) for item in value)
    return str(value)


@dataclass(frozen=True)
class Range:
    """Connect's ``Range.atLeast`` / ``Range.between`` (bounds inclusive)."""

    at_least: float | None = None
    at_most: float | None = None

    def __call__(self, name: str, value: Any) -> None:
        if value is None:
            return
        if self.at_least is not None and value < self.at_least:
            raise ConnectorConfigError(name, value, f"Value must be at least {_num(self.at_least)}")
        if self.at_most is not None and value > self.at_most:
            raise ConnectorConfigError(
                name, value, f"Value must be no more than {_num(self.at_most)}"
            )


@dataclass(frozen=True)
class ValidString:
    """Connect's ``ValidString.in(...)``: the value must be one of ``allowed``."""

    allowed: tuple[str, ...]

    def __call__(self, name: str, value: Any) -> None:
        if value not in self.allowed:
            raise ConnectorConfigError(
                name, value, f"String must be one of: {', '.join(self.allowed)}"
            )


@dataclass(frozen=True)
class CaseInsensitiveValidString:
    """Connect's ``CaseInsensitiveValidString.in(...)``."""

    allowed: tuple[str, ...]

    def __call__(self, name: str, value: Any) -> None:
        if value is None or str(value).lower() not in {a.lower() for a in self.allowed}:
            raise ConnectorConfigError(
                name, value, f"String must be one of (case insensitive): {', '.join(self.allowed)}"
            )


@dataclass(frozen=True)
class ValidList:
    """Connect's ``ValidList.in(...)``: every item must be one of ``allowed``."""

    allowed: tuple[str, ...]

    def __call__(self, name: str, value: Any) -> None:
        for item in value or ():
            if item not in self.allowed:
                raise ConnectorConfigError(
                    name, item, f"String must be one of: {', '.join(self.allowed)}"
                )


@dataclass(frozen=True)
class NonEmptyString:
    """Connect's ``NonEmptyString``."""

    def __call__(self, name: str, value: Any) -> None:
        if value is not None and not str(value).strip():
            raise ConnectorConfigError(name, value, "String must be non-empty")


def _parse_key(key: ConfigKey, props: Mapping[str, Any]) -> Any:
    if key.name in props:
        value = parse_type(key.name, props[key.name], key.type)
    elif key.required:
        raise ConnectorConfigError(
            key.name,
            None,
            f'Missing required configuration "{key.name}" which has no default value.',
        )
    else:
        value = key.default
    if key.validator is not None:
        key.validator(key.name, value)
    return value


def _shown(key: ConfigKey, raw: Any) -> str | None:
    if raw is None:
        return None if key.required else config_string(key.default, key.type)
    if key.type == "PASSWORD":
        return HIDDEN
    return _as_str(raw)


def _as_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _num(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else str(bound)
