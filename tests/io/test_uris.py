from curator.io.uris import stat_fingerprints


def test_fingerprints_change_with_the_file_for_paths_and_urls(tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"x" * 10)
    b.write_bytes(b"y" * 3)
    local = stat_fingerprints([str(a), str(b), str(tmp_path / "gone")])
    urls = stat_fingerprints([f"file://{a}", f"file://{b}", f"file://{tmp_path}/gone"])
    assert (
        [f.split(":")[0] for f in local[:2]] == ["10", "3"] == [f.split(":")[0] for f in urls[:2]]
    )
    assert local[2] == urls[2] == "missing"
    a.write_bytes(b"x" * 11)
    assert stat_fingerprints([str(a)])[0] != local[0]
    assert stat_fingerprints([f"file://{a}"])[0] != urls[0]
