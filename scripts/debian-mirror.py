#!/usr/bin/env python3
"""Prints the URI and keyring of the machine's configured Debian archive (its bookworm
'main' entry), one per line, so that scripts fetch other suites or source packages from
the same mirror without naming any host themselves."""
import glob, re, sys

def stanzas():
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        for block in re.split(r"\n\s*\n", open(path).read()):
            fields = {}
            for line in block.splitlines():
                if ":" in line and not line.lstrip().startswith("#"):
                    k, v = line.split(":", 1)
                    fields[k.strip()] = v.strip()
            yield fields
    for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
        try:
            lines = open(path).read().splitlines()
        except OSError:
            continue
        for line in lines:
            m = re.match(r"\s*deb\s+(\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.*)", line)
            if m:
                options = m.group(1) or ""
                key = re.search(r"signed-by=(\S+?)[\] ]", options)
                yield {"Types": "deb", "URIs": m.group(2), "Suites": m.group(3), "Components": m.group(4),
                       "Signed-By": key.group(1) if key else ""}

for f in stanzas():
    if "deb" in f.get("Types", "").split() and "bookworm" in f.get("Suites", "").split() and "main" in f.get("Components", "").split():
        print(f["URIs"].split()[0])
        print(f.get("Signed-By", ""))
        sys.exit(0)
sys.exit("no Debian bookworm 'main' entry in the apt sources")
