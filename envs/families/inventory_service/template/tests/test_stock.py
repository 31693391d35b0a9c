import pytest

from @@pkg@@.stock import @@Book@@, InsufficientStock, NotFound


def test_receive_hold_and_available():
    book = @@Book@@()
    assert book.receive("AMS1", "TLS-1001", 10) == 10
    book.hold("AMS1", "TLS-1001", 4)
    assert book.available("AMS1", "TLS-1001") == 6
    with pytest.raises(InsufficientStock):
        book.hold("AMS1", "TLS-1001", 7)
    book.unhold("AMS1", "TLS-1001", 4)
    assert book.level("AMS1", "TLS-1001").available == 10


def test_set_on_hand_never_below_reserved():
    book = @@Book@@()
    book.receive("AMS1", "TLS-1001", 10)
    book.hold("AMS1", "TLS-1001", 3)
    assert book.set_on_hand("AMS1", "TLS-1001", 8) == -2
    with pytest.raises(InsufficientStock):
        book.set_on_hand("AMS1", "TLS-1001", 2)


def test_bad_inputs():
    book = @@Book@@()
    with pytest.raises(NotFound):
        book.receive("XXX9", "TLS-1001", 1)
    with pytest.raises(TypeError):
        book.receive("AMS1", "TLS-1001", 1.5)
    with pytest.raises(ValueError):
        book.receive("AMS1", "TLS-1001", 0)


def test_save_and_load(tmp_path):
    book = @@Book@@()
    book.receive("AMS1", "TLS-1001", 10)
    book.hold("AMS1", "TLS-1001", 2)
    book.save(tmp_path / "levels.json")
    again = @@Book@@.load(tmp_path / "levels.json")
    assert again.levels() == book.levels()
