"""The storage that holds uploaded files: the `uploads` alias of STORAGES (var/uploads/ unless configured)."""
from django.core.files.storage import Storage, storages


def upload_storage() -> Storage:
    return storages["uploads"]
