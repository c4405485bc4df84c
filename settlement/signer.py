"""The operator's signing key, read from a file (hex, one line); only this process signs with it."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

log = logging.getLogger(__name__)


def load_signer(path: Path) -> LocalAccount:
    """The account whose private key is the file's content; warns if others may read the file."""
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("signer key file %s is readable by others; chmod 600 it", path)
    key = path.read_text().strip()
    signer: LocalAccount = Account.from_key(key)
    return signer
