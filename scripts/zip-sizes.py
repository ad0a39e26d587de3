"""Zips each function that `sam build` produced, as `sam deploy` would upload it, and
prints the sizes. Usage: python scripts/zip-sizes.py [.aws-sam/build]"""

import io
import os
import sys
import zipfile

build = sys.argv[1] if len(sys.argv) > 1 else ".aws-sam/build"
rows = []
for name in sorted(os.listdir(build)):
    path = os.path.join(build, name, "bootstrap")
    if not os.path.isfile(path):
        continue
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(path, "bootstrap")
    rows.append((name, os.path.getsize(path), buf.tell()))
if not rows:
    sys.exit(f"no function was built under {build}")
print(f"{'function':<24}{'bootstrap':>12}{'zip':>12}")
for name, raw, zipped in rows:
    print(f"{name:<24}{raw / 1e6:>10.2f}MB{zipped / 1e6:>10.2f}MB")
