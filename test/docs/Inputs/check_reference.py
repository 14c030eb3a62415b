"""Checks the generated reference pages (add_mlir_doc, build/docs) against
the ODS sources: every op and attribute of the dialect and every pass
declared in a Passes.td has its section, with its summary. Prints what it
checked and exits non-zero naming what is missing.

Usage: check_reference.py SOURCE_ROOT BUILD_DIR"""

import glob
import os
import re
import sys

source, build = sys.argv[1:3]
td_dir = os.path.join(source, "include", "sqa")
docs = os.path.join(build, "docs")
pages = {}
for path in glob.glob(os.path.join(docs, "**", "*.md"), recursive=True):
    pages[os.path.relpath(path, docs)] = open(path).read()
dialect = pages.get(os.path.join("Dialects", "SQADialect.md"), "")
passes = "".join(text for name, text in pages.items() if "Passes" in name)
missing = []
counts = {"ops": 0, "attributes": 0, "passes": 0}


def summary_of(td, start):
    match = re.search(r'let summary = "([^"]*)"', td[start:start + 3000])
    return match.group(1) if match else None


for td_path in glob.glob(os.path.join(td_dir, "**", "*.td"), recursive=True):
    td = open(td_path).read()
    for match in re.finditer(r'def \w+ : SQA_Op<"([\w.]+)"', td):
        counts["ops"] += 1
        if f"`sqa.{match.group(1)}`" not in dialect:
            missing.append(f"op sqa.{match.group(1)}")
    for match in re.finditer(r'AttrDef<SQA_Dialect, "\w+"[^{]*\{\s*let mnemonic = "(\w+)"', td):
        counts["attributes"] += 1
        if f"`{match.group(1)}`" not in dialect and f"#sqa.{match.group(1)}" not in dialect:
            missing.append(f"attribute #sqa.{match.group(1)}")
    for match in re.finditer(r'def \w+\s*:\s*Pass<"([\w-]+)"', td):
        counts["passes"] += 1
        summary = summary_of(td, match.end())
        if f"`-{match.group(1)}`" not in passes:
            missing.append(f"pass {match.group(1)}")
        elif summary and summary not in passes:
            missing.append(f"summary of pass {match.group(1)}")
print(", ".join(f"{n} {k}" for k, n in counts.items()) + " checked in "
      + ", ".join(sorted(pages)))
for item in missing:
    print(f"missing: {item}")
sys.exit(1 if missing or not all(counts.values()) else 0)
