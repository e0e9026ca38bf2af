#!/usr/bin/env python3
"""Re-extract (or check) tests/fixtures/fhir-examples-r4/ from the official R4 examples package.

    python3 tools/fhir-defs/spec_examples.py [hl7.fhir.r4.examples-4.0.1.tgz] [--check]

Without a tarball path, runs `npm pack hl7.fhir.r4.examples@4.0.1` in a temporary directory.
The tarball must have the sha256 below. Every file listed in sources.tsv is read from
`package/<name>` in the tarball. Its sha256 must match the one in sources.tsv. The file is then
written (or, with --check, compared). Python 3.11 stdlib only.
"""
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile

PACKAGE = "hl7.fhir.r4.examples@4.0.1"
TARBALL_SHA256 = "dce87f1b5b9341867033f7d1f544fa1b5232503f6d62813887ac6b8a8b6cb682"
HERE = os.path.dirname(os.path.abspath(__file__))
DEST = os.path.join(HERE, "..", "..", "tests", "fixtures", "fhir-examples-r4")


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def main(argv):
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    with tempfile.TemporaryDirectory() as tmp:
        if args:
            tgz = args[0]
        else:
            out = subprocess.run(["npm", "pack", PACKAGE], cwd=tmp, check=True,
                                 capture_output=True, text=True).stdout.strip().splitlines()[-1]
            tgz = os.path.join(tmp, out)
        data = open(tgz, "rb").read()
        if sha256(data) != TARBALL_SHA256:
            sys.exit(f"{tgz}: sha256 {sha256(data)} is not {TARBALL_SHA256}")
        rows = [line.rstrip("\n").split("\t") for line in open(os.path.join(DEST, "sources.tsv"))
                if line.strip() and not line.startswith("#")]
        bad = 0
        with tarfile.open(tgz, "r:gz") as tar:
            for name, source, path, digest in rows:
                assert source == "npm:" + PACKAGE, source
                content = tar.extractfile(path).read()
                if sha256(content) != digest:
                    print(f"{name}: package content sha256 differs from sources.tsv")
                    bad += 1
                    continue
                target = os.path.join(DEST, name)
                if check:
                    if not os.path.exists(target) or open(target, "rb").read() != content:
                        print(f"{name}: differs from the package")
                        bad += 1
                else:
                    with open(target, "wb") as o:
                        o.write(content)
        print(f"{len(rows)} files {'checked' if check else 'written'}, {bad} problems")
        return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
