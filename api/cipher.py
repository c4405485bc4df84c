"""Encryption at rest for API secrets: Fernet, with its key in one file in the data directory.

The key file is created once, readable and writable by its owner only (0600), and atomically:
written under a temporary name and hard-linked into place, so two processes starting together
agree on one key. A key file that group or others may read is refused rather than used. Losing the
file makes every stored HMAC secret unreadable (their keys must then be issued again); Ed25519 keys
are unaffected, since only their public half is stored.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet

KEY_FILE_NAME = "api-secrets.key"


class SecretCipher:
    """Encrypts and decrypts API secrets; never shows its key."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> SecretCipher:
        """The cipher whose key lives in ``data_dir``, the key file created (0600) when missing."""
        path = Path(data_dir) / KEY_FILE_NAME
        if not path.exists():
            _create_key_file(path)
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise PermissionError(f"{path} is readable by others (mode {mode:o}); make it 0600")
        return cls(path.read_bytes().strip())

    def encrypt(self, secret: bytes) -> bytes:
        return self._fernet.encrypt(secret)

    def decrypt(self, token: bytes) -> bytes:
        """The secret; ``cryptography.fernet.InvalidToken`` when encrypted under another key."""
        return self._fernet.decrypt(token)

    def __repr__(self) -> str:
        return "SecretCipher(<key hidden>)"


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # created 0600
    temporary = Path(name)
    try:
        os.fchmod(descriptor, 0o600)
        os.write(descriptor, Fernet.generate_key() + b"\n")
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass  # another process created it first: use theirs
    finally:
        temporary.unlink()
