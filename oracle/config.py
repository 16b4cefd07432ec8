"""One configuration file for a node: TOML, overridden by environment variables, overridden by flags.

``oracle --config /etc/oracle/oracle.toml run`` (or ``ORACLE_CONFIG=...``) reads a file like
``oracle/deploy/oracle.example.toml``. Every option of every sub-command can be given three ways;
the first that is present wins:

1. the command-line flag (``--rpc http://...``);
2. the environment variable ``ORACLE_<DEST>`` (``ORACLE_RPC``, ``ORACLE_KEYSTORE``, ``ORACLE_PORT``),
   where ``<DEST>`` is the flag's name upper-cased with ``-`` as ``_``;
3. the file: a key in the table named after the sub-command (``[serve]``, ``[run]``) or in one of
   the shared tables ``[chain]``, ``[keys]``, ``[log]`` (shared keys apply to every command that has
   the option; a command's own table wins over them).

A key that no command knows is an error naming the keys that table accepts, so a typo never goes
unnoticed; a value of the wrong type is an error naming the key and the type wanted. Values from
the environment are strings and go through the option's own ``type`` (so ``ORACLE_PORT=8600``
becomes an int and ``ORACLE_PORT=x`` is refused like ``--port x``).
"""

from __future__ import annotations

import argparse
import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oracle.errors import OracleError

SHARED_TABLES = ("chain", "keys", "log")
ENV_PREFIX = "ORACLE_"
ENV_NAMES = {"rpc": "ORACLE_RPC_URL", "keystore_dir": "ORACLE_KEYSTORE"}
"""Options whose variable is not ``ORACLE_<DEST>`` (names documented before this module existed)."""
CONFIG_ENV = "ORACLE_CONFIG"


class ConfigError(OracleError):
    """The configuration file or an ``ORACLE_*`` variable is wrong; the message says which and how."""

    exit_code = 2


@dataclass
class Config:
    """A parsed file: ``tables[name] = {key: value}`` (keys with ``-`` written as ``_``)."""

    path: Path | None = None
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)

    def values_for(self, command: str) -> dict[str, Any]:
        """The file's values for ``command``: shared tables first, the command's own table over them."""
        merged: dict[str, Any] = {}
        for name in (*SHARED_TABLES, command):
            merged.update(self.tables.get(name, {}))
        return merged


def load(path: str | os.PathLike | None) -> Config:
    """Read ``path`` (``None``: an empty configuration)."""
    if path is None:
        return Config()
    file = Path(path).expanduser()
    try:
        data = tomllib.loads(file.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"config file {file} does not exist; copy oracle/deploy/oracle.example.toml there"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {file} is not valid TOML: {exc}") from None
    tables: dict[str, dict[str, Any]] = {}
    for name, table in data.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{file}: `{name} = ...` must be inside a table such as [chain] or [{name}]")
        tables[name] = {key.replace("-", "_"): value for key, value in table.items()}
    return Config(file, tables)


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {
        action.dest: action
        for action in parser._actions
        if action.option_strings and action.dest not in ("help", "json", "debug", "config")
    }


def _coerce(action: argparse.Action, value: Any, where: str) -> Any:
    """A file or environment value checked and converted the way the flag's own parser would."""
    if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off", ""):
                return False
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    if isinstance(value, bool | dict | list):
        raise ConfigError(f"{where} must be a single value, got {value!r}")
    text = value if isinstance(value, str) else str(value)
    try:
        converted = action.type(text) if action.type is not None else text
    except (TypeError, ValueError, argparse.ArgumentTypeError) as exc:
        raise ConfigError(f"{where}: {exc or f'invalid value {value!r}'}") from None
    if action.choices is not None and converted not in action.choices:
        choices = ", ".join(map(str, action.choices))
        raise ConfigError(f"{where} must be one of {choices}, got {value!r}")
    return converted


def check_tables(config: Config, commands: Mapping[str, argparse.ArgumentParser]) -> None:
    """Refuse a table no command has and a key that its table's command(s) do not accept."""
    for name, table in config.tables.items():
        if name in SHARED_TABLES:
            known = set().union(*(_options(p) for p in commands.values()))
        elif name in commands:
            known = set(_options(commands[name]))
        else:
            tables = ", ".join([*SHARED_TABLES, *sorted(commands)])
            raise ConfigError(f"{config.path}: unknown table [{name}]; tables are {tables}")
        for key in table:
            if key not in known:
                hint = difflib.get_close_matches(key, known, n=1)
                maybe = f" (did you mean `{hint[0]}`?)" if hint else ""
                raise ConfigError(f"{config.path}: [{name}] has no key `{key}`{maybe}")


def env_name_of(dest: str) -> str:
    """The environment variable of option ``dest``: ``ORACLE_<DEST>`` unless :data:`ENV_NAMES` says."""
    return ENV_NAMES.get(dest, ENV_PREFIX + dest.upper())


def sub_parsers(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    """Every (top-level command, parser) pair below ``parser``, nested actions included
    (``keys new`` is listed under ``keys``)."""
    found: list[tuple[str, argparse.ArgumentParser]] = []

    def walk(p: argparse.ArgumentParser, top: str | None) -> None:
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    command = top or name
                    found.append((command, child))
                    walk(child, command)

    walk(parser, None)
    return found


def configure(
    parser: argparse.ArgumentParser, config: Config, environ: Mapping[str, str] = os.environ
) -> None:
    """Check ``config`` against the commands of ``parser`` and apply file + environment defaults to
    every sub-command's parser."""
    pairs = sub_parsers(parser)
    by_command: dict[str, argparse.ArgumentParser] = {}
    for command, child in pairs:  # one merged view of each top-level command's options
        merged = by_command.setdefault(command, argparse.ArgumentParser(add_help=False))
        merged._actions.extend(child._actions)
    check_tables(config, by_command)
    for command, child in pairs:
        apply_defaults(child, command, config, environ)


def apply_defaults(
    parser: argparse.ArgumentParser, command: str, config: Config, environ: Mapping[str, str] = os.environ
) -> None:
    """Make file and environment values the defaults of ``parser`` (the ``command`` sub-parser), so
    flags given on the command line still win."""
    file_values = config.values_for(command)
    defaults = {}
    for dest, action in _options(parser).items():
        if action.default is argparse.SUPPRESS:  # defers to the same option one level up
            continue
        env_name = env_name_of(dest)
        if env_name in environ:
            defaults[dest] = _coerce(action, environ[env_name], f"environment variable {env_name}")
        elif dest in file_values:
            where = f"{config.path}: `{dest}`"
            defaults[dest] = _coerce(action, file_values[dest], where)
    if defaults:
        parser.set_defaults(**defaults)
        for action in parser._actions:  # a default now given satisfies a required option
            if action.dest in defaults:
                action.required = False
