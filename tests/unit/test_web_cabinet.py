"""The camera gallery on disk: newest kept, nothing outside its folder."""

from services.web.gallery import Gallery
from tests.support.frames import jpeg


def test_gallery_keeps_the_newest_and_never_leaves_its_folder(tmp_path):
    gallery = Gallery(tmp_path / "camera", keep=2)
    saved = [
        gallery.save("alice", "img", jpeg(f"f{i}"), ts_ms=1_700_000_000_000 + i) for i in range(3)
    ]
    assert all(saved)
    assert gallery.save("alice", "img", jpeg("f2")) is None, "a repeat of the newest is kept once"
    assert [f["name"] for f in gallery.frames("alice", "img")] == [
        saved[2]["name"],
        saved[1]["name"],
    ]
    assert gallery.path("alice", "img", saved[0]["name"]) is None, "deleted by the retention limit"
    assert gallery.frames("bob", "img") == [], "another patient's frames are not theirs"
    assert gallery.path("bob", "img", saved[2]["name"]) is None
    assert gallery.save("alice", "..", jpeg("x")) is None and gallery.frames("alice", "..") == []
    assert gallery.save("..", "img", jpeg("x")) is None and gallery.frames("..", "img") == []
    assert gallery.path("alice", "img", "../../web.sqlite3") is None
    assert sorted(p.name for p in (tmp_path / "camera").iterdir()) == ["alice"]
