"""Who may sign a release off, and who the machine says signed.

A spec with ``audits.require_approval: true`` is exported only after a named person's sign-off
(``synthdata approve RUN --by NAME``, or the release's approve job in the Dagster UI).  The names that may
give it come from two places:

- the installation's list, ``$SYNTHDATA_HOME/approvers.yaml`` (or the file ``$SYNTHDATA_APPROVERS_FILE``
  names), kept by whoever runs the installation: ``approvers: [Dr. A. Name, ...]``;
- the spec's ``audits.approvers``, which narrows it for one release (a data owner per dataset).

With both, a name must be on both: a spec, written by whoever asks for the release, cannot widen the
installation's list.  A release that requires approval while neither names anyone is refused before it
starts (``check_configured``, exit 2): a sign-off anyone could give under any name is no control, and the
time to find that out is before the budget is spent, not when the gates have passed.

Names compare with case and runs of spaces ignored; the name recorded is the list's spelling.  Beside it the
sign-off records the operating-system account of the process that recorded it and, when the deployment sets
``$SYNTHDATA_DEPLOYMENT_USER``, that name (``operator``).  Neither proves who typed the name: the Dagster
UI has no login of its own, so a deployment puts it behind an authenticating proxy (docs/guide.md).
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from pathlib import Path

from synthdata import home
from synthdata.config import ReleaseSpec, read_yaml
from synthdata.errors import BadInputError

FILE_ENV = "SYNTHDATA_APPROVERS_FILE"
DEPLOYMENT_USER_ENV = "SYNTHDATA_DEPLOYMENT_USER"
SPEC_PLACE = "the spec's audits.approvers"


@dataclass(frozen=True)
class Approvers:
    """The names that may sign one release off and where they were configured."""

    names: tuple[str, ...]
    places: tuple[str, ...]  # "the spec's audits.approvers" and/or the installation file's path

    @property
    def where(self) -> str:
        return " and ".join(self.places) if self.places else _nowhere()

    def find(self, name: str) -> str | None:
        """The listed spelling of ``name``, or None when it is not on the list."""
        return next((listed for listed in self.names if _key(listed) == _key(name)), None)


def _key(name: str) -> str:
    return " ".join(name.split()).casefold()


def installation_file() -> Path:
    """The installation's list: ``$SYNTHDATA_APPROVERS_FILE`` when set, else ``$SYNTHDATA_HOME/approvers.yaml``."""
    named = os.environ.get(FILE_ENV)
    return Path(named).expanduser().resolve() if named else home.home() / "approvers.yaml"


def _nowhere() -> str:
    return f"{SPEC_PLACE} or {installation_file()}"


def installation_names() -> list[str] | None:
    """The installation's approvers; None when it keeps no list.  A file named by ``$SYNTHDATA_APPROVERS_FILE``
    that is missing, or a file that is not ``approvers: [names]``, is refused (a list that cannot be read
    must not read as "anyone")."""
    path = installation_file()
    if not path.is_file() and not os.environ.get(FILE_ENV):
        return None
    raw = read_yaml(path, what=f"the approvers list (${FILE_ENV})" if os.environ.get(FILE_ENV) else "the approvers list")
    names = raw.get("approvers") if isinstance(raw, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
        raise BadInputError(f"the approvers list {path} must read `approvers: [name, ...]` (one name per person)")
    return [" ".join(n.split()) for n in names]


def allowed(spec: ReleaseSpec) -> Approvers:
    """Who may sign ``spec``'s releases off: the installation's list, narrowed by the spec's (both when both)."""
    installed = installation_names()
    places = ([SPEC_PLACE] if spec.audits.approvers else []) + ([str(installation_file())] if installed is not None else [])
    if installed is None:
        return Approvers(tuple(spec.audits.approvers), tuple(places))
    if not spec.audits.approvers:
        return Approvers(tuple(installed), tuple(places))
    keys = {_key(n) for n in installed}
    return Approvers(tuple(n for n in spec.audits.approvers if _key(n) in keys), tuple(places))


def check_configured(spec: ReleaseSpec) -> None:
    """Refuse (BadInputError, before anything runs) a spec that requires approval that nobody may give."""
    if not spec.audits.require_approval:
        return
    names = allowed(spec)
    if names.names:
        return
    if names.places == (SPEC_PLACE, str(installation_file())):
        raise BadInputError(f"audits.approvers names nobody on the installation's approvers list "
                            f"({installation_file()}): nobody could sign release {spec.name} off")
    raise BadInputError(f"audits.require_approval is true but no approver is configured: name them in "
                        f"{_nowhere()} (approvers: [name, ...])")


def check(spec: ReleaseSpec, by: str) -> str:
    """The listed spelling of the approver ``by``; BadInputError (nothing written) when ``by`` is empty or not
    on the list of who may sign ``spec``'s release off."""
    by = " ".join((by or "").split())
    if not by:
        raise BadInputError("approve needs the name of the person signing off (--by NAME)")
    names = allowed(spec)
    if not names.names:
        raise BadInputError(f"no approver is configured for release {spec.name}, so '{by}' cannot sign it off: name "
                            f"the approvers in {_nowhere()}")
    found = names.find(by)
    if found is None:
        raise BadInputError(f"'{by}' is not on the approvers list of release {spec.name} ({names.where})")
    return found


def os_account() -> str:
    """The operating-system account of this process (``uid N`` in a container without a passwd entry)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def operator() -> dict[str, str | None]:
    """Who the machine says recorded a sign-off: the OS account, and the deployment's user when it names one."""
    return {"account": os_account(), "deployment_user": os.environ.get(DEPLOYMENT_USER_ENV) or None}
