"""Runs the README's examples as written: each fenced block after a line
`<!-- example: NAME -->` (NAME: shell, python or c, the last a shell
block too), from the source root, with /tmp/ replaced by a fresh
directory and build/ by the build directory under test. Prints each
example's name and output and exits non-zero when one fails.

Usage: run_examples.py README SOURCE_ROOT BUILD_DIR OUT_DIR PYTHON"""

import os
import re
import subprocess
import sys

readme, source, build, out, python = sys.argv[1:6]
text = open(readme).read()
examples = re.findall(r"<!-- example: (\w+) -->\n```(\w+)\n(.*?)\n```", text, re.S)
if not examples:
    sys.exit("run_examples.py: no examples found")
env = dict(os.environ, SQA_BUILD_DIR=build)
status = 0
for name, language, body in examples:
    os.makedirs(out, exist_ok=True)
    body = body.replace("/tmp/", out + "/").replace("build/bin/", build + "/bin/")
    if language == "python":
        cmd = [python, "-c", body]
    else:
        cmd = ["bash", "-euo", "pipefail", "-c", body]
    proc = subprocess.run(cmd, cwd=source, env=env, capture_output=True, text=True)
    print(f"example {name}: exit {proc.returncode}")
    print(proc.stdout + proc.stderr, end="")
    status |= proc.returncode != 0
sys.exit(status)
