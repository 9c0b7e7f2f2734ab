"""Opening a study file without naming its backend: a writer creates it, a reader only reads it."""

import pytest

from pnas.storage import StoreError, StoreReadOnly, StudyStorage, open_storage


def test_a_writer_creates_the_file_and_a_reader_reads_it_without_writing(tmp_path):
    path = tmp_path / "s.db"
    writer = open_storage(path)
    assert isinstance(writer, StudyStorage) and writer.path == path and not writer.read_only
    writer.create_study("a", {"k": 1})
    writer.close()
    reader = open_storage(str(path), read_only=True)
    assert reader.read_only and [s.name for s in reader.list_studies()] == ["a"]
    with pytest.raises(StoreReadOnly):
        reader.create_study("b", {})
    reader.close()


def test_a_reader_needs_an_existing_file(tmp_path):
    with pytest.raises(StoreError, match="no study file"):
        open_storage(tmp_path / "missing.db", read_only=True)
    assert not (tmp_path / "missing.db").exists()


def test_no_path_is_a_store_in_memory():
    store = open_storage(None)
    assert store.path is None
    store.create_study("a", {})
    assert [s.name for s in store.list_studies()] == ["a"]
    store.close()
