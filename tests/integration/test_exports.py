"""libgotrace.so exports nothing but the names listed in preload/gotrace.map
(every other symbol is hidden), and every listed name is defined."""
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gttest as gt  # noqa: E402

MAP = gt.REPO / "preload" / "gotrace.map"


def map_globals(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"#[^\n]*", "", text)
    m = re.search(r"global\s*:(.*?)(?:local\s*:|\})", text, flags=re.S)
    assert m, f"{MAP}: no global: section"
    names = {n.strip() for n in m.group(1).split(";") if n.strip()}
    assert names and all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n) for n in names), names
    return names


def exported(lib):
    r = subprocess.run(["nm", "-D", "--defined-only", str(lib)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    names = set()
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            names.add(parts[-1].split("@")[0])
    return names


class Exports(unittest.TestCase):
    def test_map_parses(self):
        self.assertIn("pthread_create", map_globals(MAP.read_text()))

    def test_only_listed_names_exported(self):
        extra = exported(gt.LIB) - map_globals(MAP.read_text())
        self.assertEqual(sorted(extra), [], "exported but not in preload/gotrace.map")

    def test_every_listed_name_defined(self):
        missing = map_globals(MAP.read_text()) - exported(gt.LIB)
        self.assertEqual(sorted(missing), [], "listed in gotrace.map but not defined")


if __name__ == "__main__":
    unittest.main()
