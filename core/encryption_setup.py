"""Development-only: a Fernet key generated once under var/, with a warning."""
import logging
from pathlib import Path

from cryptography.fernet import Fernet

logger = logging.getLogger("parley.encryption")


def development_encryption_keys(var_dir: Path) -> list[str]:
    key_file = var_dir / "encryption.key"
    if not key_file.exists():
        key_file.write_text(Fernet.generate_key().decode() + "\n")
        key_file.chmod(0o600)
        logger.warning(
            "PARLEY_ENCRYPTION_KEYS is not set: generated a development key in %s. "
            "Set PARLEY_ENCRYPTION_KEYS in production.",
            key_file,
        )
    return [key_file.read_text().strip()]
